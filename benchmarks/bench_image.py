"""Image engine vs albumentations 2.x + webdataset, side by side in one run (CPU).

    .venv/bin/python benchmarks/bench_image.py [--images 256] [--copies 4] [--threads 2]

Same 224x224 JPEGs, same policy (hflip, affine, colour jitter), 4 copies each, same output
(originals + copies as JPEG q95 with json into tars):

1. end to end: our ImageHandler.augment_shard (read → decode → augment → encode → tar) vs a
   plain script: PIL decode → albumentations Compose (with boxes) → PIL encode → webdataset TarWriter;
2. pure augmentation on decoded images: our engine in batches of 64 vs albumentations per image vs
   kornia's AugmentationSequential in batches of 64 (the alternative we did not take).

Prints samples/s for each and the ratio ours / albumentations.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

POLICY = [
    {"op": "hflip", "p": 0.5},
    {"op": "affine", "p": 1.0, "rotate": [-15, 15], "scale": [0.9, 1.1], "translate": [0.05, 0.05]},
    {"op": "color_jitter", "p": 1.0, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.02},
]


def make_jpegs(n: int, size: int = 224) -> list[tuple[bytes, list[list[float]]]]:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        yy, xx = np.mgrid[0:size, 0:size]
        base = rng.uniform(40, 200, 3) + 30 * np.sin(xx / rng.uniform(5, 20))[..., None]
        arr = np.clip(base + rng.normal(0, 10, (size, size, 3)), 0, 255).astype(np.uint8)
        im = Image.fromarray(arr)
        x1, y1 = rng.integers(10, 120, 2)
        box = [float(x1), float(y1), float(x1 + rng.integers(30, 90)), float(y1 + rng.integers(30, 90))]
        ImageDraw.Draw(im).rectangle(box, fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=92)
        out.append((buf.getvalue(), [box]))
    return out


def ours_end_to_end(jpegs, copies: int, work: str) -> tuple[float, int]:
    from augment_jobs.config import DatasetConfig
    from augment_jobs.image.handler import ImageHandler
    from augment_jobs.modality import RunPlan
    from augment_jobs.store import store_for

    src = os.path.join(work, "ours-src")
    os.makedirs(src)
    lines = []
    for i, (data, boxes) in enumerate(jpegs):
        with open(os.path.join(src, f"img_{i:05d}.jpg"), "wb") as f:
            f.write(data)
        lines.append(json.dumps({"file": f"img_{i:05d}.jpg", "label": "a", "boxes": boxes, "box_labels": ["a"]}))
    with open(os.path.join(src, "annotations.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    cfg = DatasetConfig(
        dataset="bench", modality="image", seed=1, source={"uri": src, "format": "images"}, label="label",
        augment=[{"method": "image_policy", "params": {"copies_per_image": copies, "ops": POLICY}}],
        publish={"uri": os.path.join(work, "pub"), "format": "webdataset", "shard_max_samples": 100_000},
    )
    h = ImageHandler()
    objs = [o for o in store_for(src).list(src) if h.source_filter(cfg, o)]
    plan = RunPlan(dataset="bench", ds="2026-01-01", version="v", fingerprint="f", modality="image", config_path="",
                   config_sha256="", platform_version="", seed=1, source_uri=src,
                   source=[{"uri": o.uri, "etag": o.etag, "size": o.size} for o in objs],
                   shards=[list(range(len(objs)))], publish_uri=os.path.join(work, "pub"),
                   staging_uri=os.path.join(work, "pub", "_staging", "v"))
    t = time.perf_counter()
    res = h.augment_shard(cfg, plan, 0)
    dt = time.perf_counter() - t
    print(f"    ours phases: decode {res.metrics['decode_s']:.2f}s augment {res.metrics['augment_s']:.2f}s "
          f"encode {res.metrics['encode_s']:.2f}s")
    return dt, sum(f["rows"] for f in res.files)


def albu_compose():
    import albumentations as A

    return A.Compose(
        [A.HorizontalFlip(p=0.5),
         A.Affine(rotate=(-15, 15), scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), p=1.0),
         A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02, p=1.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=0.3),
        seed=1,
    )


def albu_end_to_end(jpegs, copies: int, work: str) -> tuple[float, int]:
    import webdataset as wds
    from PIL import Image

    src = os.path.join(work, "albu-src")
    os.makedirs(src)
    for i, (data, _) in enumerate(jpegs):
        with open(os.path.join(src, f"img_{i:05d}.jpg"), "wb") as f:
            f.write(data)
    aug = albu_compose()
    t = time.perf_counter()
    n = 0
    with wds.TarWriter(os.path.join(work, "albu.tar"), mtime=0) as sink:
        for i, (_, boxes) in enumerate(jpegs):
            with open(os.path.join(src, f"img_{i:05d}.jpg"), "rb") as f:
                data = f.read()
            arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            sink.write({"__key__": f"img{i:05d}", "jpg": data, "json": {"boxes": boxes, "synthetic": False}})
            n += 1
            for j in range(copies):
                out = aug(image=arr, bboxes=boxes, labels=["a"])
                buf = io.BytesIO()
                Image.fromarray(out["image"]).save(buf, format="JPEG", quality=95)
                sink.write({"__key__": f"img{i:05d}-{j}", "jpg": buf.getvalue(),
                            "json": {"boxes": [list(map(float, b)) for b in out["bboxes"]], "synthetic": True}})
                n += 1
    return time.perf_counter() - t, n


def pure_augment(jpegs, batches: int, batch: int = 64) -> dict[str, float]:
    """Images/s of augmentation alone on decoded 224x224 uint8 images."""
    import torch
    from PIL import Image

    from augment_jobs.image import ImagePolicyParams
    from augment_jobs.image.engine import apply, draw

    arrs = [np.asarray(Image.open(io.BytesIO(d)).convert("RGB")) for d, _ in jpegs[:batch]]
    boxes = [np.asarray(b, dtype=np.float64) for _, b in jpegs[:batch]]
    imgs = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()
    params = ImagePolicyParams(ops=POLICY)
    out: dict[str, float] = {}

    def ours() -> None:
        rngs = [np.random.default_rng(i) for i in range(batch)]
        drawn = [draw(params.ops, r, 224, 224) for r in rngs]
        apply(imgs, boxes, [["a"]] * batch, drawn, 0.3)

    ours()
    t = time.perf_counter()
    for _ in range(batches):
        ours()
    out["ours (batched torch)"] = batches * batch / (time.perf_counter() - t)

    aug = albu_compose()
    t = time.perf_counter()
    for _ in range(batches):
        for a, b in zip(arrs, boxes, strict=True):
            aug(image=a, bboxes=b.tolist(), labels=["a"])
    out["albumentations (per image, uint8)"] = batches * batch / (time.perf_counter() - t)

    try:
        import kornia.augmentation as K

        seq = K.AugmentationSequential(
            K.RandomHorizontalFlip(p=0.5),
            K.RandomAffine(degrees=15, translate=(0.05, 0.05), scale=(0.9, 1.1), p=1.0),
            K.ColorJitter(0.2, 0.2, 0.2, 0.02, p=1.0),
            data_keys=["input", "bbox_xyxy"],
        )
        bb = torch.as_tensor(np.stack(boxes), dtype=torch.float32)

        def kor() -> None:
            seq(imgs.float() / 255, bb)

        kor()
        t = time.perf_counter()
        for _ in range(batches):
            kor()
        out["kornia AugmentationSequential (batched)"] = batches * batch / (time.perf_counter() - t)
    except Exception as e:  # the comparison is informative, not required
        print(f"    kornia skipped: {e}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--batches", type=int, default=4, help="batches of 64 for the pure-augmentation figure")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    jpegs = make_jpegs(args.images)
    work = tempfile.mkdtemp(prefix="bench-image-")
    try:
        print(f"{args.images} JPEGs 224x224, {args.copies} copies each (+ originals), torch threads {args.threads}, "
              f"cpu_count {os.cpu_count()}")
        a_dt, a_n = albu_end_to_end(jpegs, args.copies, work)
        o_dt, o_n = ours_end_to_end(jpegs, args.copies, work)
        o_rate, a_rate = o_n / o_dt, a_n / a_dt
        print("end to end (decode → augment → encode → tar), output samples/s:")
        print(f"  ours                         {o_rate:8.1f}  ({o_n} samples in {o_dt:.2f}s)")
        print(f"  albumentations + webdataset  {a_rate:8.1f}  ({a_n} samples in {a_dt:.2f}s)")
        print(f"  ratio ours / albumentations  {o_rate / a_rate:8.2f}x")
        print("pure augmentation (decoded uint8 in memory), images/s:")
        for name, rate in pure_augment(jpegs, args.batches).items():
            print(f"  {name:42s} {rate:8.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
