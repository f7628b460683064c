"""The streaming reader vs stock readers over the same published version, side by side in one run.

    .venv/bin/python benchmarks/bench_reader.py [--rows 1000000] [--images 1536] [--workers 2] [--repeat 3]

Publishes (in the platform's layout: files + manifest with sha256/bytes/rows) a Parquet version and
a WebDataset version, on a local folder and on S3 (moto's server over HTTP), then measures samples/s:

- Parquet: `ds.iter_batches(batch_size=65536)` (sha256 of every file checked while read) vs a
  pyarrow dataset scan `to_batches(batch_size=65536)` of the same files; also `ds.torch(batch_size=
  65536)` (dicts of tensors) for information.
- Images: `ds.torch(batch_size=64).loader(num_workers=W)` (decode to uint8 [3, H, W], stacked) vs
  stock `webdataset.WebDataset(urls).decode("torchrgb8").batched(64)` in a DataLoader with the same
  workers; on S3 the stock side streams presigned URLs through curl, as webdataset does for HTTP.

Wall time, best of `--repeat` alternating runs (IO and threads are part of what is measured), and
CPU seconds of the process and its workers (steadier than wall time on a shared machine). Prints
the ratios ours / stock; goals: >= 1.0x WebDataset, >= 0.9x the pyarrow scan.
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
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

BATCH = 65536


# --- publishing ----------------------------------------------------------------------------------
def publish(uri: str, fmt: str, files: list[tuple[str, bytes, int]]) -> None:
    """Write files and a committed manifest the way the platform lays a version out."""
    import hashlib

    from augment_jobs.publish import LATEST, manifest_uri, version_uri
    from augment_jobs.store import dumps, join, store_for

    store, version = store_for(uri), "2026-01-01.bench"
    for name, data, _ in files:
        store.write_bytes(join(version_uri(uri, version), name), data)
    listed = [{"path": n, "sha256": hashlib.sha256(d).hexdigest(), "bytes": len(d), "rows": r} for n, d, r in files]
    from augment_jobs.contract import GateSummary, Manifest

    m = Manifest(dataset="bench", modality="tabular" if fmt == "parquet" else "image", version=version,
                 logical_date="2026-01-01", created_at="2026-01-01T00:00:00+00:00", format=fmt, files=listed,
                 rows=sum(f["rows"] for f in listed), gate=GateSummary(passed=True))
    store.write_bytes(manifest_uri(uri, version), dumps(m.model_dump(mode="json")))
    store.write_bytes(join(uri, LATEST), dumps({"version": version, "logical_date": "2026-01-01"}))


def parquet_files(rows: int, parts: int) -> list[tuple[str, bytes, int]]:
    """A published-like table: 10 numeric features, a label, `_id`, `_synthetic`, `_source_ids`, `_method`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    out = []
    for p in range(parts):
        n = rows // parts
        ids = np.arange(p * n, (p + 1) * n)
        synth = rng.random(n) < 0.2
        cols = {f"f{i}": rng.normal(size=n) for i in range(10)}
        cols |= {"label": rng.integers(0, 2, n), "_id": pa.array([f"credit.csv#{i}" for i in ids]),
                 "_synthetic": synth, "_method": pa.array(np.where(synth, "smote", "real").tolist()),
                 "_source_ids": pa.array([[f"credit.csv#{i}"] for i in ids])}
        buf = io.BytesIO()
        pq.write_table(pa.table(cols), buf, row_group_size=65536)
        out.append((f"part-{p:05d}.parquet", buf.getvalue(), n))
    return out


def tar_files(images: int, shards: int) -> list[tuple[str, bytes, int]]:
    """224x224 JPEGs with json (label, one box), in WebDataset tars."""
    import tarfile

    from PIL import Image

    rng = np.random.default_rng(0)
    per = images // shards
    out = []
    for s in range(shards):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
            for i in range(per):
                yy, xx = np.mgrid[0:224, 0:224]
                arr = np.clip(rng.uniform(40, 200, 3) + 30 * np.sin(xx / rng.uniform(5, 20))[..., None]
                              + rng.normal(0, 10, (224, 224, 3)), 0, 255).astype(np.uint8)
                jb = io.BytesIO()
                Image.fromarray(arr).save(jb, format="JPEG", quality=92)
                meta = json.dumps({"label": "a", "boxes": [[10, 10, 50, 60]], "box_labels": ["a"], "synthetic": False})
                for ext, data in (("jpg", jb.getvalue()), ("json", meta.encode())):
                    ti = tarfile.TarInfo(f"s{s:03d}_{i:05d}.{ext}")
                    ti.size = len(data)
                    tf.addfile(ti, io.BytesIO(data))
        out.append((f"shard-{s:06d}.tar", buf.getvalue(), per))
    return out


# --- the contenders ------------------------------------------------------------------------------
def ours_parquet(uri: str) -> int:
    from augment_jobs.reader import open_dataset

    return sum(b.num_rows for b in open_dataset(uri).iter_batches(batch_size=BATCH))


def ours_parquet_torch(uri: str) -> int:
    from augment_jobs.reader import open_dataset

    return sum(len(b["_id"]) for b in open_dataset(uri).torch(batch_size=BATCH))


def scan_parquet(uri: str) -> int:
    import pyarrow.dataset as pads

    from augment_jobs.reader import open_dataset
    from augment_jobs.store import store_for

    store = store_for(uri)
    fs, _ = store.arrow_fs()
    paths = [store.arrow_path(u) for u in open_dataset(uri).files]
    return sum(b.num_rows for b in pads.dataset(paths, filesystem=fs, format="parquet").to_batches(batch_size=BATCH))


def ours_images(uri: str, workers: int) -> int:
    from augment_jobs.reader import open_dataset

    return sum(b["image"].shape[0] for b in open_dataset(uri).torch(batch_size=64).loader(num_workers=workers))


def stock_images(uri: str, workers: int) -> int:
    import torch
    import webdataset as wds

    from augment_jobs.reader import open_dataset

    urls = open_dataset(uri).files
    if uri.startswith("s3://"):
        from augment_jobs.store import store_for

        client = store_for(uri).client
        urls = [client.generate_presigned_url("get_object", Params=dict(zip(("Bucket", "Key"), u[5:].split("/", 1), strict=True)))
                for u in urls]
    pipeline = wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode("torchrgb8").batched(64)
    loader = torch.utils.data.DataLoader(pipeline, batch_size=None, num_workers=workers)
    return sum(len(b[0]) if isinstance(b, list | tuple) else b["jpg"].shape[0] for b in loader)


def cpu_seconds() -> float:
    """CPU seconds of this process and its reaped children (DataLoader workers, curl)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def best_of(fns: dict[str, Callable[[], int]], repeat: int) -> dict[str, tuple[float, float, int]]:
    """(best wall seconds, best CPU seconds, samples) of each contender, after one warm-up run each
    (imports, page cache); runs alternate so drift on a shared machine hits both sides alike."""
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    counts: dict[str, int] = {}
    for fn in fns.values():
        fn()
    for _ in range(repeat):
        for name, fn in fns.items():
            c0, t0 = cpu_seconds(), time.perf_counter()
            counts[name] = fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(cpu_seconds() - c0)
    return {k: (min(wall[k]), min(cpu[k]), counts[k]) for k in fns}


def report(where: str, what: str, res: dict[str, tuple[float, float, int]], ours: str, base: str,
           goal: float) -> dict[str, Any]:
    (t_o, c_o, n_o), (t_b, c_b, n_b) = res[ours], res[base]
    assert n_o == n_b, f"{ours} read {n_o} samples, {base} {n_b}"
    ratio, cpu_ratio = (n_o / t_o) / (n_b / t_b), (n_o / c_o) / (n_b / c_b)
    for name, (t, c, n) in res.items():
        print(f"  {where:5s} {what:8s} {name:36s} {n / t:12,.0f} samples/s  {n / c:12,.0f} per CPU-s  ({n:,} in {t:.3f} s)")
    print(f"  {where:5s} {what:8s} ratio {ours} / {base}: {ratio:.2f}x wall (goal >= {goal}x: "
          f"{'met' if ratio >= goal else 'MISSED'}), {cpu_ratio:.2f}x per CPU-second")
    return {"where": where, "what": what, "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3),
            **{k: round(n / t, 1) for k, (t, _, n) in res.items()}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--images", type=int, default=1536)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-s3", action="store_true")
    args = ap.parse_args()

    from augment_jobs.store import reset_stores

    pq_files, tars = parquet_files(args.rows, args.parts), tar_files(args.images, args.shards)
    print(f"parquet: {args.rows:,} rows in {args.parts} files, {sum(len(d) for _, d, _ in pq_files) / 2**20:.0f} MiB; "
          f"images: {args.images} JPEGs 224x224 in {args.shards} tars, {sum(len(d) for _, d, _ in tars) / 2**20:.0f} MiB; "
          f"DataLoader workers {args.workers}; best of {args.repeat}")
    roots = {"local": tempfile.mkdtemp(prefix="bench-reader-")}
    server = None
    if not args.no_s3:
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        os.environ.update({"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench",
                           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
        boto3.client("s3").create_bucket(Bucket="bench")
        reset_stores()
        roots["s3"] = "s3://bench/lake"
    rows = []
    try:
        for where, root in roots.items():
            pq_uri, img_uri = f"{root}/published/table", f"{root}/published/images"
            publish(pq_uri, "parquet", pq_files)
            publish(img_uri, "webdataset", tars)
            res = best_of({"ours iter_batches": lambda u=pq_uri: ours_parquet(u),
                             "pyarrow dataset scan": lambda u=pq_uri: scan_parquet(u),
                             "ours torch (dict of tensors)": lambda u=pq_uri: ours_parquet_torch(u)}, args.repeat)
            rows.append(report(where, "parquet", res, "ours iter_batches", "pyarrow dataset scan", 0.9))
            res = best_of({"ours torch + loader": lambda u=img_uri: ours_images(u, args.workers),
                             "webdataset.WebDataset + DataLoader": lambda u=img_uri: stock_images(u, args.workers)},
                            args.repeat)
            rows.append(report(where, "images", res, "ours torch + loader", "webdataset.WebDataset + DataLoader", 1.0))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(roots["local"], ignore_errors=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
