"""Tabular benchmark (issue 2): `augment run` against the bare baseline, side by side in one run.

    .venv/bin/python benchmarks/bench_tabular.py                  # smote, 1,000,000 x 20, 2% minority
    .venv/bin/python benchmarks/bench_tabular.py --rows 200000    # quicker
    .venv/bin/python benchmarks/bench_tabular.py --copula         # also gaussian_copula on 100,000 rows

Each side runs in a fresh process and is measured by wall time and peak RSS. The platform side is
the real CLI: snapshot (with source hashing) → smote with parent recording → gate (GX suite,
similarity, constraints) → publish (sha256, manifest) → MLflow lineage (the tracking store's schema
is created before timing, as on a running platform). Its in-process stage seconds are printed too,
so the fixed import cost of GX / MLflow can be told apart.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tabular_baseline import make_fraud_table  # noqa: E402

DS = "2026-01-01"


def _child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run `cmd`; wall seconds, peak RSS (MiB) of that child alone (os.wait4), its stderr."""
    with tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed ({proc.returncode}):\n{stderr[-2000:]}")
    return wall, usage.ru_maxrss // 1024, stderr


def _config(tmp: Path, method: str, params: dict) -> Path:
    (tmp / "configs").mkdir()
    (tmp / "expectations").mkdir()
    (tmp / "expectations" / "bench.json").write_text(json.dumps({"name": "bench", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "f00"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "is_fraud", "value_set": [0, 1]}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "_id"}},
    ]}))
    cfg = tmp / "configs" / "bench.yaml"
    cfg.write_text(json.dumps({
        "dataset": "bench", "modality": "tabular", "seed": 1,
        "source": {"uri": "{store}/raw/bench/{ds}/", "format": "parquet"}, "label": "is_fraud",
        "augment": [{"method": method, "params": params}],
        "limits": {"max_synthetic_ratio": 0.5},
        "quality": {"suite": "expectations/bench.json", "similarity": {"max_ks": 0.5, "max_tvd": 0.5}},
        "publish": {"uri": "{store}/published/bench", "format": "parquet"},
    }))
    return cfg


def platform(rows: int, method: str, params: dict, baseline_call: str) -> dict:
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        raw = tmp / "store" / "raw" / "bench" / DS
        raw.mkdir(parents=True)
        src = raw / "part-0.parquet"
        make_fraud_table(str(src), rows, seed=0)
        cfg = _config(tmp, method, params)
        env = {**os.environ, "AUGMENT_STORE": str(tmp / "store"),
               "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
        # a platform's tracking store exists already: create the MLflow schema outside the timing
        subprocess.run([sys.executable, "-c", "import mlflow; mlflow.MlflowClient("
                        f"{env['MLFLOW_TRACKING_URI']!r}).search_experiments()"], check=True, capture_output=True)
        code = ("import sys, time; sys.path.insert(0, 'benchmarks'); import tabular_baseline as b; "
                f"t = time.perf_counter(); {baseline_call.format(src=str(src), out=str(tmp / 'bare.parquet'))}; "
                "print('TOTAL', time.perf_counter() - t, file=sys.stderr)")
        base_wall, base_rss, base_err = _child([sys.executable, "-c", code])
        run_wall, run_rss, run_err = _child([sys.executable, "-m", "augment_jobs", "run", str(cfg), "--date", DS], env)
        stages = {m[0]: float(m[1]) for m in re.findall(r"\[\d/5\] (\w+) .*?\(([\d.]+)s\)", run_err)}
        return {
            "rows": rows, "method": method,
            "baseline": {"wall_s": round(base_wall, 2), "peak_rss_mib": base_rss},
            "platform": {"wall_s": round(run_wall, 2), "peak_rss_mib": run_rss, "stage_s": stages,
                         "in_process_s": round(sum(stages.values()), 2)},
            "wall_ratio": round(run_wall / base_wall, 2),
            "in_process_ratio_vs_baseline_wall": round(sum(stages.values()) / base_wall, 2),
            "rss_ratio": round(run_rss / base_rss, 2),
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--copula", action="store_true")
    ap.add_argument("--copula-rows", type=int, default=100_000)
    args = ap.parse_args()
    results = [platform(args.rows, "smote", {"sampling_strategy": 0.25, "k_neighbors": 5},
                        "b.bare_smote({src!r}, {out!r})")]
    if args.copula:
        n = args.copula_rows
        n_new = int(0.25 * n * 0.98) - int(n * 0.02)  # about the rows sampling_strategy 0.25 adds
        results.append(platform(n, "gaussian_copula", {"sampling_strategy": 0.25},
                                f"b.bare_gaussian_copula({{src!r}}, {{out!r}}, {n_new})"))
    for r in results:
        print(f"{r['method']:<16} rows={r['rows']:>9}  baseline {r['baseline']['wall_s']:>6.1f}s "
              f"{r['baseline']['peak_rss_mib']:>5} MiB | augment run {r['platform']['wall_s']:>6.1f}s "
              f"{r['platform']['peak_rss_mib']:>5} MiB | wall x{r['wall_ratio']}  "
              f"(in-process stages x{r['in_process_ratio_vs_baseline_wall']})  memory x{r['rss_ratio']}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
