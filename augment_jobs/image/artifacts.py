"""MLflow artifacts of an image run: a grid of originals beside their augmented copies, boxes drawn."""

from __future__ import annotations

import io
import json
import os
from typing import Any

from augment_jobs.image.io import iter_tar


def _caption(rec: dict[str, Any]) -> list[str]:
    """Two short lines under a grid tile: what the tile is, and the ops drawn for it."""
    if not rec.get("synthetic"):
        return [f"original {rec.get('source_key', '')}"[:26], f"label {rec.get('label')}"[:26]]
    params = rec.get("params") or {}
    ops = []
    for op in params.get("ops", []):
        name = op.get("op", "?")
        if name == "affine" and "angle" in op:
            name += f" {op['angle']:+.0f}deg"
        ops.append(name)
    first = f"{rec.get('method')} #{params.get('copy', '')}"
    return [first[:26], " ".join(ops)[:26], " ".join(ops)[26:52]]


def _tile(parts: dict[str, bytes], rec: dict[str, Any], tile: int, caption_h: int) -> Any:
    from PIL import Image, ImageDraw

    im = Image.open(io.BytesIO(parts.get("jpg") or parts.get("png"))).convert("RGB")
    s = tile / max(im.size)
    im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))))
    dr = ImageDraw.Draw(im)
    for b, lb in zip(rec.get("boxes", []), rec.get("box_labels", []), strict=False):
        dr.rectangle([v * s for v in b], outline=(255, 0, 0), width=2)
        dr.text((b[0] * s + 2, b[1] * s + 1), str(lb), fill=(255, 255, 0))
    out = Image.new("RGB", (tile, tile + caption_h), (32, 32, 32))
    out.paste(im, (0, 0))
    dr = ImageDraw.Draw(out)
    for k, line in enumerate(_caption(rec)):
        dr.text((3, tile + 2 + 11 * k), line, fill=(230, 230, 230))
    return out


def grid_png(tar_uris: list[str], path: str, rows: int = 6, copies: int = 3, tile: int = 160) -> bool:
    """Each original beside up to `copies` of its augmented copies (boxes in red), captioned with the
    method and the ops drawn; up to `rows` originals, those with most copies first. False if none."""
    from PIL import Image

    groups: dict[str, list[tuple[dict[str, Any], dict[str, bytes]]]] = {}
    for uri in tar_uris:
        for _, parts in iter_tar(uri):
            rec = json.loads(parts.get("json", b"{}"))
            key = str(rec.get("source_key"))
            if key in groups or len(groups) < 40 * rows:  # bound memory: enough groups to choose from
                groups.setdefault(key, []).append((rec, parts))
    complete = [g for g in groups.values()
                if any(r.get("synthetic") for r, _ in g) and any(not r.get("synthetic") for r, _ in g)]
    complete.sort(key=lambda g: -len(g))
    # one row per label first (the rare, most-copied classes are what an operator wants to see), then the rest
    chosen: list[list[tuple[dict[str, Any], dict[str, bytes]]]] = []
    for g in complete:
        if str(g[0][0].get("label")) not in {str(c[0][0].get("label")) for c in chosen}:
            chosen.append(g)
    chosen += [g for g in complete if g not in chosen]
    chosen = chosen[:rows]
    if not chosen:
        return False
    caption_h = 36
    cols = min(copies + 1, max(len(g) for g in chosen))
    grid = Image.new("RGB", (cols * tile, len(chosen) * (tile + caption_h)), (32, 32, 32))
    for row, group in enumerate(chosen):
        ordered = sorted(group, key=lambda rp: bool(rp[0].get("synthetic")))[: copies + 1]  # original first
        for col, (rec, parts) in enumerate(ordered):
            grid.paste(_tile(parts, rec, tile, caption_h), (col * tile, row * (tile + caption_h)))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    grid.save(path)
    return True


def report_parts(g: Any) -> dict[str, Any]:
    """The report's sample grid: the first originals of the staged output, each with its copies."""
    from augment_jobs.evaluation.report import ImageSample
    from augment_jobs.store import join

    samples: list[ImageSample] = []
    originals = 0
    for s in g.shards:
        for f in s.files:
            for _, parts in iter_tar(join(g.plan.data_uri, f["path"])):
                rec = json.loads(parts.get("json", b"{}"))
                if not rec.get("synthetic"):
                    if originals == 6:
                        return {"images": samples}
                    originals += 1
                caption = (f"{rec.get('method')} copy of {rec.get('source_key')}" if rec.get("synthetic")
                           else f"original {rec.get('source_key')} ({rec.get('label')})")
                samples.append(ImageSample(parts.get("jpg") or parts.get("png"), rec.get("boxes", []),
                                           rec.get("box_labels", []), caption, bool(rec.get("synthetic"))))
    return {"images": samples}
