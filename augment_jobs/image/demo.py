"""Demo raw data for `configs/shapes.yaml`: coloured shapes on textured backgrounds, with boxes.

About 120 JPEGs of 96-160 px, 3 classes (circle, square, and a rare triangle) plus
annotations.jsonl, written through the store so a local folder and S3 both work. Same date, same
bytes.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from augment_jobs.rng import rng_for
from augment_jobs.store import join, store_for

CLASSES = {"circle": 52, "square": 52, "triangle": 16}  # triangle is the rare class
SIZES = (96, 128, 160)  # few distinct sizes, so batches by size stay large


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(60, 190, size=3)
    period = rng.uniform(6, 20)
    angle = rng.uniform(0, np.pi)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / period * 2 * np.pi)[..., None] * 18
    noise = rng.normal(0, 8, size=(h, w, 3))
    return np.clip(base + stripes + noise, 0, 255).astype(np.uint8)


def _shape(draw, kind: str, box: list[int], color: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = box
    if kind == "circle":
        draw.ellipse([x1, y1, x2 - 1, y2 - 1], fill=color)
    elif kind == "square":
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=color)
    else:
        draw.polygon([((x1 + x2) / 2, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)], fill=color)


def make_image(rng: np.random.Generator, label: str) -> tuple[bytes, list[list[int]], list[str]]:
    """One JPEG with a `label` shape and maybe a second shape of another class."""
    from PIL import Image, ImageDraw

    w, h = int(rng.choice(SIZES)), int(rng.choice(SIZES))
    im = Image.fromarray(_background(rng, w, h))
    draw = ImageDraw.Draw(im)
    kinds = [label] + ([str(rng.choice([c for c in CLASSES if c != label]))] if rng.random() < 0.3 else [])
    boxes, labels = [], []
    for kind in kinds:
        side = int(rng.integers(min(w, h) // 4, min(w, h) // 2))
        x1, y1 = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
        box = [x1, y1, x1 + side, y1 + side]
        _shape(draw, kind, box, tuple(int(v) for v in rng.integers(0, 256, size=3)))
        boxes.append(box)
        labels.append(kind)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92)
    return buf.getvalue(), boxes, labels


def write_raw(source_uri: str, ds: str) -> None:
    """Write the shapes dataset (images + annotations.jsonl) under `source_uri`."""
    store = store_for(source_uri)
    rng = rng_for(0, ds, "shapes-demo")
    lines = []
    n = 0
    for label, count in CLASSES.items():
        for _ in range(count):
            data, boxes, labels = make_image(rng, label)
            name = f"img_{n:04d}.jpg"
            store.write_bytes(join(source_uri, name), data)
            lines.append(json.dumps({"file": name, "label": label, "boxes": boxes, "box_labels": labels}))
            n += 1
    store.write_bytes(join(source_uri, "annotations.jsonl"), ("\n".join(lines) + "\n").encode())


def example(method: Any) -> tuple[Any, Any]:
    """Eight small shape images with boxes, as one batch, and a config running `method` (contract tests)."""
    import numpy as np
    import torch

    from augment_jobs.config import DatasetConfig
    from augment_jobs.image.batch import ImageBatch

    rng = np.random.default_rng(0)
    images = rng.integers(30, 220, size=(8, 3, 48, 64), dtype=np.uint8)
    images[:, :, 12:24, 16:32] = 250
    cfg = DatasetConfig(
        dataset="example", modality="image", source={"uri": "example/", "format": "images"}, label="label",
        augment=[{"method": method.name, "params": method.example}],
        publish={"uri": "example-out", "format": "webdataset"},
    )
    batch = ImageBatch(
        images=torch.from_numpy(images), boxes=[np.array([[16.0, 12.0, 32.0, 24.0]]) for _ in range(8)],
        box_labels=[["square"] for _ in range(8)], keys=[f"img_{i}" for i in range(8)], copies=[0] * 8,
    )
    return cfg, batch


def probe(out: Any, cfg: Any) -> list[Any]:
    """One ProbeItem per augmented image: its source key is its lineage, its box labels its labels."""
    from augment_jobs.modality import ProbeItem

    assert len(out.params) == len(out.seeds) == len(out.keys), "a method must record params and a seed per image"
    return [
        ProbeItem(f"{k}-a{c}", True, (k,), ",".join(sorted(set(labels))), cfg.augment[0].method)
        for k, c, labels in zip(out.keys, out.copies, out.box_labels, strict=True)
    ]
