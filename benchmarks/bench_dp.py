"""Differential privacy: SDMetrics quality of `fit_sample_dp` (MST, smartnoise-synth on private-pgm)
at several budgets against a non-private SDV GaussianCopula, same real table, same run.

    .venv/bin/python benchmarks/bench_dp.py                 # epsilon 1, 3, 10 on Palmer penguins
    .venv/bin/python benchmarks/bench_dp.py --eps 10        # smoke run (one fit)
    .venv/bin/python benchmarks/bench_dp.py --table fair    # statsmodels' affairs survey, 6366 rows

Tables: palmerpenguins' (333 complete rows: 3 categorical, 5 numeric columns) and statsmodels'
`fair` (6,366 survey answers: 5 coded, 4 numeric columns). Numeric columns take public bounds and
coded columns public value sets (physical ranges, the survey's codebook; see TABLES), none read
from the rows, so the whole budget goes to the model. Each side draws as many rows as the table has; quality is SDMetrics' score of
those rows against the real table (column shapes and column-pair trends). The ratio printed is
DP quality / copula quality. A DP fit's noise is not seedable (it must not follow a public seed), so
figures move a little run to run: `--repeats` fits each budget several times and prints the mean.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: per table: the real rows, public bounds of the numeric columns, public value sets of coded columns
TABLES = {
    # physical ranges of the three species, not read from the rows
    "penguins": ({"bill_length_mm": (30.0, 60.0), "bill_depth_mm": (13.0, 22.0), "flipper_length_mm": (170.0, 235.0),
                  "body_mass_g": (2500.0, 6500.0), "year": (2007, 2009)}, {}),
    # the 1974 Redbook survey's codebook (statsmodels' `fair` docs): coded answers and bracketed ranges
    "fair": ({"age": (17.5, 42.0), "yrs_married": (0.5, 23.0), "children": (0.0, 5.5), "affairs": (0.0, 60.0)},
             {"rate_marriage": [1.0, 2.0, 3.0, 4.0, 5.0], "religious": [1.0, 2.0, 3.0, 4.0],
              "educ": [9.0, 12.0, 14.0, 16.0, 17.0, 20.0], "occupation": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
              "occupation_husb": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}),
}


def load(table: str):  # -> pd.DataFrame
    if table == "penguins":
        import palmerpenguins

        return palmerpenguins.load_penguins().dropna().reset_index(drop=True)
    import statsmodels.api as sm

    return sm.datasets.fair.load_pandas().data


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eps", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--mechanism", default="mst", choices=["mst", "aim"])
    ap.add_argument("--table", default="penguins", choices=sorted(TABLES))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from augment_jobs.privacy_dp import fit_sample_dp
    from augment_jobs.tabular.quality_score import quality_score

    real = load(args.table)
    bounds, categories = TABLES[args.table]
    n = len(real)
    print(f"table     {args.table}: {n} rows x {real.shape[1]} columns; delta 1e-6; mechanism {args.mechanism}")

    t = time.perf_counter()
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    meta = Metadata.detect_from_dataframes({"t": real})
    copula = GaussianCopulaSynthesizer(meta)
    copula.fit({"t": real})
    base_rows = copula.sample(n)
    base_rows = base_rows["t"] if isinstance(base_rows, dict) else base_rows
    base = quality_score(real, base_rows)["score"]
    print(f"baseline  gaussian_copula (no privacy)  quality {base:.3f}  ({time.perf_counter() - t:.1f} s)")
    print(f"{'epsilon':>8} {'quality':>8} {'shapes':>7} {'pairs':>6} {'ratio':>6} {'fit+draw s':>10}")
    for eps in args.eps:
        scores, shapes, pairs, secs = [], [], [], []
        for r in range(args.repeats):
            t = time.perf_counter()
            rows, info = fit_sample_dp(real, n, epsilon=eps, delta=1e-6, bounds=bounds, categories=categories,
                                       seed=r, mechanism=args.mechanism)
            secs.append(time.perf_counter() - t)
            q = quality_score(real, rows)
            scores.append(q["score"])
            shapes.append(q["column_shapes"])
            pairs.append(q["column_pair_trends"])
        mean = sum(scores) / len(scores)
        print(f"{eps:>8g} {mean:>8.3f} {sum(shapes) / len(shapes):>7.3f} {sum(pairs) / len(pairs):>6.3f} "
              f"{mean / base:>5.2f}x {sum(secs) / len(secs):>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
