"""Differentially private tabular synthesis: MST / AIM from smartnoise-synth on private-pgm (`mbi`).

The (ε, δ) guarantee and its accounting are the library's (MST and AIM spend the budget under
zero-concentrated DP, converted with `snsynth.utils.cdp_rho`); nothing here adds noise or counts
budget. What this module adds is the platform's side:

- numeric columns are discretised on **public bounds from the config** (`bounds`), so no budget is
  spent inferring them; a numeric column without bounds is refused with one line. Categorical
  columns take their values from `categories` when given; otherwise from the data, and the result
  says so (`domain_from_data`), since the set of values present is then not protected.
- decoded rows come back in the source's columns and dtypes: a numeric value is drawn uniformly
  inside its bin (integers rounded, clipped to the bounds) instead of every row sitting on a bin
  centre.

Randomness: the fit's noise comes from OpenDP's sampler and the mechanism's own draws, from a
generator reseeded from OS entropy. A DP fit must not be reproducible from a public seed (anyone
with the config could subtract the noise), so the fitted model differs run to run. The sampling
after the fit (drawing rows from the model, placing values inside bins) is post-processing and is
seeded from `seed`.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from augment_jobs.errors import ConfigError, InputError
from augment_jobs.registry import MethodParams
from augment_jobs.sampling import SamplingStrategy

if TYPE_CHECKING:  # numpy and pandas load inside the functions: DAG files import this at parse time
    import pandas as pd

MECHANISMS = ("mst", "aim")


class DpSynthParams(MethodParams):
    """Params of the tabular method `dp_synth` (docs/config.md, "Differential privacy")."""

    sampling_strategy: SamplingStrategy | None = "auto"
    num_rows: int = Field(0, ge=0)
    #: the privacy budget the fit spends (the guarantee is (epsilon, delta)-DP)
    epsilon: float
    #: should be well below 1 / rows of the source
    delta: float = 1e-9
    mechanism: Literal["mst", "aim"] = "mst"
    #: bins per numeric column (each bin one value of the discrete domain the mechanism models)
    bins: int = Field(16, ge=2, le=256)
    #: public [low, high] per numeric column: values outside are clipped (no budget spent on bounds)
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    #: public value set per categorical column (default: the values in the data, reported as such)
    categories: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("epsilon")
    @classmethod
    def _epsilon(cls, v: float) -> float:
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"epsilon must be a finite number > 0 (the privacy budget, e.g. 1.0), got {v!r}")
        return v

    @field_validator("delta")
    @classmethod
    def _delta(cls, v: float) -> float:
        if not 0 < v < 1:
            raise ValueError(f"delta must be between 0 and 1 (exclusive), e.g. 1e-9, got {v!r}")
        return v

    @model_validator(mode="after")
    def _bounds(self) -> DpSynthParams:
        for col, (low, high) in self.bounds.items():
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"bounds.{col}: [{low!r}, {high!r}] must be finite with low < high")
        return self


def parse_dp_params(params: dict[str, Any], *, where: str = "params") -> DpSynthParams:
    """Validate raw `dp_synth` params; ConfigError with one line naming the key (e.g. epsilon <= 0)."""
    from augment_jobs.registry import MethodSpec

    spec = MethodSpec("dp_synth", "tabular", DpSynthParams, lambda *a: None)
    return spec.parse_params(params, where=where)  # type: ignore[return-value]


def _is_numeric(s: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def fit_sample_dp(
    df: pd.DataFrame,
    n_rows: int,
    *,
    epsilon: float,
    delta: float,
    bounds: dict[str, tuple[float, float]],
    seed: int,
    categories: dict[str, list[Any]] | None = None,
    mechanism: str = "mst",
    bins: int = 16,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fit an (epsilon, delta)-DP synthesizer on `df` and draw `n_rows` rows.

    Every column of `df` is modelled (the caller drops platform and id columns first). Returns the
    rows in `df`'s columns and dtypes, and the privacy record:
    `{epsilon, delta, mechanism, library, rows_fitted, bounds, domain_from_data, bins}`.
    Raises InputError naming the column when a numeric column has no public bounds, or when a
    column is missing values (the mechanisms need a complete table).
    """
    import numpy as np

    parse_dp_params({"epsilon": epsilon, "delta": delta, "mechanism": mechanism, "bins": bins,
                     "bounds": {k: list(v) for k, v in bounds.items()},
                     "categories": categories or {}}, where="dp_synth")
    categories = categories or {}
    if not len(df):
        raise InputError("dp_synth: no rows to fit; the source (or class) is empty")
    specs: list[tuple[str, str]] = []  # (column, "num" | "cat")
    for col in df.columns:
        if df[col].isna().any():
            raise InputError(f"dp_synth: column {col!r} has missing values; fill or drop them before a DP fit")
        if _is_numeric(df[col]) and col not in categories:
            if col not in bounds:
                raise InputError(
                    f"dp_synth: numeric column {col!r} has no public bounds; add it to params.bounds as "
                    f"[low, high] (bounds read from the data would spend privacy budget), or list it in categories"
                )
            specs.append((col, "num"))
        else:
            specs.append((col, "cat"))
    for col in [*bounds, *categories]:
        if col not in df.columns:
            raise InputError(f"dp_synth: params names column {col!r}, which the source does not have")

    saved = np.random.get_state()  # restored at the end: importing mbi and fitting both draw from it
    try:
        return _fit_sample(df, n_rows, specs, epsilon=epsilon, delta=delta, bounds=bounds, seed=seed,
                           categories=categories, mechanism=mechanism, bins=bins)
    finally:
        np.random.set_state(saved)


def _fit_sample(df: pd.DataFrame, n_rows: int, specs: list[tuple[str, str]], *, epsilon: float, delta: float,
                bounds: dict[str, tuple[float, float]], seed: int, categories: dict[str, list[Any]],
                mechanism: str, bins: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    import numpy as np
    import pandas as pd

    encoded = pd.DataFrame(index=df.index)
    domains: list[list[Any]] = []  # per column, the public values the mechanism models
    edges: dict[str, np.ndarray] = {}
    domain_from_data = []
    for col, kind in specs:
        if kind == "num":
            low, high = (float(b) for b in bounds[col])
            n_bins = bins
            if pd.api.types.is_integer_dtype(df[col]):
                n_bins = max(1, min(bins, int(math.floor(high) - math.ceil(low)) + 1))
            edges[col] = np.linspace(low, high, n_bins + 1)
            # bin indices computed here on the public edges: the transformer only sees integers
            idx = np.clip(np.searchsorted(edges[col], df[col].to_numpy(float), side="right") - 1, 0, n_bins - 1)
            encoded[col] = idx.astype(np.int64)
            domains.append(list(range(n_bins)))
        else:
            values = categories.get(col)
            if values is None:
                domain_from_data.append(col)
                values = sorted(df[col].astype(str).unique())
            else:
                values = [str(v) for v in values]
                unknown = sorted(set(df[col].astype(str)) - set(values))
                if unknown:
                    raise InputError(f"dp_synth: column {col!r} has values outside params.categories: "
                                     f"{', '.join(map(repr, unknown[:5]))}; add them to the list")
            encoded[col] = df[col].astype(str)
            domains.append(values)

    from snsynth import Synthesizer
    from snsynth.transform import LabelTransformer, TableTransformer

    # Each column's transformer is fitted on its public domain, never on the private rows (so a
    # value absent from the rows can still be drawn, and the fit reads nothing of them).
    transformers = [LabelTransformer(nullable=False) for _ in domains]
    for t, domain in zip(transformers, domains, strict=True):
        t.fit(domain)
    table = TableTransformer(transformers)  # its column transformers are fitted: no fit on the rows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mbi's deprecation chatter about pandas inputs
        synth = Synthesizer.create(mechanism, epsilon=float(epsilon), delta=float(delta), verbose=False)
        # The fit's own draws (the mechanism's selection) must not follow a public seed: fresh OS
        # entropy. Sampling from the fitted model is post-processing: seeded.
        np.random.seed(None)
        synth.fit(encoded, transformer=table, preprocessor_eps=0.0)
        np.random.seed(seed % 2**32)
        drawn = synth.sample(int(n_rows)) if n_rows else []
    drawn = pd.DataFrame(drawn, columns=list(df.columns)) if len(drawn) else pd.DataFrame(columns=df.columns)

    rng = np.random.default_rng(seed)
    out = pd.DataFrame(index=range(len(drawn)))
    for col, kind in specs:
        if kind == "num":
            e = edges[col]
            idx = drawn[col].to_numpy(np.int64) if len(drawn) else np.empty(0, np.int64)
            values = rng.uniform(e[idx], e[idx + 1]) if len(idx) else np.empty(0)
            if pd.api.types.is_integer_dtype(df[col]):
                values = np.clip(np.rint(values), math.ceil(e[0]), math.floor(e[-1]))
            out[col] = pd.Series(values).astype(df[col].dtype)
        else:
            out[col] = _restore(drawn[col], df[col])
    info = {
        "epsilon": float(epsilon), "delta": float(delta), "mechanism": mechanism,
        "library": _library_version(), "rows_fitted": len(df), "rows_drawn": len(out), "bins": bins,
        "bounds": {c: [float(b) for b in bounds[c]] for c, k in specs if k == "num"},
        "domain_from_data": domain_from_data,
    }
    return out, info


def _restore(drawn: pd.Series, source: pd.Series) -> pd.Series:
    """Drawn category text back to the source column's values and dtype."""
    import pandas as pd

    text_to_value = {str(v): v for v in pd.unique(source)}
    values = [text_to_value.get(str(v), v) for v in drawn]
    if isinstance(source.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(source) or _is_numeric(source):
        try:
            return pd.Series(values, dtype=source.dtype)
        except (TypeError, ValueError):
            pass
    return pd.Series(values, dtype=source.dtype if source.dtype != object else object)


def _library_version() -> str:
    from importlib.metadata import version

    return f"smartnoise-synth {version('smartnoise-synth')}, mbi {version('mbi')}"


def public_bounds(params: DpSynthParams, constraints: list[Any] = ()) -> dict[str, tuple[float, float]]:
    """The public bounds of the numeric columns: `params.bounds`, and for the columns it does not
    name, a config `range` constraint with both `low` and `high` (the business rule is public too)."""
    out = dict(params.bounds)
    for c in constraints:
        if getattr(c, "type", None) == "range" and c.low is not None and c.high is not None:
            out.setdefault(c.column, (float(c.low), float(c.high)))
    return out


def epsilon_spent(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's budget from one record per DP fit (`{step, epsilon, delta, partition}`).

    Fits of one step on disjoint rows (classes, source parts: `partition`) compose in parallel (the
    largest counts); steps compose sequentially (they add up). Returns `{epsilon, delta, dp}`.
    """
    by_step: dict[Any, list[dict[str, Any]]] = {}
    for r in records:
        by_step.setdefault(r.get("step", 0), []).append(r)
    epsilon = sum(max(float(r["epsilon"]) for r in rs) for rs in by_step.values())
    delta = sum(max(float(r["delta"]) for r in rs) for rs in by_step.values())
    return {"epsilon": round(epsilon, 12), "delta": delta, "dp": records}


def check_max_epsilon(epsilon_spent: float | None, max_epsilon: float | None) -> tuple[bool, str]:
    """The gate's verdict on the budget spent (`limits.max_epsilon`): (passed, one-line detail)."""
    if epsilon_spent is None:
        return True, "no differentially private step ran"
    if max_epsilon is None:
        return True, f"epsilon spent {epsilon_spent:g} (not gated: limits.max_epsilon)"
    if epsilon_spent > max_epsilon:
        return False, (f"epsilon spent {epsilon_spent:g} is above limits.max_epsilon = {max_epsilon:g}; "
                       "lower the dp_synth step's epsilon or raise the limit")
    return True, f"epsilon spent {epsilon_spent:g} within limits.max_epsilon = {max_epsilon:g}"


def validate_against_limit(params: DpSynthParams, max_epsilon: float | None, *, where: str) -> None:
    """`augment check` side of the limit: a configured epsilon above `limits.max_epsilon` is refused early."""
    if max_epsilon is not None and params.epsilon > max_epsilon:
        raise ConfigError(f"{where}.epsilon: {params.epsilon:g} is above limits.max_epsilon = {max_epsilon:g}; "
                          "lower epsilon or raise the limit")
