"""Images with boxes and masks, side by side in one run (CPU), on scikit-image's real photos:

1. offline end to end (read → decode → augment → encode → tar, masks as PNG members): our
   ImageHandler vs PIL + albumentations Compose (image, mask, bboxes) + webdataset TarWriter;
2. online loader throughput: `open_dataset(...).torch(augment=...)` through a DataLoader vs a
   DataLoader over `webdataset.WebDataset` applying the same albumentations Compose per sample.

    python benchmarks/bench_image_targets.py [--images 128] [--copies 2] [--workers 2]
    python benchmarks/bench_image_targets.py --images 8 --copies 1   # smoke test

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
SIZE = 224


def photos(n: int) -> list[tuple[bytes, bytes, list[list[float]]]]:
    """(jpeg, mask png, boxes) of real photos at 224², masks by thresholding the luma."""
    import skimage.data as d
    from PIL import Image

    base = [d.astronaut(), d.coffee(), d.chelsea(), d.rocket(), d.coins(), d.camera(), d.immunohistochemistry()]
    out = []
    for i in range(n):
        im = Image.fromarray(base[i % len(base)]).convert("RGB").resize((SIZE, SIZE))
        arr = np.asarray(im)
        # tile offsets make every image distinct
        arr = np.roll(arr, (i * 7) % SIZE, axis=1)
        mask = (arr.mean(2) > 110).astype(np.uint8)
        ys, xs = np.nonzero(mask)
        box = [[float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]]
        jb, mb = io.BytesIO(), io.BytesIO()
        Image.fromarray(arr).save(jb, format="JPEG", quality=92)
        Image.fromarray(mask).save(mb, format="PNG")
        out.append((jb.getvalue(), mb.getvalue(), box))
    return out


def ours_end_to_end(items, copies: int, work: str) -> tuple[float, int, str]:
    from augment_jobs.config import DatasetConfig
    from augment_jobs.image.handler import ImageHandler
    from augment_jobs.modality import RunPlan
    from augment_jobs.store import store_for

    src = os.path.join(work, "ours-src")
    os.makedirs(src, exist_ok=True)
    lines = []
    for i, (jpg, mask, boxes) in enumerate(items):
        with open(os.path.join(src, f"img_{i:05d}.jpg"), "wb") as f:
            f.write(jpg)
        with open(os.path.join(src, f"img_{i:05d}_mask.png"), "wb") as f:
            f.write(mask)
        lines.append(json.dumps({"file": f"img_{i:05d}.jpg", "label": "a", "boxes": boxes, "box_labels": ["a"],
                                 "mask": f"img_{i:05d}_mask.png"}))
    with open(os.path.join(src, "annotations.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    cfg = DatasetConfig(
        dataset="bench", modality="image", seed=1, source={"uri": src, "format": "images"}, label="label",
        augment=[{"method": "image_policy", "params": {"copies_per_image": copies, "ops": POLICY}}],
        publish={"uri": os.path.join(work, "pub"), "format": "webdataset", "shard_max_samples": 32},  # several tars: both loaders split them over workers
    )
    h = ImageHandler()
    objs = [o for o in store_for(src).list(src) if h.source_filter(cfg, o)]
    shards = h.shard_sources(cfg, objs)
    plan = RunPlan(dataset="bench", ds="2026-01-01", version="v", fingerprint="f", modality="image", config_path="",
                   config_sha256="", platform_version="", seed=1, source_uri=src,
                   source=[{"uri": o.uri, "etag": o.etag, "size": o.size} for o in objs],
                   shards=shards, publish_uri=os.path.join(work, "pub"),
                   staging_uri=os.path.join(work, "pub", "_staging", "v"))
    t = time.perf_counter()
    res = [h.augment_shard(cfg, plan, s) for s in range(len(shards))]
    dt = time.perf_counter() - t
    return dt, sum(f["rows"] for r in res for f in r.files), plan.data_uri


def albu_compose():
    import albumentations as A

    return A.Compose(
        [A.HorizontalFlip(p=0.5),
         A.Affine(rotate=(-15, 15), scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), p=1.0),
         A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02, p=1.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=0.3),
        seed=1,
    )


def albu_end_to_end(items, copies: int, work: str) -> tuple[float, int]:
    import webdataset as wds
    from PIL import Image

    src = os.path.join(work, "albu-src")
    os.makedirs(src, exist_ok=True)
    for i, (jpg, mask, _) in enumerate(items):
        with open(os.path.join(src, f"img_{i:05d}.jpg"), "wb") as f:
            f.write(jpg)
        with open(os.path.join(src, f"img_{i:05d}_mask.png"), "wb") as f:
            f.write(mask)
    aug = albu_compose()
    t = time.perf_counter()
    n = 0
    with wds.TarWriter(os.path.join(work, "albu.tar"), mtime=0) as sink:
        for i, (_, _, boxes) in enumerate(items):
            with open(os.path.join(src, f"img_{i:05d}.jpg"), "rb") as f:
                data = f.read()
            with open(os.path.join(src, f"img_{i:05d}_mask.png"), "rb") as f:
                mdata = f.read()
            arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            mask = np.asarray(Image.open(io.BytesIO(mdata)))
            sink.write({"__key__": f"img{i:05d}", "jpg": data, "mask.png": mdata,
                        "json": {"boxes": boxes, "synthetic": False}})
            n += 1
            for j in range(copies):
                out = aug(image=arr, mask=mask, bboxes=boxes, labels=["a"])
                buf, mbuf = io.BytesIO(), io.BytesIO()
                Image.fromarray(out["image"]).save(buf, format="JPEG", quality=95)
                Image.fromarray(out["mask"]).save(mbuf, format="PNG", compress_level=3)
                sink.write({"__key__": f"img{i:05d}-{j}", "jpg": buf.getvalue(), "mask.png": mbuf.getvalue(),
                            "json": {"boxes": [list(map(float, b)) for b in out["bboxes"]], "synthetic": True}})
                n += 1
    return time.perf_counter() - t, n


def publish(data_uri: str, root: str) -> str:
    """The staged tars as a committed version (what `augment run` publishes), for the reader."""
    from augment_jobs.publish import LATEST, manifest_uri, version_uri
    from augment_jobs.store import dumps, join, store_for

    uri = os.path.join(root, "published")
    store = store_for(uri)
    version = "2026-01-01.bench000"
    files = []
    for name in sorted(os.listdir(data_uri)):
        if not name.endswith(".tar"):
            continue
        dst = join(version_uri(uri, version), f"shard-{len(files):06d}.tar")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.join(data_uri, name), dst)
        digest, size = store.digest(dst)
        import tarfile

        with tarfile.open(dst) as tf:
            rows = len({m.name.split(".")[0] for m in tf.getmembers()})
        files.append({"path": os.path.basename(dst), "sha256": digest, "bytes": size, "rows": rows})
    m = {"schema_version": 1, "dataset": "bench", "version": version, "logical_date": "2026-01-01",
         "created_at": "2026-01-01T00:00:00+00:00", "config_sha256": "0" * 64, "seed": 0, "platform_version": "bench",
         "format": "webdataset", "modality": "image", "source": [], "files": files,
         "rows": sum(f["rows"] for f in files), "counts": {},
         "gate": {"passed": True, "checks": [], "summary": "", "report_uri": ""}, "mlflow": {}}
    store.write_bytes(manifest_uri(uri, version), dumps(m))
    store.write_bytes(join(uri, LATEST), dumps({"version": version, "logical_date": "2026-01-01"}))
    return uri


def online(uri: str, workers: int, batch: int) -> tuple[float, float, int]:
    """(ours samples/s, albumentations samples/s, samples) for one epoch through a DataLoader."""
    import torch
    import webdataset as wds

    from augment_jobs.reader import open_dataset

    ds = open_dataset(uri)
    train = ds.torch(batch_size=batch, seed=0, augment={"ops": POLICY},
                     columns=["image", "boxes", "box_labels", "mask"])
    t = time.perf_counter()
    n = sum(len(b["__key__"]) for b in train.loader(num_workers=workers))
    ours = n / (time.perf_counter() - t)

    aug = albu_compose()

    def apply_albu(sample):
        key, img, mask, meta = sample
        out = aug(image=img, mask=mask, bboxes=meta.get("boxes") or [], labels=["a"] * len(meta.get("boxes") or []))
        return key, torch.from_numpy(out["image"]).permute(2, 0, 1), torch.from_numpy(out["mask"]), out["bboxes"]

    urls = [os.path.join(uri, "versions", ds.version, f.path) for f in ds.manifest.files]
    pipe = (wds.WebDataset(urls, shardshuffle=False, workersplitter=wds.split_by_worker, empty_check=False)
            .decode("rgb8").to_tuple("__key__", "jpg", "mask.png", "json").map(apply_albu).batched(batch))
    t = time.perf_counter()
    m = sum(len(b[0]) for b in torch.utils.data.DataLoader(pipe, batch_size=None, num_workers=workers))
    albu = m / (time.perf_counter() - t)
    assert m == n, (m, n)
    return ours, albu, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the online comparison")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    items = photos(args.images)
    work = tempfile.mkdtemp(prefix="bench-image-targets-")
    try:
        print(f"{args.images} photos 224x224 with boxes and masks, {args.copies} copies each (+ originals), "
              f"cpu_count {os.cpu_count()}")
        # warm-up of both (imports, thread pools) outside the timed runs
        albu_end_to_end(items[:2], 1, os.path.join(work, "warm-a"))
        ours_end_to_end(items[:2], 1, os.path.join(work, "warm-o"))
        a_dt, a_n = albu_end_to_end(items, args.copies, work)
        o_dt, o_n, data_uri = ours_end_to_end(items, args.copies, work)
        print("offline end to end (decode → augment image, mask, boxes → encode → tar), samples/s:")
        print(f"  ours                         {o_n / o_dt:8.1f}  ({o_n} samples in {o_dt:.2f}s)")
        print(f"  albumentations + webdataset  {a_n / a_dt:8.1f}  ({a_n} samples in {a_dt:.2f}s)")
        print(f"  ratio ours / albumentations  {(o_n / o_dt) / (a_n / a_dt):8.2f}x")
        ours, albu, n = online(publish(data_uri, work), args.workers, args.batch)
        print(f"online loader, one epoch of {n} samples (image, mask, boxes), {args.workers} workers, "
              f"batch {args.batch}, samples/s:")
        print(f"  ours .torch(augment=...)      {ours:8.1f}")
        print(f"  WebDataset + albumentations  {albu:8.1f}")
        print(f"  ratio ours / albumentations  {ours / albu:8.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
