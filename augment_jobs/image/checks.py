"""Images: decodable output, boxes valid, exposure, class counts, corrupt input share."""

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
