"""Published audio samples for the reader: `open_dataset(uri).torch()` yields dicts with `__key__`,
`audio` (float32 tensor [channels, frames] in [-1, 1]), `sample_rate`, `label` and `json` (the
sample's record). Batches keep clips as a list (lengths differ); the reader's rank split, resume
and sha256 checks are the same as for every other format (augment_jobs.torch_stream)."""

from __future__ import annotations

import json
from typing import Any

from augment_jobs.modality import SampleCodec

COLUMNS = ("__key__", "audio", "sample_rate", "label", "json")


def decode_sample(key: str, parts: dict[str, bytes], columns: tuple[str, ...] = COLUMNS) -> dict[str, Any]:
    """WebDataset members → the `columns` of one sample (the FLAC is decoded only when `audio` is asked for)."""
    import torch

    from augment_jobs.audio.io import read_flac

    out: dict[str, Any] = {"__key__": key}
    meta = json.loads(parts["json"]) if "json" in parts else {}
    if "audio" in columns:
        if "flac" not in parts:
            raise ValueError(f"sample {key!r} has no flac member")
        wave, sr = read_flac(parts["flac"])
        out["audio"] = torch.from_numpy(wave)
        meta.setdefault("sample_rate", sr)
    fields = {"sample_rate": lambda: meta.get("sample_rate"), "label": lambda: meta.get("label"), "json": lambda: meta}
    out.update({c: fields[c]() for c in columns if c in fields})
    return out


CODEC = SampleCodec(COLUMNS, decode_sample)
