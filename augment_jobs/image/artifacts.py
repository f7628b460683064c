"""MLflow artifacts of an image run: a grid of augmented samples with their boxes drawn."""

from __future__ import annotations

import io
import json
import os

from augment_jobs.image.io import iter_tar


def grid_png(tar_uris: list[str], path: str, n: int = 16, tile: int = 160) -> bool:
    """Draw up to `n` augmented samples (boxes in red, labels) into one PNG; False if none."""
    from PIL import Image, ImageDraw

    tiles = []
    for uri in tar_uris:
        for _, parts in iter_tar(uri):
            rec = json.loads(parts.get("json", b"{}"))
            if not rec.get("synthetic"):
                continue
            img_bytes = parts.get("jpg") or parts.get("png")
            im = Image.open(io.BytesIO(img_bytes)).convert("RGB")
            s = tile / max(im.size)
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))))
            dr = ImageDraw.Draw(im)
            for b, lb in zip(rec["boxes"], rec["box_labels"], strict=False):
                dr.rectangle([v * s for v in b], outline=(255, 0, 0), width=2)
                dr.text((b[0] * s + 2, b[1] * s + 1), str(lb), fill=(255, 255, 0))
            tiles.append(im)
            if len(tiles) >= n:
                break
        if len(tiles) >= n:
            break
    if not tiles:
        return False
    cols = min(4, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    grid = Image.new("RGB", (cols * tile, rows * tile), (32, 32, 32))
    for k, t in enumerate(tiles):
        grid.paste(t, ((k % cols) * tile, (k // cols) * tile))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    grid.save(path)
    return True
