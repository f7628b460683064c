"""The audio handler: shards of source clips → batched augmentation → WebDataset tars (FLAC + json).

It shares source planning with the image handler (`augment_jobs.samples.SampleHandler`:
annotations.jsonl checked at snapshot, files in groups of `source.files_per_shard`, one task per
WebDataset tar), the tar writer and the lineage lookup;
what differs is decoding, the batches (clips sorted by length, so padding stays small) and the
per-sample features the gate reads.

Streaming: a shard is processed `CHUNK` source clips at a time. Output order is the source order
(each original followed by its copies), so tars are byte-identical whatever the batch size.
Bad inputs: an unreadable, truncated, empty or non-audio file is rejected by key (quarantined in
the manifest's `rejected`, counted) and the run goes on; the gate fails above
`source.max_corrupt_share`. An annotation problem (a missing file, no label, bad segments) is an
InputError naming the file.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from augment_jobs.audio import AUDIO_EXTS
from augment_jobs.audio.io import Clip, RawClip, decode, encode, encode_pcm, iter_tar_clips, segments_of
from augment_jobs.audio.meta import meta_row, read_meta, write_meta
from augment_jobs.errors import InputError
from augment_jobs.modality import RunPlan, ShardResult
from augment_jobs.samples import (
    Rejected,
    SampleHandler,
    TarShardWriter,
    output_tars,
    read_annotations,
    sample_key,
)
from augment_jobs.store import join, relpath, store_for

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.config import DatasetConfig

CHUNK = 64  # source clips in memory at once per shard
MIN_FRAMES = 32  # a clip shorter than this is published as real, not augmented (counted as skipped)


class AudioHandler(SampleHandler):
    """Audio folder (+ annotations.jsonl) or WebDataset tars in; WebDataset tars (flac + json) out."""

    folder_format, exts, item = "audio", AUDIO_EXTS, "clip"
    line_hint = '{"file": "a.wav", "label": "yes"}'

    # --- augment -------------------------------------------------------------------------------
    def _clips(self, cfg: DatasetConfig, plan: RunPlan, shard: int):
        """Yield RawClip or (source_key, reason) for the shard, in source order."""
        objects = plan.shard_objects(shard)
        label = cfg.label or "label"
        if cfg.source.format == "webdataset":
            for o in objects:
                yield from iter_tar_clips(o.uri, label)
            return
        ann = objects[0]
        base = ann.uri.rsplit("/", 1)[0]
        files = {relpath(o.uri, base): o for o in objects[1:]}
        recs = {rec["file"]: (n, rec) for n, rec in read_annotations(ann.uri, set(files))}
        for rel, o in sorted(files.items(), key=lambda kv: kv[1].uri):
            if rel not in recs:
                raise InputError(f"{ann.uri}: {rel!r} was annotated at snapshot time but is not now; rerun the snapshot")
            n, rec = recs[rel]
            yield RawClip(rel, o.uri, str(rec[label]), None, segments_of(rec, f"{ann.uri}: line {n} ({rel})"))

    def augment_shard(self, cfg: DatasetConfig, plan: RunPlan, shard: int) -> ShardResult:
        """Augment one shard; tars under plan.data_uri, per-sample metadata Parquet under staging."""
        from augment_jobs.audio.engine import device
        from augment_jobs.registry import AugmentContext, get_method

        steps = [(i, get_method(s.method), s) for i, s in enumerate(cfg.augment)]
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
        chunk: list[Clip] = []
        for item in self._clips(cfg, plan, shard):
            inputs += 1
            if isinstance(item, tuple):
                result.rejected.append({"key": item[0], "reason": item[1]})
                continue
            t0 = time.perf_counter()
            try:
                data = item.data if item.data is not None else store.read_bytes(item.source_uri)
            except FileNotFoundError:
                raise InputError(f"{item.source_uri}: listed at snapshot time but gone; rerun the snapshot") from None
            try:
                chunk.append(decode(item, data))
            except Rejected as e:
                result.rejected.append({"key": item.source_key, "reason": str(e)})
            timing["decode_s"] += time.perf_counter() - t0
            if len(chunk) >= CHUNK:
                self._process(chunk, steps, ctxs, writer, counts, meta, timing)
                chunk = []
        if chunk:
            self._process(chunk, steps, ctxs, writer, counts, meta, timing)
        result.files = writer.close()
        meta_uri = join(plan.staging_uri, "meta", f"shard-{shard:05d}.parquet")
        write_meta(meta_uri, meta)
        total = time.perf_counter() - t_start
        result.counts = {k: dict(v) for k, v in sorted(counts.items())}
        for ctx in ctxs.values():
            for reason, n in ctx.skipped.items():
                result.skipped[reason] = result.skipped.get(reason, 0) + n
        result.metrics = {
            "samples_per_s": round(len(meta) / total, 2) if total > 0 else 0.0,
            **{k: round(v, 3) for k, v in timing.items()},
            "inputs": inputs, "rejected": len(result.rejected), "samples_out": len(meta),
        }
        result.extra = {"meta": meta_uri, "inputs": inputs, "device": device()}
        if result.rejected:
            result.notes.append(f"shard {shard}: {len(result.rejected)} of {inputs} inputs rejected (unreadable, "
                                "truncated, empty or not audio)")
        return result

    def _process(self, clips: list[Clip], steps, ctxs, writer: TarShardWriter, counts,
                 meta: list[dict[str, Any]], timing: dict[str, float]) -> None:
        """Augment a decoded chunk (batches of clips sorted by length), encode, write in source order."""
        from augment_jobs.audio.batch import AudioBatch
        from augment_jobs.audio.engine import move_segments

        t0 = time.perf_counter()
        copies: list[list[dict[str, Any]]] = [[] for _ in clips]
        for step, spec, params in steps:
            work = []
            for i, c in enumerate(clips):
                n = params.copies_for(c.raw.label)
                if n and c.wave.shape[1] < MIN_FRAMES:
                    ctxs[step].skip(f"clip shorter than {MIN_FRAMES} frames ({spec.name})", 1)
                    continue
                work += [(i, j) for j in range(n)]
            # by length then source order: little padding, and the same batches whatever the chunking
            work.sort(key=lambda ij: (clips[ij[0]].wave.shape[1], ij))
            bs = getattr(params, "batch_size", 32)
            for s in range(0, len(work), bs):
                part = work[s:s + bs]
                batch = AudioBatch(waves=[clips[i].wave for i, _ in part],
                                   sample_rates=[clips[i].sample_rate for i, _ in part],
                                   keys=[clips[i].raw.source_key for i, _ in part], copies=[j for _, j in part],
                                   labels=[clips[i].raw.label for i, _ in part])
                out = spec(batch, params, ctxs[step])
                for n, (i, j) in enumerate(part):
                    c = clips[i]
                    segs = move_segments(c.raw.segments, out.params[n]["ops"], c.wave.shape[1] / c.sample_rate)
                    copies[i].append({"step": step, "copy": j, "wave": out.waves[n], "params": out.params[n],
                                      "seed": out.seeds[n], "method": spec.name, "clipped": out.clipped[n],
                                      "nonfinite": out.nonfinite[n], "segments": segs})
        timing["augment_s"] += time.perf_counter() - t0

        for i, c in enumerate(clips):
            raw = c.raw
            key = sample_key(raw.source_key)
            t0 = time.perf_counter()
            data = encode_pcm(c.pcm, c.sample_rate, c.bits)
            timing["encode_s"] += time.perf_counter() - t0
            rec = _record(c, raw.segments, synthetic=False)
            path = writer.write(key, {"flac": data, "json": _json(rec)})
            meta.append(meta_row(key, rec, c.wave, path))
            n = counts[raw.label]
            n["before"] += 1
            n["after"] += 1
            for cp in sorted(copies[i], key=lambda d: (d["step"], d["copy"])):
                ckey = f"{key}-a{cp['step']}-{cp['copy']}"
                t0 = time.perf_counter()
                data = encode(cp["wave"], c.sample_rate, c.bits)
                timing["encode_s"] += time.perf_counter() - t0
                crec = _record(c, cp["segments"], synthetic=True, method=cp["method"], params=cp["params"],
                               seed=cp["seed"], frames=int(cp["wave"].shape[1]))
                path = writer.write(ckey, {"flac": data, "json": _json(crec)})
                meta.append(meta_row(ckey, crec, cp["wave"], path, cp["clipped"], cp["nonfinite"]))
                n["after"] += 1
                n["synthetic"] += 1

    # --- gate, artifacts -----------------------------------------------------------------------
    def gate_frame(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult]) -> pd.DataFrame:
        """Per-sample metadata and features of every staged sample (the GX suite and audio checks)."""
        return read_meta([s.extra["meta"] for s in shards if s.extra.get("meta")])

    def artifacts(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult], out_dir: str) -> list[str]:
        """A spectrogram grid PNG: originals beside their augmented copies."""
        from augment_jobs.audio.artifacts import spectrogram_grid

        uris = output_tars(plan, shards)
        path = os.path.join(out_dir, "spectrogram_grid.png")
        return [path] if uris and spectrogram_grid(uris, path) else []


def _record(c: Clip, segments: list[list[float]], *, synthetic: bool, method: str | None = None,
            params: dict[str, Any] | None = None, seed: int | None = None, frames: int | None = None) -> dict[str, Any]:
    """The sample's json: what it is, where it came from, how it was made."""
    frames = c.wave.shape[1] if frames is None else frames
    return {"label": c.raw.label, "source_key": c.raw.source_key, "source_uri": c.raw.source_uri,
            "synthetic": synthetic, "method": method, "params": params or {}, "seed": seed,
            "sample_rate": c.sample_rate, "channels": int(c.wave.shape[0]), "frames": int(frames),
            "duration_s": round(frames / c.sample_rate, 6), "segments": segments}


def _json(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
