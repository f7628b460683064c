"""Per-column treatment for the SDV synthesizers, so real tables pass without tuning.

SDV models every numeric column as one continuous marginal. On real tables that loses what users
check first: a count that is 0 in 86% of rows comes back smeared over [0, 1), a 1-5 rating comes
back as 2.7, and one default distribution fits a skewed column badly. Before fitting, each feature
column of a class gets a treatment:

- ``categorical``: text, and numeric columns with few distinct values (integer codes, ratings,
  small counts): every value is a mass point, reproduced with its frequency.
- ``mass+continuous``: numeric columns where a few values hold 5%+ of the rows each (zero-inflated
  counts, capped values). A helper categorical column carries which mass point (or "continuous",
  or "missing"); the column itself carries only the continuous part, which the model fits.
- ``continuous``: the rest. For the Gaussian copula the marginal is chosen among SDV's candidate
  distributions by the Kolmogorov-Smirnov statistic of each fit on the class's rows.
- ``constrained``: columns named by a constraint keep SDV's own handling (the constraint transforms
  them first).

After sampling, `decode` puts the mass points back, rounds integer columns and clips every numeric
column to its observed range. Missing values stay in: SDV models them (FloatFormatter's random
missing-value generation; NaN is a category of a categorical column).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: SDV's Gaussian-copula distributions, in the order ties are broken.
CANDIDATES = ("truncnorm", "beta", "gamma", "norm", "uniform", "gaussian_kde")
#: Numeric columns with at most this many distinct values are categorical.
MAX_DISCRETE = 20
#: A value holding at least this share of a column's rows is a mass point.
MASS_SHARE = 0.05
MAX_MASSES = 4
#: Rows used to choose a marginal (the choice, not the fit, is subsampled); the KDE's CDF costs an
#: integral per point, so it is judged on fewer.
FIT_SAMPLE = 500
KDE_SAMPLE = 200
#: Rows the chosen candidate is refitted on to check its draws (a beta fit on 100k rows takes seconds).
CHECK_SAMPLE = 5000
#: gaussian_kde samples by numerical inversion (seconds per thousand rows): a candidate only for
#: classes up to this size, and only when no parametric candidate fits within KDE_ONLY_ABOVE.
KDE_MAX_ROWS = 2000
KDE_ONLY_ABOVE = 0.05
MASS_PREFIX = "__mass__"
CONTINUOUS, MISSING = "continuous", "missing"


@dataclass
class ColumnPlan:
    """How one feature column of one class is modelled."""

    column: str
    treatment: str  # categorical | mass+continuous | continuous | constrained | boolean
    sdtype: str  # the sdtype SDV sees for the column itself
    integer: bool = False
    low: float | None = None
    high: float | None = None
    masses: list[float] = field(default_factory=list)
    distribution: str | None = None  # gaussian_copula only
    fit_ks: float | None = None  # KS of the chosen marginal against the class's values
    log_shift: float | None = None  # heavy right tail: the model sees log(x - cont_low + shift)
    cont_low: float | None = None  # minimum of the continuous part (without mass points)

    @property
    def mass_column(self) -> str:
        return f"{MASS_PREFIX}{self.column}"

    def describe(self) -> str:
        """One short phrase: `calls=categorical(12)`, `vmail=mass[0]+gamma(ks 0.03)`."""
        if self.treatment == "categorical":
            return f"{self.column}=categorical"
        dist = f"{self.distribution}(ks {self.fit_ks:.3f})" if self.distribution and self.fit_ks is not None else (
            self.distribution or "sdv")
        if self.log_shift is not None:
            dist = f"log-{dist}"
        if self.treatment == "mass+continuous":
            return f"{self.column}=mass[{','.join(f'{m:g}' for m in self.masses)}]+{dist}"
        if self.treatment == "continuous":
            return f"{self.column}={dist}"
        return f"{self.column}={self.treatment}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_columns(rows: pd.DataFrame, features: list[str], *, constrained: set[str], fixed: set[str],
                 choose_marginal: bool, default_distribution: str) -> dict[str, ColumnPlan]:
    """Treatment of every feature column, decided on one class's real rows."""
    import numpy as np
    import pandas as pd

    plans: dict[str, ColumnPlan] = {}
    for col in features:
        s = rows[col]
        if col in fixed:
            plans[col] = ColumnPlan(col, "constrained", "categorical")  # cag.FixedCombinations needs categorical
            continue
        if pd.api.types.is_bool_dtype(s):
            plans[col] = ColumnPlan(col, "boolean", "boolean")
            continue
        if pd.api.types.is_datetime64_any_dtype(s):
            plans[col] = ColumnPlan(col, "constrained" if col in constrained else "continuous", "datetime")
            continue
        if not pd.api.types.is_numeric_dtype(s):
            plans[col] = ColumnPlan(col, "categorical", "categorical")
            continue
        x = s.to_numpy(np.float64)
        x = x[np.isfinite(x)]
        integer = bool(len(x)) and bool(np.all(x == np.round(x)))
        low, high = (float(x.min()), float(x.max())) if len(x) else (None, None)
        if col in constrained:
            plans[col] = ColumnPlan(col, "constrained", "numerical", integer, low, high,
                                    distribution=default_distribution if choose_marginal else None)
            continue
        values, counts = np.unique(x, return_counts=True)
        if len(values) <= MAX_DISCRETE:
            plans[col] = ColumnPlan(col, "categorical", "categorical", integer, low, high)
            continue
        order = np.argsort(-counts, kind="stable")[:MAX_MASSES]
        # A mass point stands out from its neighbours too: 4x the mean frequency of a value (a
        # Poisson(100) count has no mass point although its mode holds 4-5% of a small class).
        floor = max(MASS_SHARE * len(x), 4 * len(x) / len(values), 2)
        masses = [float(values[i]) for i in order if counts[i] >= floor]
        plan = ColumnPlan(col, "mass+continuous" if masses else "continuous", "numerical", integer, low, high,
                          sorted(masses))
        rest = x[~np.isin(x, plan.masses)] if masses else x
        plan.log_shift = _log_shift(rest)
        if plan.log_shift is not None:
            plan.cont_low = float(rest.min())
            rest = np.log(rest - rest.min() + plan.log_shift)
        if choose_marginal:
            plan.distribution, plan.fit_ks = choose_distribution(rest, len(rows), col)
        plans[col] = plan
    return plans


#: A continuous part this skewed (third standardised moment) is modelled on the log scale.
MAX_SKEW = 2.0


def _log_shift(x: np.ndarray) -> float | None:
    """The shift that makes `log(x - min + shift)` finite, when x has a heavy right tail (incomes,
    populations, prices: no SDV candidate fits those on the raw scale); None otherwise."""
    import numpy as np

    if len(x) < 20 or np.ptp(x) == 0:
        return None
    z = (x - x.mean()) / x.std()
    if float(np.mean(z**3)) <= MAX_SKEW:
        return None
    d = x - x.min()
    positive = d[d > 0]
    return float(max(np.quantile(positive, 0.05) if len(positive) else 1.0, 1e-9))


def choose_distribution(x: np.ndarray, n_rows: int, column: str) -> tuple[str, float]:
    """The SDV candidate whose fit to `x` has the smallest Kolmogorov-Smirnov statistic."""
    import warnings

    import numpy as np
    from sdv.single_table import GaussianCopulaSynthesizer

    if len(x) < 3 or np.ptp(x) == 0:
        return "truncnorm", 0.0
    x = np.sort(x)
    best: tuple[float, str] = (np.inf, "truncnorm")
    for name in CANDIDATES:
        if name == "gaussian_kde" and (n_rows > KDE_MAX_ROWS or best[0] <= KDE_ONLY_ABOVE):
            continue
        # Evenly spaced order statistics: a deterministic, representative subsample.
        xs = _quantiles(x, KDE_SAMPLE if name == "gaussian_kde" else FIT_SAMPLE)
        n = len(xs)
        dist = GaussianCopulaSynthesizer.get_distribution_class(name)()
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                dist.fit(xs)
                cdf = np.asarray(dist.cdf(xs), np.float64)
        except (ValueError, RuntimeError, FloatingPointError, ZeroDivisionError):
            continue  # a candidate that cannot fit this column is not a candidate
        if not np.all(np.isfinite(cdf)):
            continue
        ks = float(max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)))
        if ks < best[0] - 1e-9 and _draws_match(name, x, ks):
            best = (ks, name)
    return best[1], round(best[0], 4) if np.isfinite(best[0]) else 1.0


def _draws_match(name: str, x: np.ndarray, ks: float) -> bool:
    """Whether the candidate, fitted the way SDV fits it (all rows), draws like the data: some fits
    (beta on a column with a few zeros) converge to parameters whose inverse CDF collapses onto a
    bound, although the CDF matched."""
    import warnings

    import numpy as np
    from sdv.single_table import GaussianCopulaSynthesizer

    if name == "gaussian_kde":
        return True  # the KDE is the data
    dist = GaussianCopulaSynthesizer.get_distribution_class(name)()
    grid = (np.arange(200) + 0.5) / 200
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            dist.fit(_quantiles(x, CHECK_SAMPLE))
            draws = np.sort(np.asarray(dist.percent_point(grid), np.float64))
    except (ValueError, RuntimeError, FloatingPointError, ZeroDivisionError):
        return False
    if not np.all(np.isfinite(draws)):
        return False
    cdf_x = np.searchsorted(x, draws, side="right") / len(x)
    return float(np.max(np.abs(cdf_x - grid))) <= ks + 0.05


def _quantiles(sorted_x: np.ndarray, n: int) -> np.ndarray:
    import numpy as np

    return sorted_x if len(sorted_x) <= n else sorted_x[np.linspace(0, len(sorted_x) - 1, n).astype(int)]


def encode(rows: pd.DataFrame, plans: dict[str, ColumnPlan], rng: np.random.Generator) -> pd.DataFrame:
    """The frame SDV fits: mass columns split into a helper category plus their continuous part."""
    import numpy as np

    out = rows.copy()
    for plan in plans.values():
        if plan.treatment != "mass+continuous":
            continue
        x = out[plan.column].to_numpy(np.float64)
        state = np.full(len(x), CONTINUOUS, dtype=object)
        missing = ~np.isfinite(x)
        state[missing] = MISSING
        for m in plan.masses:
            state[x == m] = _mass_label(m)
        cont = state == CONTINUOUS
        if cont.any():
            # Rows at a mass point (or missing) take values drawn from the continuous part, so the
            # column the model fits has only that part's shape; decode restores the masses.
            pool = x[cont]
            x = x.copy()
            x[~cont] = pool[rng.integers(0, len(pool), int((~cont).sum()))]
        out[plan.column] = x
        out[plan.mass_column] = state
    for plan in plans.values():
        if plan.log_shift is not None:
            x = out[plan.column].to_numpy(np.float64)
            out[plan.column] = np.log(x - _cont_low(plan) + plan.log_shift)
    return out


def _cont_low(plan: ColumnPlan) -> float:
    """The continuous part's minimum, the origin of its log scale."""
    return plan.cont_low if plan.cont_low is not None else float(plan.low or 0.0)


def decode(sample: pd.DataFrame, plans: dict[str, ColumnPlan], template: pd.DataFrame) -> pd.DataFrame:
    """Sampled rows back to the template's columns: masses restored, integers rounded, range kept."""
    import numpy as np
    import pandas as pd

    out = sample.copy()
    for plan in plans.values():
        col = plan.column
        if plan.log_shift is not None:
            y = pd.to_numeric(out[col], errors="coerce").to_numpy(np.float64)
            with np.errstate(over="ignore"):
                out[col] = np.exp(y) - plan.log_shift + _cont_low(plan)
        if plan.treatment == "mass+continuous":
            x = pd.to_numeric(out[col], errors="coerce").to_numpy(np.float64).copy()
            state = out.pop(plan.mass_column).astype(str).to_numpy()
            x[state == MISSING] = np.nan
            for m in plan.masses:
                x[state == _mass_label(m)] = m
            out[col] = x
        if plan.sdtype == "numerical" or (plan.treatment == "categorical" and plan.low is not None):
            x = pd.to_numeric(out[col], errors="coerce").to_numpy(np.float64)
            with np.errstate(invalid="ignore"):
                if plan.integer:
                    x = np.rint(x)
                if plan.low is not None and plan.treatment != "constrained":
                    x = np.where(np.isfinite(x), np.clip(x, plan.low, plan.high), x)
            out[col] = x
    return out[[c for c in template.columns if c in out.columns]]


def _mass_label(value: float) -> str:
    return f"={value!r}"


def metadata_columns(plans: dict[str, ColumnPlan]) -> dict[str, dict[str, str]]:
    """SDV metadata `columns` for the encoded frame (explicit sdtypes: no PII detection)."""
    cols: dict[str, dict[str, str]] = {}
    for plan in plans.values():
        cols[plan.column] = {"sdtype": plan.sdtype}
        if plan.treatment == "mass+continuous":
            cols[plan.mass_column] = {"sdtype": "categorical"}
    return cols


def distributions(plans: dict[str, ColumnPlan]) -> dict[str, str]:
    """Gaussian-copula `numerical_distributions`: the chosen marginals; `uniform` for categorical
    columns, which SDV's UniformEncoder turns into uniform values on [0, 1]."""
    out: dict[str, str] = {}
    for plan in plans.values():
        if plan.distribution:
            out[plan.column] = plan.distribution
        if plan.sdtype == "categorical":
            out[plan.column] = "uniform"
        if plan.treatment == "mass+continuous":
            out[plan.mass_column] = "uniform"
    return out


def ordered_encoders(plans: dict[str, ColumnPlan], data: pd.DataFrame) -> dict[str, Any]:
    """RDT `OrderedUniformEncoder`s for the Gaussian copula's numeric categorical columns (integer
    codes, ratings, small counts), their categories in value order. SDV's default `UniformEncoder`
    orders categories by frequency, so the copula's correlations between such columns come out
    scrambled (SDMetrics pair trends 0.65 vs 0.91 on statsmodels' `fair`, religious = 4)."""
    import numpy as np
    import pandas as pd
    from rdt.transformers import OrderedUniformEncoder

    out: dict[str, Any] = {}
    for plan in plans.values():
        col = data.get(plan.column)
        if plan.treatment != "categorical" or col is None or not pd.api.types.is_numeric_dtype(col) \
                or pd.api.types.is_bool_dtype(col):
            continue
        order: list[Any] = sorted(col.dropna().unique().tolist())
        if col.isna().any():
            order.append(np.nan)
        out[plan.column] = OrderedUniformEncoder(order=order)
    return out
