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

import io
import json
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from augment_jobs.errors import InputError, NotFound
from augment_jobs.image.io import (
    ANNOTATIONS,
    IMAGE_EXTS,
    Decoded,
    RawSample,
    Rejected,
    TarShardWriter,
    decode,
    encode,
    iter_tar,
    iter_tar_samples,
    raw_from_record,
    read_annotations,
    sample_key,
)
from augment_jobs.modality import CheckResult, Handler, RunPlan, ShardResult
from augment_jobs.store import ObjectInfo, join, relpath, store_for

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.config import DatasetConfig
    from augment_jobs.registry import MethodSpec

CHUNK = 64  # source samples in memory at once per shard
THREADS = max(2, min(8, os.cpu_count() or 2))


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _annotations_object(objects: list[ObjectInfo]) -> int | None:
    """Index of the top-most annotations.jsonl (shortest URI), or None."""
    found = [i for i, o in enumerate(objects) if _name(o.uri) == ANNOTATIONS]
    return min(found, key=lambda i: len(objects[i].uri)) if found else None


class ImageHandler(Handler):
    """Images folder or WebDataset tars in, WebDataset tars (originals + copies) out."""

    file_kind = "tar"

    # --- snapshot ------------------------------------------------------------------------------
    def source_filter(self, cfg: DatasetConfig, obj: ObjectInfo) -> bool:
        name = _name(obj.uri)
        if name.startswith((".", "_")):
            return False
        if cfg.source.format == "webdataset":
            return name.endswith(".tar")
        return name == ANNOTATIONS or name.lower().endswith(IMAGE_EXTS)

    def shard_sources(self, cfg: DatasetConfig, objects: list[ObjectInfo]) -> list[list[int]]:
        """WebDataset: one task per tar. Images: annotated images in groups of source.files_per_shard,
        each group with the annotations file first. Annotations naming a missing file fail here,
        before any work."""
        if cfg.source.format == "webdataset":
            return [[i] for i in range(len(objects))]
        ann = _annotations_object(objects)
        if ann is None:
            where = objects[0].uri.rsplit("/", 1)[0] if objects else "the source folder"
            raise InputError(f"{where}: no {ANNOTATIONS}; an images source needs one line per image "
                             '({"file", "label", "boxes", "box_labels"})')
        base = objects[ann].uri.rsplit("/", 1)[0]
        index = {relpath(o.uri, base): i for i, o in enumerate(objects) if i != ann and o.uri.startswith(base + "/")}
        label = cfg.label or "label"
        annotated: list[int] = []
        seen: set[str] = set()
        for n, rec in read_annotations(objects[ann].uri):
            f = rec["file"]
            if f not in index:
                raise InputError(f"{objects[ann].uri}: line {n} names {f!r}, which is not in the source folder; "
                                 "add the file or remove the line")
            if f in seen:
                raise InputError(f"{objects[ann].uri}: line {n} annotates {f!r} a second time; keep one line per image")
            if label not in rec:
                raise InputError(f"{objects[ann].uri}: line {n} ({f}) has no {label!r} (the config's label)")
            seen.add(f)
            annotated.append(index[f])
        annotated.sort()
        step = cfg.source.files_per_shard
        return [[ann, *annotated[i:i + step]] for i in range(0, len(annotated), step)] or [[ann]]

    # --- augment -------------------------------------------------------------------------------
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
        images = {relpath(o.uri, base): o for o in objects[1:]}
        recs = {rec["file"]: rec for _, rec in read_annotations(ann.uri, set(images))}
        for rel, o in sorted(images.items(), key=lambda kv: kv[1].uri):
            if rel not in recs:
                raise InputError(f"{ann.uri}: {rel!r} was annotated at snapshot time but is not now; rerun the snapshot")
            yield raw_from_record(recs[rel], rel, o.uri, label, where=f"{ann.uri}: {rel}")

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
        with ThreadPoolExecutor(THREADS) as pool:
            chunk: list[RawSample] = []

            def run_chunk() -> None:
                t0 = time.perf_counter()
                decoded = list(pool.map(lambda r: _try_decode(r, store), chunk))
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
        _write_meta(meta_uri, meta)
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

        from augment_jobs.image.batch import ImageBatch

        t0 = time.perf_counter()
        # copies[i] = [(step, copy, pixels, boxes, box_labels, params, seed, method), ...]
        copies: list[list[tuple]] = [[] for _ in ok]
        for step, spec, params in steps:
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
                    )
                    out = spec(batch, params, ctxs[step])
                    px = out.images.permute(0, 2, 3, 1).contiguous().numpy()
                    for n, (i, j) in enumerate(part):
                        copies[i].append((step, j, px[n], out.boxes[n], out.box_labels[n], out.params[n],
                                          out.seeds[n], spec.name))
        timing["augment_s"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        quality = {step: getattr(params, "jpeg_quality", 95) for step, _, params in steps}

        def enc_original(d: Decoded) -> bytes:
            return d.raw.data if d.passthrough and d.raw.data is not None else encode(d.pixels, _out_ext(d), 95)

        orig_bytes = list(pool.map(enc_original, ok))
        flat = [(i, c) for i, cs in enumerate(copies) for c in cs]
        copy_bytes = list(pool.map(lambda ic: encode(ic[1][2], _out_ext(ok[ic[0]]), quality[ic[1][0]]), flat))
        timing["encode_s"] += time.perf_counter() - t0

        ci = 0
        for i, d in enumerate(ok):
            raw = d.raw
            key = sample_key(raw.source_key)
            ext = _out_ext(d)
            h, w = d.pixels.shape[:2]
            rec = {"label": raw.label, "boxes": [[float(v) for v in b] for b in raw.boxes], "box_labels": raw.box_labels,
                   "source_key": raw.source_key, "source_uri": raw.source_uri, "synthetic": False,
                   "method": None, "params": {}, "seed": None, "width": w, "height": h}
            path = writer.write(key, {ext: orig_bytes[i], "json": _json(rec)})
            meta.append(_meta_row(key, rec, d.pixels, path))
            c = counts[raw.label]
            c["before"] += 1
            c["after"] += 1
            for step, j, px, boxes, blabels, params, seed, method in copies[i]:
                ckey = f"{key}-a{step}-{j}"
                crec = {"label": raw.label, "boxes": [[round(float(v), 2) for v in b] for b in boxes],
                        "box_labels": list(blabels), "source_key": raw.source_key, "source_uri": raw.source_uri,
                        "synthetic": True, "method": method, "params": params, "seed": seed, "width": w, "height": h}
                path = writer.write(ckey, {ext: copy_bytes[ci], "json": _json(crec)})
                meta.append(_meta_row(ckey, crec, px, path))
                ci += 1
                c["after"] += 1
                c["synthetic"] += 1

    # --- gate ----------------------------------------------------------------------------------
    def gate_frame(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult]) -> pd.DataFrame:
        """Per-sample metadata of every staged sample (what the GX suite validates)."""
        import pandas as pd
        import pyarrow.parquet as pq

        frames = []
        for s in shards:
            uri = s.extra.get("meta")
            if not uri:
                continue
            store = store_for(uri)
            frames.append(pq.read_table(store.arrow_path(uri), filesystem=store.arrow_fs()[0]).to_pandas())
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=META_COLUMNS)

    def checks(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult], frame: pd.DataFrame
               ) -> list[CheckResult]:
        """Decodable output, boxes valid, no blank/saturated images, class counts, corrupt share."""
        return [
            _check_decodable(plan, shards),
            _check_boxes(frame),
            _check_exposure(frame),
            _check_counts(shards),
            _check_corrupt(cfg, shards),
        ]

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
        return [path] if grid_png(uris, path) else []

    def lineage(self, manifest: dict[str, Any], version_uri: str, key: str) -> dict[str, Any]:
        """A published `__key__` → source object and key, method, drawn params, seeds."""
        for f in manifest.get("files", []):
            uri = join(version_uri, f["path"])
            rec = _find_json(uri, key)
            if rec is not None:
                return {
                    "key": key, "file": f["path"], "synthetic": rec.get("synthetic"), "label": rec.get("label"),
                    "source_uri": rec.get("source_uri"), "source_key": rec.get("source_key"),
                    "method": rec.get("method"), "params": rec.get("params"), "sample_seed": rec.get("seed"),
                    "config_seed": manifest.get("seed"), "logical_date": manifest.get("logical_date"),
                    "mlflow": manifest.get("mlflow"),
                }
        raise NotFound(f"{version_uri}: no sample with __key__ {key!r}")


# --- helpers -----------------------------------------------------------------------------------
META_COLUMNS = ["key", "source_key", "source_uri", "label", "synthetic", "width", "height", "n_boxes", "boxes",
                "pixel_mean", "pixel_std", "pixel_min", "pixel_max", "method", "params", "seed", "file"]


def _method(name: str) -> MethodSpec:
    """The registered method (method packages import no heavy library at load)."""
    from augment_jobs.registry import get_method

    return get_method(name)


def _out_ext(d: Decoded) -> str:
    # copies keep the source's format family: JPEG sources stay JPEG, everything else is PNG (lossless)
    return "jpg" if d.raw.ext == "jpg" else "png"


def _json(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()


def _try_decode(raw: RawSample, store) -> Decoded | str:
    try:
        return decode(raw, store)
    except Rejected as e:
        return str(e)
    except FileNotFoundError:
        raise InputError(f"{raw.source_uri}: listed at snapshot time but gone; rerun the snapshot") from None


def _meta_row(key: str, rec: dict[str, Any], px: np.ndarray, path: str) -> dict[str, Any]:
    sub = px[::2, ::2].astype(np.float32)  # mean/std on a 1-in-4 pixel grid: same answer, 4x cheaper
    return {
        "key": key, "source_key": rec["source_key"], "source_uri": rec["source_uri"], "label": rec["label"],
        "synthetic": rec["synthetic"], "width": rec["width"], "height": rec["height"], "n_boxes": len(rec["boxes"]),
        "boxes": json.dumps(rec["boxes"]), "pixel_mean": float(sub.mean()), "pixel_std": float(sub.std()),
        "pixel_min": int(px.min()), "pixel_max": int(px.max()), "method": rec["method"],
        "params": json.dumps(rec["params"], sort_keys=True), "seed": rec["seed"], "file": path,
    }


def _write_meta(uri: str, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("key", pa.string()), ("source_key", pa.string()), ("source_uri", pa.string()), ("label", pa.string()),
        ("synthetic", pa.bool_()), ("width", pa.int32()), ("height", pa.int32()), ("n_boxes", pa.int32()),
        ("boxes", pa.string()), ("pixel_mean", pa.float64()), ("pixel_std", pa.float64()),
        ("pixel_min", pa.int32()), ("pixel_max", pa.int32()), ("method", pa.string()), ("params", pa.string()),
        ("seed", pa.int64()), ("file", pa.string()),
    ])
    table = pa.Table.from_pylist(rows, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    store_for(uri).write_bytes(uri, buf.getvalue())


def _find_json(uri: str, key: str) -> dict[str, Any] | None:
    for k, parts in iter_tar(uri):
        if k == key and "json" in parts:
            return json.loads(parts["json"])
    return None


DECODE_SAMPLE = 256  # output images fully re-decoded by the gate; structure is checked for all


def _check_decodable(plan: RunPlan, shards: list[ShardResult]) -> CheckResult:
    from PIL import Image

    bad: list[str] = []
    n = decoded = 0
    for s in shards:
        for f in s.files:
            for key, parts in iter_tar(join(plan.data_uri, f["path"])):
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
    return CheckResult("image.decodable", not bad,
                       f"{n} samples well-formed, {decoded} decoded" if not bad else f"{len(bad)} bad: {bad[:5]}",
                       observed=len(bad))


def _check_boxes(frame: pd.DataFrame) -> CheckResult:
    bad = []
    for key, boxes, w, h in zip(frame["key"], frame["boxes"], frame["width"], frame["height"], strict=True):
        for b in json.loads(boxes):
            x1, y1, x2, y2 = b
            if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
                bad.append(f"{key}: {b}")
    return CheckResult("image.boxes_valid", not bad,
                       "every box inside its image and non-degenerate" if not bad else f"{len(bad)} bad boxes: {bad[:5]}",
                       observed=len(bad))


BLACK_MAX = 8  # an image whose brightest pixel is this dark is blank
SATURATED_MIN = 247  # an image whose darkest pixel is this bright is blown out


def _check_exposure(frame: pd.DataFrame) -> CheckResult:
    black = frame.loc[frame["pixel_max"] <= BLACK_MAX, "key"].tolist()
    sat = frame.loc[frame["pixel_min"] >= SATURATED_MIN, "key"].tolist()
    ok = not black and not sat
    return CheckResult("image.exposure", ok, "no all-black or saturated images" if ok else
                       f"{len(black)} all-black {black[:5]}, {len(sat)} saturated {sat[:5]}",
                       observed={"black": len(black), "saturated": len(sat)})


def _check_counts(shards: list[ShardResult]) -> CheckResult:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"before": 0, "after": 0, "synthetic": 0})
    for s in shards:
        for cls, c in s.counts.items():
            for k in ("before", "after", "synthetic"):
                counts[cls][k] += c.get(k, 0)
    bad = [cls for cls, c in counts.items() if c["before"] == 0 or c["after"] != c["before"] + c["synthetic"]]
    ok = bool(counts) and not bad
    detail = ", ".join(f"{k}: {v['before']}→{v['after']}" for k, v in sorted(counts.items()))
    return CheckResult("image.class_counts", ok, detail if ok else f"inconsistent classes {bad or 'none'}; {detail}",
                       observed=dict(counts))


def _check_corrupt(cfg: DatasetConfig, shards: list[ShardResult]) -> CheckResult:
    inputs = sum(int(s.extra.get("inputs", 0)) for s in shards)
    rejected = sum(len(s.rejected) for s in shards)
    share = rejected / inputs if inputs else 0.0
    limit = cfg.source.max_corrupt_share
    return CheckResult("image.corrupt_share", share <= limit,
                       f"{rejected} of {inputs} inputs rejected ({share:.1%}; limit {limit:.1%})", observed=share)


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
