"""The batch an audio method receives: clips of any length, channel count and sample rate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class AudioBatch:
    """B clips and what travels with each.

    `waves[i]` is a float32 array [channels, frames] in [-1, 1] at `sample_rates[i]` Hz. `keys` and
    `copies` identify each clip's random stream; a method fills `params` (the drawn parameters, a
    plain JSON-able dict), `seeds`, and `clipped` / `nonfinite` (samples beyond full scale and
    NaN/inf samples of each output before it was clamped for encoding).
    """

    waves: list[np.ndarray]
    sample_rates: list[int]
    keys: list[str]
    copies: list[int]
    labels: list[str] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    clipped: list[int] = field(default_factory=list)
    nonfinite: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)
