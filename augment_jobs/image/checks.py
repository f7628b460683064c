"""Images: decodable output, boxes and keypoints valid, exposure, class counts, corrupt input share,
artifacts (clipping, blur or pixelation, near-constant images, masks that lost a class)."""

from __future__ import annotations

import io
import json

from augment_jobs.checks import CheckResult, GateInput
from augment_jobs.store import join

DECODE_SAMPLE = 256  # output images fully re-decoded by the gate; structure is checked for all


def decodable(g: GateInput) -> list[CheckResult]:
    """Every staged sample has an image and a json; the first DECODE_SAMPLE images decode."""
    from PIL import Image

    from augment_jobs.image.io import iter_tar

    bad: list[str] = []
    n = decoded = 0
    for s in g.shards:
        for f in s.files:
            for key, parts in iter_tar(join(g.plan.data_uri, f["path"])):
                n += 1
                img = next((parts[e] for e in ("jpg", "png") if e in parts), None)
                if img is None or "json" not in parts:
                    bad.append(f"{key}: missing image or json")
                    continue
                if decoded < DECODE_SAMPLE:
                    decoded += 1
                    try:
                        Image.open(io.BytesIO(img)).load()
                    except (OSError, SyntaxError, ValueError) as e:
                        bad.append(f"{key}: {e}")
    return [CheckResult("image.decodable", not bad,
                        f"{n} samples well-formed, {decoded} decoded" if not bad else f"{len(bad)} bad: {bad[:5]}",
                        observed=len(bad))]


def boxes_valid(g: GateInput) -> list[CheckResult]:
    """Every box inside its image and non-degenerate."""
    frame = g.frame
    bad = []
    for key, boxes, w, h in zip(frame["key"], frame["boxes"], frame["width"], frame["height"], strict=True):
        for b in json.loads(boxes):
            x1, y1, x2, y2 = b
            if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
                bad.append(f"{key}: {b}")
    return [CheckResult("image.boxes_valid", not bad,
                        "every box inside its image and non-degenerate" if not bad else f"{len(bad)} bad boxes: {bad[:5]}",
                        observed=len(bad))]


BLACK_MAX = 8  # an image whose brightest pixel is this dark is blank
SATURATED_MIN = 247  # an image whose darkest pixel is this bright is blown out


def exposure(g: GateInput) -> list[CheckResult]:
    """No all-black or blown-out image."""
    frame = g.frame
    black = frame.loc[frame["pixel_max"] <= BLACK_MAX, "key"].tolist()
    sat = frame.loc[frame["pixel_min"] >= SATURATED_MIN, "key"].tolist()
    ok = not black and not sat
    return [CheckResult("image.exposure", ok, "no all-black or saturated images" if ok else
                        f"{len(black)} all-black {black[:5]}, {len(sat)} saturated {sat[:5]}",
                        observed={"black": len(black), "saturated": len(sat)})]


def class_counts(g: GateInput) -> list[CheckResult]:
    """Every class has originals, and after = before + synthetic."""
    counts = g.counts
    bad = [cls for cls, c in counts.items() if c["before"] == 0 or c["after"] != c["before"] + c["synthetic"]]
    ok = bool(counts) and not bad
    detail = ", ".join(f"{k}: {v['before']}→{v['after']}" for k, v in sorted(counts.items()))
    return [CheckResult("image.class_counts", ok, detail if ok else f"inconsistent classes {bad or 'none'}; {detail}",
                        observed=counts)]


def corrupt_share(g: GateInput) -> list[CheckResult]:
    """`source.max_corrupt_share`: undecodable or oversized inputs rejected."""
    cfg = g.cfg
    inputs = sum(int(s.extra.get("inputs", 0)) for s in g.shards)
    rejected = sum(len(s.rejected) for s in g.shards)
    share = rejected / inputs if inputs else 0.0
    limit = cfg.source.max_corrupt_share
    return [CheckResult("image.corrupt_share", share <= limit,
                        f"{rejected} of {inputs} inputs rejected ({share:.1%}; limit {limit:.1%})",
                        observed=share)]


def keypoints_valid(g: GateInput) -> list[CheckResult]:
    """Every keypoint inside its image, or [0, 0, 0] (the rule for one that left it)."""
    frame = g.frame
    bad = []
    for key, kps, w, h in zip(frame["key"], frame["keypoints"], frame["width"], frame["height"], strict=True):
        for x, y, v in json.loads(kps):
            if (x, y, v) != (0, 0, 0) and not (0 <= x <= w and 0 <= y <= h and v in (1, 2)):
                bad.append(f"{key}: {[x, y, v]}")
    return [CheckResult("image.keypoints_valid", not bad,
                        "every keypoint inside its image or [0, 0, 0]" if not bad else f"{len(bad)} bad: {bad[:5]}",
                        observed=len(bad))]


def _worst(keys, values, limit: float, key: str, what: str, above: bool, max_share: float) -> CheckResult:
    """Copies beyond `limit`; the check fails when their share of all copies is above `max_share`."""
    keys = list(keys)
    bad = [(k, v) for k, v in zip(keys, values, strict=True) if (v > limit if above else v < limit)]
    name = f"image.{what}"
    share = len(bad) / len(keys) if keys else 0.0
    where = f"quality.artifacts.{key} = {limit:g}"
    if not bad:
        return CheckResult(name, True, f"every copy within {where}", observed=0)
    bad.sort(key=lambda kv: -kv[1] if above else kv[1])
    ex = ", ".join(f"{k} {v:.3g}" for k, v in bad[:3])
    ok = share <= max_share
    return CheckResult(name, ok, f"{len(bad)} of {len(keys)} copies {'above' if above else 'below'} {where} "
                       f"({share:.1%}; limit quality.artifacts.max_artifact_share = {max_share:.1%}; worst: {ex})"
                       + ("" if ok else "; loosen the op or the limit"), observed=len(bad))


def artifacts(g: GateInput) -> list[CheckResult]:
    """Each copy against its own source: clipping gained, sharpness (variance of the Laplacian)
    kept; no near-constant sample; masks that lost a class of their source, as a share."""
    lim = g.cfg.quality.artifacts
    f = g.frame
    copies = f[f["synthetic"]] if len(f) else f
    out = [
        _worst(copies["key"], copies["clip_share"] - copies["src_clip_share"], lim.max_clipping_increase,
               "max_clipping_increase", "clipping", True, lim.max_artifact_share),
        _worst(copies["key"], [c / s if s > 0 else 1.0 for c, s in zip(copies["sharpness"], copies["src_sharpness"],
                                                                         strict=True)],
               lim.min_sharpness_ratio, "min_sharpness_ratio", "sharpness", False, lim.max_artifact_share),
    ]
    # a source that is itself near-constant is the source's business (image.exposure), not an artifact
    flat = f[(f["pixel_std"] < lim.min_pixel_std)]
    flat_copies = flat[flat["synthetic"]]
    share = len(flat_copies) / len(copies) if len(copies) else 0.0
    out.append(CheckResult("image.near_constant", share <= lim.max_artifact_share,
                           "no near-constant copy" if flat_copies.empty else
                           f"{len(flat_copies)} of {len(copies)} copies with pixel std below "
                           f"quality.artifacts.min_pixel_std = {lim.min_pixel_std:g} ({share:.1%}; limit "
                           f"quality.artifacts.max_artifact_share = {lim.max_artifact_share:.1%}): "
                           f"{flat_copies['key'].tolist()[:5]}",
                           observed={"copies": len(flat_copies), "sources": int((~flat["synthetic"]).sum())}))
    masked = copies[copies["mask_classes"].notna()] if len(copies) else copies
    lost = [k for k, have, had in zip(masked["key"], masked["mask_classes"], masked["src_mask_classes"], strict=True)
            if (set(json.loads(had or "[]")) - {0}) - set(json.loads(have))]
    share = len(lost) / len(masked) if len(masked) else 0.0
    ok = share <= lim.max_mask_class_loss_share
    detail = (f"{len(lost)} of {len(masked)} masked copies lost a class ({share:.1%}; limit "
              f"quality.artifacts.max_mask_class_loss_share = {lim.max_mask_class_loss_share:.1%})"
              + ("" if ok else f": {lost[:5]}")) if len(masked) else "no copy has a mask: nothing to compare"
    out.append(CheckResult("image.mask_classes", ok, detail, observed=share))
    return out
