"""Benchmark: `method: auto` vs the bare libraries, side by side, on the minority class of real tables.

Each table ships with an installed package (statsmodels, scikit-learn, vega_datasets,
palmerpenguins). Per table, the class synthesised is the smallest one with 40+ rows. A seeded
quarter of its rows is held out for evaluation; every method gets the same other rows:

- `auto`: the platform (`augment_jobs.tabular.engine.run_frame`, default params unless set here),
  which itself holds out a share of what it gets to choose its candidate;
- bare SDV `GaussianCopulaSynthesizer` and bare `TVAESynthesizer` (300 epochs), SDV 2.0 defaults,
  metadata detected from the rows;
- MOSTLY AI's TabularARGN when `mostlyai.engine` imports (it does not here: benchmarks/README.md).

Per method and class: SDMetrics quality of a draw against the held-out rows, its worst column,
the largest missing-share gap (percentage points, synthetic vs all real rows of the class) and
seconds (auto: fit and draw through the engine; bare: fit and sample). Then the goals of issue 20,
pass or fail.

    .venv/bin/python benchmarks/bench_synthesis.py [--tables NAME ...] [--budget S] [--draw N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DS = "2026-03-01"
MIN_CLASS = 40


def _affairs() -> tuple[pd.DataFrame, str]:
    import statsmodels.api as sm

    return sm.datasets.fair.load_pandas().data, "religious"


def _anes96() -> tuple[pd.DataFrame, str]:
    import statsmodels.api as sm

    return sm.datasets.anes96.load_pandas().data, "vote"


def _penguins() -> tuple[pd.DataFrame, str]:
    import palmerpenguins

    return palmerpenguins.load_penguins(), "species"


def _seattle_weather() -> tuple[pd.DataFrame, str]:
    from vega_datasets import local_data

    return local_data.seattle_weather(), "weather"


def _cars() -> tuple[pd.DataFrame, str]:
    from vega_datasets import local_data

    return local_data.cars().drop(columns=["Name"]), "Origin"  # the model name: an identifier, not modelled


def _breast_cancer() -> tuple[pd.DataFrame, str]:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame, "target"


def _wine() -> tuple[pd.DataFrame, str]:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame, "target"


def _diabetes() -> tuple[pd.DataFrame, str]:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True, scaled=False).frame, "sex"


TABLES: dict[str, Callable[[], tuple[pd.DataFrame, str]]] = {
    "affairs": _affairs, "anes96": _anes96, "penguins": _penguins, "seattle_weather": _seattle_weather,
    "cars": _cars, "breast_cancer": _breast_cancer, "wine": _wine, "diabetes": _diabetes,
}


def _split(rows: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(rows))
    k = max(10, len(rows) // 4)
    return rows.iloc[np.sort(order[k:])], rows.iloc[np.sort(order[:k])].reset_index(drop=True)


def _auto(train: pd.DataFrame, label: str, cls: Any, n: int, params: dict[str, Any]) -> tuple[pd.DataFrame, float, str]:
    from augment_jobs.config import DatasetConfig
    from augment_jobs.registry import AugmentContext
    from augment_jobs.tabular.engine import run_frame

    own = int((train[label] == cls).sum())
    cfg = DatasetConfig(dataset="bench", modality="tabular", seed=1, source={"uri": "mem://"}, label=label,
                        augment=[{"method": "auto", "params": {**params, "sampling_strategy": {cls: own + n},
                                                               "quality_rows": 0}}],
                        publish={"uri": "mem://out"})
    ctx = AugmentContext(cfg=cfg, ds=DS)
    t0 = time.perf_counter()
    out = run_frame(train.reset_index(drop=True), cfg, DS, ctx=ctx)
    seconds = time.perf_counter() - t0
    picked = ctx.quality[str(cls)]
    parts = []
    for c in picked["candidates"]:  # held-out score inside auto, fit seconds, epochs and how training ended
        how = f", {c['epochs']} ep" + (f" {c['stopped']}" if c.get("stopped") else "") if "epochs" in c else ""
        parts.append(f"{c['method']} {c['score']} ({c['fit_seconds']:.0f} s{how})" if c.get("score") is not None
                     else f"{c['method']} failed")
    chosen = f"**{picked['chosen']}**: " + "; ".join(parts)
    syn = out[out["_synthetic"]].drop(columns=[c for c in out.columns if c.startswith("_")]).reset_index(drop=True)
    return syn.drop(columns=[label]), seconds, chosen


def _bare(kind: str, rows: pd.DataFrame, n: int, epochs: int) -> tuple[pd.DataFrame, float]:
    import torch
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer, TVAESynthesizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.random.seed(0)
        torch.manual_seed(0)
        meta = Metadata.detect_from_dataframes({"t": rows})
        synth = GaussianCopulaSynthesizer(meta) if kind == "copula" else TVAESynthesizer(meta, epochs=epochs)
        t0 = time.perf_counter()
        synth.fit({"t": rows})
        out = synth.sample(n)
        out = out["t"] if isinstance(out, dict) else out
    return out.reset_index(drop=True), time.perf_counter() - t0


def _argn(rows: pd.DataFrame, n: int, minutes: float) -> tuple[pd.DataFrame, float]:
    from mostlyai.engine import TabularARGN

    t0 = time.perf_counter()
    model = TabularARGN(max_training_time=minutes)
    model.fit(rows)
    return model.sample(n_samples=n).reset_index(drop=True), time.perf_counter() - t0


def _figures(real_all: pd.DataFrame, held: pd.DataFrame, syn: pd.DataFrame, seconds: float) -> dict[str, Any]:
    from augment_jobs.tabular.quality_score import quality_score

    syn = syn[[c for c in held.columns if c in syn.columns]]
    q = quality_score(held, syn, seed=0)
    worst = q["worst_columns"][0] if q["worst_columns"] else ("", float("nan"))
    gap = max((abs(real_all[c].isna().mean() - syn[c].isna().mean()) for c in held.columns), default=0.0)
    return {"quality": q["score"], "worst": f"{worst[0]} {worst[1]:.2f}", "worst_score": worst[1],
            "missing_gap": round(100 * float(gap), 1), "seconds": round(seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", nargs="*", choices=list(TABLES), help="default: all")
    ap.add_argument("--budget", type=float, default=None, help="auto's max_fit_seconds (default: its own)")
    ap.add_argument("--auto-epochs", type=int, default=None, help="auto's neural epochs (default: from class size)")
    ap.add_argument("--candidates", nargs="*", help="auto's candidates (default: its own)")
    ap.add_argument("--tvae-epochs", type=int, default=300)
    ap.add_argument("--draw", type=int, default=1000, help="synthetic rows per method and class")
    ap.add_argument("--argn-minutes", type=float, default=2.0)
    args = ap.parse_args()
    params: dict[str, Any] = {}
    if args.budget is not None:
        params["max_fit_seconds"] = args.budget
    if args.auto_epochs is not None:
        params["epochs"] = args.auto_epochs
    if args.candidates:
        params["candidates"] = args.candidates
    argn = importlib.util.find_spec("mostlyai") is not None and importlib.util.find_spec("mostlyai.engine") is not None
    results = []
    for name in args.tables or list(TABLES):
        df, label = TABLES[name]()
        if df[label].dtype.kind == "f":  # whole-number float labels (statsmodels) as integers, as configs name them
            df[label] = df[label].astype("int64")
        counts = df[label].value_counts()
        cls = counts[counts >= MIN_CLASS].index[-1]
        rows = df[df[label] == cls].drop(columns=[label])
        train_rows, held = _split(rows, 0)
        train = pd.concat([df[df[label] != cls], df.loc[train_rows.index]])
        real_all = rows.reset_index(drop=True)
        row: dict[str, Any] = {"table": name, "class": f"{label}={cls}", "rows": len(rows)}
        syn, seconds, row["chosen"] = _auto(train, label, cls, args.draw, params)
        row["auto"] = _figures(real_all, held, syn, seconds)
        fit_rows = train_rows.reset_index(drop=True)
        row["copula"] = _figures(real_all, held, *_bare("copula", fit_rows, args.draw, 0))
        row["tvae"] = _figures(real_all, held, *_bare("tvae", fit_rows, args.draw, args.tvae_epochs))
        if argn:
            row["argn"] = _figures(real_all, held, *_argn(fit_rows, args.draw, args.argn_minutes))
        results.append(row)
        print(row, file=sys.stderr, flush=True)
    _report(results, argn, args)


def _report(results: list[dict[str, Any]], argn: bool, args: argparse.Namespace) -> None:
    methods = ["auto", "copula", "tvae"] + (["argn"] if argn else [])
    print(f"auto params: max_fit_seconds={args.budget or 'default'}, epochs={args.auto_epochs or 'from class size'}, "
          f"candidates={args.candidates or 'default'}; bare TVAE {args.tvae_epochs} epochs; {args.draw} rows drawn; "
          f"TabularARGN {'run' if argn else 'not installed'}\n")
    head = " | ".join(f"{m} quality | {m} worst column | {m} missing gap (pts) | {m} s" for m in methods)
    print(f"| table | class | rows | auto: choice; candidates (held-out score, fit s, epochs) | {head} |")
    print("|---|---|---:|---|" + "---:|---|---:|---:|" * len(methods))
    for r in results:
        cells = " | ".join(f"{r[m]['quality']} | {r[m]['worst']} | {r[m]['missing_gap']} | {r[m]['seconds']}"
                           for m in methods)
        print(f"| {r['table']} | {r['class']} | {r['rows']} | {r['chosen']} | {cells} |")
    goals = {
        "auto >= best bare candidate": [r["auto"]["quality"] >= max(r[m]["quality"] for m in methods[1:]) for r in results],
        "quality >= 0.85 on classes of 200+ rows": [r["auto"]["quality"] >= 0.85 for r in results if r["rows"] >= 200],
        "every column shape >= 0.70": [r["auto"]["worst_score"] >= 0.70 for r in results],
        "missing-share gap <= 2 points": [r["auto"]["missing_gap"] <= 2 for r in results],
        "auto seconds <= 3x the bare copula's": [r["auto"]["seconds"] <= 3 * max(r["copula"]["seconds"], 0.1)
                                                 for r in results],
    }
    print("\n| goal | classes passing | result |\n|---|---:|---|")
    for goal, ok in goals.items():
        print(f"| {goal} | {sum(ok)} of {len(ok)} | {'pass' if ok and all(ok) else 'FAIL' if ok else 'n/a'} |")
    ratio = [r["auto"]["quality"] / max(r[m]["quality"] for m in methods[1:]) for r in results]
    print(f"\nauto / best bare quality: mean {np.mean(ratio):.3f}, min {min(ratio):.3f}; "
          f"auto / bare copula seconds: mean {np.mean([r['auto']['seconds'] / max(r['copula']['seconds'], .1) for r in results]):.1f}x")


if __name__ == "__main__":
    main()
