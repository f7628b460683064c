"""How SDV's CTGAN and TVAE train on a class: batch size and epochs from the class size, and early
stopping on a validation slice of the class (docs/config.md, "SDV synthesizers").

SDV's defaults (batch 500, 300 epochs) give a class of 300 rows one optimizer step per epoch: too
few steps to learn, and as slow as a large class. Here a small class gets small batches (about
`STEPS_PER_EPOCH` steps per pass) and epochs enough for `TARGET_STEPS` steps, within
`MIN_EPOCHS`..`MAX_EPOCHS`.

SDV 2.0 (ctgan 0.12.1) has no early stopping and no per-epoch callback, and its `fit` starts afresh
each call, so a model cannot be fitted in chunks. Its epoch loop iterates over
`tqdm(range(epochs))`: `watching` swaps that module-level `tqdm` for a loop that, every few epochs,
draws rows from the model being trained and measures their distance to the validation rows (mean
KS / total variation over columns, in SDV's processed space). The best weights are kept, and the
loop ends after `PATIENCE` checks without improvement, or when the deadline passes. This reads
private parts (`_model`, `_data_processor`): pinned to sdv==2.0.0 and ctgan==0.12.1.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TARGET_STEPS = 1500
STEPS_PER_EPOCH = 5
MIN_EPOCHS, MAX_EPOCHS = 30, 300
MIN_BATCH = 50
#: early stopping: a validation slice of this share of the class (at most VALIDATION_MAX rows), for
#: classes of VALIDATION_MIN_ROWS or more; checks every 1/CHECKS of the epochs
VALIDATION_SHARE = 0.2
VALIDATION_MIN_ROWS = 50
VALIDATION_MAX = 1000
CHECKS = 15
PATIENCE = 3
#: a check must beat the best distance by this much to count as an improvement
MIN_DELTA = 0.002
#: rows drawn from the model at each check
CHECK_ROWS = 500


def batch_size(wanted: int | None, n_rows: int, multiple: int) -> int:
    """`wanted`, or about STEPS_PER_EPOCH batches per pass over the class; a multiple of `multiple`
    (CTGAN needs batch_size % pac == 0, TVAE an even one) and never above the class size."""
    size = wanted if wanted else min(500, max(MIN_BATCH, n_rows // STEPS_PER_EPOCH))
    size = min(size, max(n_rows, multiple))
    return max(multiple, size - size % multiple)


def epochs_for(n_rows: int, batch: int) -> int:
    """Epochs giving TARGET_STEPS optimizer steps over a class of `n_rows` in batches of `batch`."""
    steps = max(1, math.ceil(n_rows / batch))
    return int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps))))


def validation_split(n_rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """(train, validation) positions of a class's rows, each in source order; None when the class is
    too small to spare a validation slice (it then trains for its full epochs)."""
    import numpy as np

    if n_rows < VALIDATION_MIN_ROWS:
        return None
    k = min(VALIDATION_MAX, max(10, round(n_rows * VALIDATION_SHARE)))
    order = rng.permutation(n_rows)
    return np.sort(order[k:]), np.sort(order[:k])


@dataclass
class Watch:
    """Early stopping of one fit: set `validation` (rows encoded as the training rows) and a
    `deadline` (time.monotonic), pass to `fit_class`; read the outcome afterwards."""

    epochs: int
    validation: pd.DataFrame | None = None
    deadline: float | None = None
    every: int = 1
    best: float = math.inf
    best_epoch: int = 0
    epochs_run: int = 0
    #: why training ended before `epochs`: "early" (no improvement), "budget" (deadline) or None
    stopped: str | None = None
    problem: str | None = None  # why validation could not be measured (early stopping then off)
    _synth: Any = None
    _processed: Any = None
    _weights: dict[str, Any] | None = field(default=None, repr=False)
    _bad: int = 0

    def __post_init__(self) -> None:
        self.every = max(1, self.epochs // CHECKS)

    def after_epoch(self, i: int) -> bool:
        """Called after epoch `i` (0-based); True ends the loop."""
        self.epochs_run = i + 1
        if self.deadline is not None and time.monotonic() > self.deadline and self.epochs_run < self.epochs:
            self.stopped = "budget"
            return True
        if self.validation is None or self.problem or self.epochs_run % self.every or self.epochs_run == self.epochs:
            return False
        d = self._distance()
        if d is None:
            return False
        if d < self.best - MIN_DELTA:
            self.best, self.best_epoch, self._bad = d, self.epochs_run, 0
            module = _module(self._synth._model)
            self._weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return False
        self._bad += 1
        if self._bad >= PATIENCE:
            self.stopped = "early"
            return True
        return False

    def finish(self) -> None:
        """After the fit: the last epoch is checked too, and the best weights put back."""
        if self.validation is not None and not self.problem and self._synth is not None:
            d = self._distance()
            if d is not None and d < self.best - MIN_DELTA:
                self.best, self.best_epoch, self._weights = d, self.epochs_run, None
        if self._weights is not None:
            _module(self._synth._model).load_state_dict(self._weights)
            self._weights = None
        if not self.best_epoch:
            self.best_epoch = self.epochs_run

    def describe(self) -> str:
        """One note part: epochs run and where it stopped."""
        how = {"early": "stopped early", "budget": "stopped by max_fit_seconds", None: "ran all"}[self.stopped]
        val = f", validation distance {self.best:.3f} at epoch {self.best_epoch}" if math.isfinite(self.best) else ""
        why = f" (no early stopping: {self.problem})" if self.problem else ""
        return f"{self.epochs_run} of {self.epochs} epochs, {how}{val}{why}"

    def _distance(self) -> float | None:
        import torch

        model = self._synth._model
        try:
            if self._processed is None:
                self._processed = self._synth._data_processor.transform(self.validation)
            decoder = getattr(model, "decoder", None)
            with torch.no_grad():
                drawn = model.sample(CHECK_ROWS)
            if decoder is not None:
                decoder.train()  # TVAE.sample switched it to eval
        except Exception as e:  # noqa: BLE001  (an SDV internal moved: train without early stopping)
            self.problem = f"{type(e).__name__}: {e}"
            return None
        return distance(self._processed, drawn)


def distance(real: pd.DataFrame, drawn: pd.DataFrame) -> float:
    """Mean over columns of the KS statistic (numeric columns with 20+ values) or the total
    variation distance (the rest): 0 for identical distributions, 1 for disjoint ones."""
    import numpy as np
    import pandas as pd

    parts = []
    for col in real.columns:
        if col not in drawn.columns:
            continue
        a, b = real[col], drawn[col]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) and a.nunique() > 20:
            x, y = np.sort(a.dropna().to_numpy(float)), np.sort(b.dropna().to_numpy(float))
            if not len(x) or not len(y):
                continue
            grid = np.concatenate([x, y])
            parts.append(float(np.abs(np.searchsorted(x, grid, "right") / len(x)
                                      - np.searchsorted(y, grid, "right") / len(y)).max()))
        else:
            p = a.astype(str).value_counts(normalize=True)
            q = b.astype(str).value_counts(normalize=True)
            parts.append(0.5 * float(p.sub(q, fill_value=0).abs().sum()))
    return float(np.mean(parts)) if parts else 0.0


def _module(model: Any) -> Any:
    """The network that draws rows: TVAE's decoder, CTGAN's generator."""
    return model.decoder if hasattr(model, "decoder") else model._generator


@contextlib.contextmanager
def watching(watch: Watch | None, synth: Any) -> Iterator[None]:
    """Run a CTGAN/TVAE fit with `watch` hooked into its epoch loop (nothing when `watch` is None)."""
    if watch is None:
        yield
        return
    import ctgan.synthesizers.ctgan as ctgan_mod
    import ctgan.synthesizers.tvae as tvae_mod

    watch._synth = synth

    def epochs(iterable: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for i in iterable:
            yield i
            if watch.after_epoch(i):
                return

    saved = ctgan_mod.tqdm, tvae_mod.tqdm
    ctgan_mod.tqdm = tvae_mod.tqdm = epochs
    try:
        yield
    finally:
        ctgan_mod.tqdm, tvae_mod.tqdm = saved
    watch.finish()
