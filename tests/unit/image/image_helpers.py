"""Helpers for the image tests: a tiny images-folder source, a config and a RunPlan on tmp dirs."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

POLICY = [
    {"op": "hflip", "p": 0.5},
    {"op": "vflip", "p": 0.2},
    {"op": "affine", "p": 0.9, "rotate": [-15, 15], "scale": [0.9, 1.1], "translate": [0.05, 0.05]},
    {"op": "resized_crop", "p": 0.3, "scale": [0.6, 1.0]},
    {"op": "color_jitter", "p": 0.8, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.02},
    {"op": "gaussian_noise", "p": 0.3, "sigma": [0.0, 0.03]},
    {"op": "gaussian_blur", "p": 0.3, "sigma": [0.1, 1.5]},
    {"op": "cutout", "p": 0.3, "holes": 2, "size": [0.1, 0.2]},
]


def jpeg(w: int = 64, h: int = 48, seed: int = 0, fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = rng.integers(30, 220, size=(h, w, 3), dtype=np.uint8)
    arr[h // 4: h // 2, w // 4: w // 2] = (250, 20, 20)
    im = Image.fromarray(arr)
    if mode != "RGB":
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def write_source(src: Path, items: list[dict[str, Any]], data: dict[str, bytes]) -> str:
    src.mkdir(parents=True, exist_ok=True)
    for name, b in data.items():
        (src / name).write_bytes(b)
    (src / "annotations.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    return str(src)


def small_source(src: Path, n: int = 10, sizes: tuple[tuple[int, int], ...] = ((64, 48), (48, 64))) -> str:
    items, data = [], {}
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        name = f"img_{i:03d}.jpg"
        data[name] = jpeg(w, h, seed=i)
        items.append({"file": name, "label": "rare" if i % 5 == 0 else "common",
                      "boxes": [[w / 4, h / 4, w / 2, h / 2]], "box_labels": ["red"]})
    return write_source(src, items, data)


def image_cfg(src: str, root: Path, *, params: dict[str, Any] | None = None, fmt: str = "images",
              max_samples: int = 1000, **source: Any):
    from augment_jobs.config import DatasetConfig

    p = {"copies_per_image": {"per_class": {"rare": 3, "common": 1}}, "ops": POLICY}
    p.update(params or {})
    return DatasetConfig(
        dataset="shapes_test", modality="image", seed=3, label="label",
        source={"uri": src, "format": fmt, **source},
        augment=[{"method": "image_policy", "params": p}],
        publish={"uri": str(root / "pub"), "format": "webdataset", "shard_max_samples": max_samples},
    )


def make_plan(cfg, root: Path, version: str = "v1"):
    from augment_jobs.image.handler import ImageHandler
    from augment_jobs.modality import RunPlan
    from augment_jobs.store import store_for

    h = ImageHandler()
    src = cfg.source.uri
    objs = [o for o in store_for(src).list(src) if h.source_filter(cfg, o)]
    return RunPlan(
        dataset=cfg.dataset, ds="2026-01-05", version=version, fingerprint="f" * 64, modality="image",
        config_path="", config_sha256="", platform_version="test", seed=cfg.seed, source_uri=src,
        source=[{"uri": o.uri, "etag": o.etag, "size": o.size} for o in objs], shards=h.shard_sources(cfg, objs),
        publish_uri=str(root / "pub"), staging_uri=str(root / "pub" / "_staging" / version),
    )


def run_all(cfg, plan):
    from augment_jobs.image.handler import ImageHandler

    h = ImageHandler()
    return [h.augment_shard(cfg, plan, i) for i in range(len(plan.shards))]
