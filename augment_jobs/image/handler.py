"""The image handler: shards of source images → batched augmentation → WebDataset tars in staging.

Streaming: a shard is processed `CHUNK` source samples at a time (read + decode in a thread pool,
batched augmentation per image size, encode in a thread pool, append to the tar), so memory is
bounded by the chunk, not the dataset. Output order is the source order (each original followed by
its copies), so tars are byte-identical whatever the batch size or thread count.

Bad inputs: a corrupt, truncated or oversized image is rejected by key and the run goes on (the
gate fails when the rejected share is above `source.max_corrupt_share`); an annotation problem
(a box outside the image or degenerate, a missing file, a missing label) is an InputError naming
the file and box: it is a bug in the annotations, not noise, and silently dropping boxes would
train on wrong labels.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from augment_jobs.errors import InputError
from augment_jobs.image.io import (
    IMAGE_EXTS,
    Decoded,
    RawSample,
    Rejected,
    TarShardWriter,
    decode,
    encode,
    iter_tar_samples,
    raw_from_record,
    read_annotations,
    sample_key,
)
from augment_jobs.image.meta import meta_row, pixel_figures, read_meta, write_meta
from augment_jobs.modality import RunPlan, ShardResult
from augment_jobs.samples import SampleHandler
from augment_jobs.store import join, relpath, store_for

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.config import DatasetConfig
    from augment_jobs.registry import MethodSpec

CHUNK = 64  # source samples in memory at once per shard
THREADS = max(2, min(8, os.cpu_count() or 2))


@dataclass
class Copy:
    """One augmented copy of a source image, as a method returned it."""

    step: int  # index of the augment step that made it
    copy: int  # copy number of this source image within the step
    pixels: np.ndarray  # HxWxC uint8
    boxes: np.ndarray  # N x 4, pixels
    box_labels: list[str]
    params: dict[str, Any]  # the drawn op params (replayable)
    seed: int
    method: str
    mask: np.ndarray | None = None  # H x W class ids, moved with the pixels
    keypoints: np.ndarray | None = None  # k x 3 [x, y, visible]
    planes: np.ndarray | None = None  # the pixels as C x H x W (what the gate figures read)


class ImageHandler(SampleHandler):
    """Images folder or WebDataset tars in, WebDataset tars (originals + copies) out."""

    folder_format, exts, item = "images", IMAGE_EXTS, "image"
    line_hint = '{"file", "label", "boxes", "box_labels"}'

    def companion(self, annotations_uri: str, line: int, rec: dict[str, Any], index: dict[str, int]) -> int | None:
        """An image's mask PNG, read beside it."""
        mask = rec.get("mask")
        if not isinstance(mask, str):
            return None
        if mask not in index:
            raise InputError(f"{annotations_uri}: line {line} ({rec['file']}) names mask {mask!r}, which is not in the "
                             "source folder; add the PNG or remove the key")
        return index[mask]

    def _raw_samples(self, cfg: DatasetConfig, plan: RunPlan, shard: int):
        """Yield RawSample or (source_key, reason) for the shard, in source order."""
        objects = plan.shard_objects(shard)
        label = cfg.label or "label"
        if cfg.source.format == "webdataset":
            for o in objects:
                yield from iter_tar_samples(o.uri, label)
            return
        ann = objects[0]
        base = ann.uri.rsplit("/", 1)[0]
        files = {relpath(o.uri, base): o for o in objects[1:]}
        recs = {rec["file"]: rec for _, rec in read_annotations(ann.uri, set(files))}
        mask_files = {r["mask"] for r in recs.values() if isinstance(r.get("mask"), str)} - set(recs)
        for rel, o in sorted(files.items(), key=lambda kv: kv[1].uri):
            if rel in mask_files:
                continue
            if rel not in recs:
                raise InputError(f"{ann.uri}: {rel!r} was annotated at snapshot time but is not now; rerun the snapshot")
            raw = raw_from_record(recs[rel], rel, o.uri, label, where=f"{ann.uri}: {rel}")
            if raw.mask is not None:
                raw.mask_uri = files[raw.mask].uri
            yield raw

    def augment_shard(self, cfg: DatasetConfig, plan: RunPlan, shard: int) -> ShardResult:
        """Augment one shard; tars under plan.data_uri, per-sample metadata Parquet under staging."""
        import torch

        from augment_jobs.registry import AugmentContext

        steps = [(i, _method(s.method), s) for i, s in enumerate(cfg.augment)]
        steps = [(i, spec, spec.parse_params(s.params, where=f"augment[{i}].params")) for i, spec, s in steps]
        ctxs = {i: AugmentContext(cfg=cfg, ds=plan.ds, step=i) for i, _, _ in steps}
        writer = TarShardWriter(plan.data_uri, f"shard-{shard:05d}", cfg.publish.shard_max_samples)
        result = ShardResult(shard=shard)
        counts: dict[str, dict[str, int]] = defaultdict(lambda: {"before": 0, "after": 0, "synthetic": 0})
        meta: list[dict[str, Any]] = []
        timing = {"decode_s": 0.0, "augment_s": 0.0, "encode_s": 0.0}
        inputs = 0
        t_start = time.perf_counter()
        store = store_for(plan.source_uri)
        classes = cfg.source.mask_classes
        mask_classes = None if classes is None else {int(c) for c in classes}
        with ThreadPoolExecutor(THREADS) as pool:
            chunk: list[RawSample] = []

            def run_chunk() -> None:
                t0 = time.perf_counter()
                decoded = list(pool.map(lambda r: _try_decode(r, store, mask_classes), chunk))
                timing["decode_s"] += time.perf_counter() - t0
                ok = []
                for raw, d in zip(chunk, decoded, strict=True):
                    if isinstance(d, str):
                        result.rejected.append({"key": raw.source_key, "reason": d})
                    else:
                        ok.append(d)
                self._process(ok, steps, ctxs, writer, pool, counts, meta, timing)
                chunk.clear()

            for item in self._raw_samples(cfg, plan, shard):
                inputs += 1
                if isinstance(item, tuple):
                    result.rejected.append({"key": item[0], "reason": item[1]})
                    continue
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    run_chunk()
            if chunk:
                run_chunk()
        result.files = writer.close()
        meta_uri = join(plan.staging_uri, "meta", f"shard-{shard:05d}.parquet")
        write_meta(meta_uri, meta)
        total = time.perf_counter() - t_start
        result.counts = {k: dict(v) for k, v in sorted(counts.items())}
        result.metrics = {
            "samples_per_s": round(len(meta) / total, 2) if total > 0 else 0.0,
            **{k: round(v, 3) for k, v in timing.items()},
            "inputs": inputs, "rejected": len(result.rejected), "samples_out": len(meta),
        }
        result.extra = {"meta": meta_uri, "inputs": inputs, "device": "cuda" if torch.cuda.is_available() else "cpu"}
        if result.rejected:
            result.notes.append(f"shard {shard}: {len(result.rejected)} of {inputs} inputs rejected (corrupt or oversized)")
        return result

    def _process(self, ok: list[Decoded], steps, ctxs, writer: TarShardWriter, pool: ThreadPoolExecutor,
                 counts, meta: list[dict[str, Any]], timing: dict[str, float]) -> None:
        """Augment a decoded chunk (batched per image size), encode, write in source order."""
        import torch

        from augment_jobs.image.batch import ImageBatch, Partner

        t0 = time.perf_counter()
        copies: list[list[Copy]] = [[] for _ in ok]
        labels = {d.raw.source_key: d.raw.label for d in ok}
        for step, spec, params in steps:
            partners = None
            if getattr(params, "mixes", False):
                # a mixing partner comes from the same block of CHUNK source images (source order):
                # fixed by the source, whatever the batch size or thread count
                for d in ok:
                    if d.raw.extra.get("unlabelled"):
                        raise InputError(f"{d.raw.source_uri}: mixup and cutmix need a label on every image "
                                         f"(they publish soft labels); {d.raw.source_key} has none")
                partners = [Partner(d.raw.source_key, d.raw.label, d.pixels,
                                np.asarray(d.raw.boxes, dtype=np.float64).reshape(-1, 4), d.raw.box_labels, d.mask)
                        for d in ok]
            work = [(i, j) for i, d in enumerate(ok) for j in range(params.copies_for(d.raw.label))]
            by_size: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
            for i, j in work:
                by_size[ok[i].pixels.shape[:2]].append((i, j))
            bs = getattr(params, "batch_size", 64)
            for _, items in sorted(by_size.items()):
                for s in range(0, len(items), bs):
                    part = items[s:s + bs]
                    imgs = torch.from_numpy(np.stack([ok[i].pixels for i, _ in part])).permute(0, 3, 1, 2).contiguous()
                    batch = ImageBatch(
                        images=imgs, boxes=[np.asarray(ok[i].raw.boxes, dtype=np.float64).reshape(-1, 4) for i, _ in part],
                        box_labels=[ok[i].raw.box_labels for i, _ in part],
                        keys=[ok[i].raw.source_key for i, _ in part], copies=[j for _, j in part],
                        masks=[ok[i].mask for i, _ in part],
                        keypoints=[np.asarray(ok[i].raw.keypoints, dtype=np.float64).reshape(-1, 3) for i, _ in part],
                        pool=partners,
                    )
                    out = spec(batch, params, ctxs[step])
                    px = out.images.permute(0, 2, 3, 1).contiguous().numpy()
                    planes = out.images.contiguous().numpy()
                    for n, (i, j) in enumerate(part):
                        copies[i].append(Copy(step, j, px[n], out.boxes[n], list(out.box_labels[n]), out.params[n],
                                              out.seeds[n], spec.name, (out.masks or [None] * len(part))[n],
                                              (out.keypoints or [None] * len(part))[n], planes[n]))
        timing["augment_s"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        quality = {step: getattr(params, "jpeg_quality", 95) for step, _, params in steps}

        def enc_original(d: Decoded) -> tuple[bytes, bytes | None]:
            image = d.raw.data if d.passthrough and d.raw.data is not None else encode(d.pixels, _out_ext(d), 95)
            mask = encode(d.mask, "png", 0) if d.mask is not None and d.mask_png is None else d.mask_png
            return image, mask

        def enc_copy(i: int, c: Copy) -> tuple[bytes, bytes | None]:
            return (encode(c.pixels, _out_ext(ok[i]), quality[c.step]),
                    None if c.mask is None else encode(c.mask, "png", 0))

        # The encoders (libjpeg-turbo, zlib) run without the GIL on the pool while this thread
        # computes the gate figures: numpy's many short calls hold the GIL, and on the pool they
        # only queue behind each other (two threads were no faster than one).
        flat = [(i, c) for i, cs in enumerate(copies) for c in cs]
        orig_enc = [pool.submit(enc_original, d) for d in ok]
        copy_enc = [pool.submit(enc_copy, i, c) for i, c in flat]
        orig_figs = [pixel_figures(np.ascontiguousarray(d.pixels.transpose(2, 0, 1)), d.mask) for d in ok]
        copy_figs = [pixel_figures(c.planes, c.mask) for _, c in flat]
        orig_coded = [f.result() for f in orig_enc]  # (image bytes, mask bytes or None)
        copy_coded = [f.result() for f in copy_enc]
        timing["encode_s"] += time.perf_counter() - t0

        ci = 0
        for i, d in enumerate(ok):
            raw = d.raw
            key = sample_key(raw.source_key)
            ext = _out_ext(d)
            h, w = d.pixels.shape[:2]
            rec = {"label": raw.label, "boxes": [[float(v) for v in b] for b in raw.boxes], "box_labels": raw.box_labels,
                   "keypoints": [[float(v) for v in k] for k in raw.keypoints],
                   "source_key": raw.source_key, "source_uri": raw.source_uri, "synthetic": False,
                   "_source_ids": [raw.source_key], "method": None, "params": {}, "seed": None, "width": w, "height": h}
            path = writer.write(key, _members(ext, orig_coded[i][0], rec, orig_coded[i][1]))
            src_row = meta_row(key, rec, orig_figs[i], path)
            meta.append(src_row)
            n = counts[raw.label]
            n["before"] += 1
            n["after"] += 1
            for c in copies[i]:
                ckey = f"{key}-a{c.step}-{c.copy}"
                crec = {"label": raw.label, "boxes": [[round(float(v), 2) for v in b] for b in c.boxes],
                        "box_labels": c.box_labels,
                        "keypoints": [[round(float(v), 2) for v in k] for k in (c.keypoints if c.keypoints is not None else [])],
                        "source_key": raw.source_key, "source_uri": raw.source_uri,
                        "synthetic": True, "method": c.method, "params": c.params, "seed": c.seed, "width": w, "height": h,
                        **_mixed_lineage(raw.label, raw.source_key, c.params, labels)}
                path = writer.write(ckey, _members(ext, copy_coded[ci][0], crec, copy_coded[ci][1]))
                meta.append(meta_row(ckey, crec, copy_figs[ci], path, src_row))
                ci += 1
                n["after"] += 1
                n["synthetic"] += 1

    # --- gate ----------------------------------------------------------------------------------
    def gate_frame(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult]) -> pd.DataFrame:
        """Per-sample metadata of every staged sample (what the GX suite and the image checks read)."""
        return read_meta([s.extra["meta"] for s in shards if s.extra.get("meta")])

    # --- artifacts and lineage -----------------------------------------------------------------
    def artifacts(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult], out_dir: str) -> list[str]:
        """A grid PNG of augmented samples with their boxes drawn."""
        from augment_jobs.publish import version_uri

        # after publish the staged tars live in the version as shard-<n>.tar, numbered in this order
        store = store_for(plan.staging_uri)
        staged = [join(plan.data_uri, f["path"]) for s in shards for f in s.files]
        uris = [u if store.exists(u) else join(version_uri(plan.publish_uri, plan.version), f"shard-{n:06d}.tar")
                for n, u in enumerate(staged)]
        if not uris:
            return []
        path = os.path.join(out_dir, "augmented_grid.png")
        from augment_jobs.image.artifacts import grid_png

        return [path] if grid_png(uris, path) else []

# --- helpers -----------------------------------------------------------------------------------
def _method(name: str) -> MethodSpec:
    """The registered method (method packages import no heavy library at load)."""
    from augment_jobs.registry import get_method

    return get_method(name)


def _out_ext(d: Decoded) -> str:
    # copies keep the source's format family: JPEG sources stay JPEG, everything else is PNG (lossless)
    return "jpg" if d.raw.ext == "jpg" else "png"


def _mixed_lineage(label: str, source_key: str, params: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """`_source_ids` (the image and every partner it was mixed with) and, for a mixed copy,
    `soft_label` ({class: weight}, weights summing to 1)."""
    weights = {label: 1.0}
    sources = [source_key]
    for d in params.get("ops", []):
        if d.get("op") in ("mixup", "cutmix") and "partner" in d:
            lam = float(d["lam"])
            weights = {k: v * lam for k, v in weights.items()}
            other = labels[d["partner"]]
            weights[other] = weights.get(other, 0.0) + (1.0 - lam)
            sources.append(d["partner"])
    out: dict[str, Any] = {"_source_ids": sources}
    if len(sources) > 1:
        out["soft_label"] = {k: round(v, 4) for k, v in sorted(weights.items())}
    return out


def _members(ext: str, image: bytes, rec: dict[str, Any], mask: bytes | None) -> dict[str, bytes]:
    """A sample's tar members: the image, its json, and its mask as `mask.png` when it has one."""
    out = {ext: image, "json": _json(rec)}
    if mask is not None:
        out["mask.png"] = mask
    return out


def _json(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()


def _try_decode(raw: RawSample, store, mask_classes: set[int] | None) -> Decoded | str:
    try:
        return decode(raw, store, mask_classes)
    except Rejected as e:
        return str(e)
    except FileNotFoundError:
        raise InputError(f"{raw.source_uri}: listed at snapshot time but gone; rerun the snapshot") from None
