"""Params models shared by the tabular methods (docs/config.md; sampling vocabulary in augment_jobs/sampling.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from augment_jobs.registry import MethodParams
from augment_jobs.sampling import SamplingStrategy


class NeighbourParams(MethodParams):
    """How the SMOTE family finds neighbours (docs/config.md, "Approximate neighbours")."""

    # exact: the neighbours imbalanced-learn finds; approximate: faiss in float32 (HNSW for the
    # same-class search, IVF for the all-class one), its recall@k measured on a sample every run
    neighbours: Literal["exact", "approximate"] = "exact"
    # the gate fails (exit 3) when an approximate search's measured recall is below this
    min_recall: float = Field(0.95, gt=0, le=1, description="a share in (0, 1]")
    # approximate only: HNSW candidates per query (same-class), IVF lists probed per query (all-class)
    ef_search: int = Field(64, ge=1)
    nprobe: int = Field(16, ge=1)


class SmoteParams(NeighbourParams):
    sampling_strategy: SamplingStrategy = "auto"
    # rows with a missing feature value: left out of the interpolation (published as real, counted),
    # or filled with the column's median (most frequent value for a categorical) before interpolating
    missing: Literal["skip", "impute_median"] = "skip"
    k_neighbors: int = Field(5, ge=1)


class SmoteNCParams(SmoteParams):
    categorical_features: list[str] = Field(min_length=1)
    # `category` also: a missing categorical value is a category of its own (kept, and drawn by the
    # neighbours' vote like any other); rows missing a numeric value are skipped as with `skip`
    missing: Literal["skip", "impute_median", "category"] = "skip"  # type: ignore[assignment]


class BorderlineSmoteParams(SmoteParams):
    kind: Literal["borderline-1", "borderline-2"] = "borderline-1"
    m_neighbors: int = Field(10, ge=1)


class AdasynParams(NeighbourParams):
    sampling_strategy: SamplingStrategy = "auto"
    missing: Literal["skip", "impute_median"] = "skip"
    n_neighbors: int = Field(5, ge=1)


class SdvParams(MethodParams):
    # None: no per-class targets, only `num_rows` unconditional rows.
    sampling_strategy: SamplingStrategy | None = "auto"
    num_rows: int = Field(0, ge=0)
    enforce_min_max_values: bool = True
    enforce_rounding: bool = True
    min_class_rows: int = Field(2, ge=2)  # a class needs this many real rows to fit its model
    # "auto": each column treated so real tables pass without tuning (augment_jobs/tabular/sdv_columns.py:
    # discrete and low-cardinality columns categorical, point masses kept, skewed columns on a log
    # scale, integers rounded, values inside the observed range); "off": bare SDV, for comparison.
    column_treatment: Literal["auto", "off"] = "auto"
    # SDMetrics quality report per class on at most this many rows (0: not computed).
    quality_rows: int = Field(2000, ge=0)
    # fit each class's model on at most this many of its rows (a seeded sample); None: all of them
    max_fit_rows: int | None = Field(None, ge=2)


class GaussianCopulaParams(SdvParams):
    # "auto": each numeric column's marginal is the SDV candidate with the smallest KS statistic on the
    # training rows. (SDV's own default, "beta", fits 10x slower and collapses on some real columns.)
    default_distribution: Literal["auto", "norm", "beta", "truncnorm", "gamma", "uniform", "gaussian_kde"] = "auto"


class NeuralParams(SdvParams):
    """CTGAN and TVAE: unset `epochs` / `batch_size` come from the class size, and early stopping
    on a validation slice is on unless `epochs` is set (augment_jobs/tabular/sdv_training.py)."""

    epochs: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=2)
    # None: on when epochs is unset (epochs then the most it trains), off when it is set
    early_stopping: bool | None = None
    embedding_dim: int = Field(128, ge=1)

    def stops_early(self) -> bool:
        return self.epochs is None if self.early_stopping is None else self.early_stopping


class CtganParams(NeuralParams):
    batch_size: int | None = Field(None, ge=10)
    pac: int = Field(10, ge=1)


class TvaeParams(NeuralParams):
    pass


#: the candidates `method: auto` may fit (tabular_argn is not offered: docs/config.md)
AUTO_CANDIDATES = ("gaussian_copula", "tvae", "ctgan")


class AutoParams(SdvParams):
    """`method: auto`: per class, the candidate with the best SDMetrics quality on held-out rows."""

    candidates: list[Literal["gaussian_copula", "tvae", "ctgan"]] = Field(
        default_factory=lambda: list(AUTO_CANDIDATES), min_length=1)
    # per class, for all candidates together; a neural candidate stops training when its share runs
    # out. None (the default): no clock bound, so reruns are byte-identical on any machine
    max_fit_seconds: float | None = Field(None, gt=0)
    # share of a class's rows held out to score the candidates (never fitted on)
    holdout: float = Field(0.25, gt=0, lt=1)
    # fit the winner again on all of the class's rows (outside max_fit_seconds)
    refit: bool = True
    # the neural candidates' epochs (None: from the class size, with early stopping)
    epochs: int | None = Field(None, ge=1)
    # the copula candidate's marginals
    default_distribution: Literal["auto", "norm", "beta", "truncnorm", "gamma", "uniform", "gaussian_kde"] = "auto"
