"""`neighbours: approximate` for the SMOTE family: recall@k measured and recorded (step metrics, gate
report, manifest), the `min_recall` gate (exit 3) and its range (exit 2), and output that does not
depend on the task count or on faiss's thread count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from augment_jobs.cli import main
from augment_jobs.config import DatasetConfig
from augment_jobs.reader import open_dataset
from augment_jobs.registry import AugmentContext
from augment_jobs.tabular.engine import run_frame

DS = "2026-11-01"
FAMILY = [("smote", {}), ("smotenc", {"categorical_features": ["region"]}), ("borderline_smote", {}),
          ("borderline_smote", {"kind": "borderline-2"}), ("adasyn", {})]


def frame(n: int = 3000, features: int = 20, seed: int = 0, *, categorical: bool = False) -> pd.DataFrame:
    """Gaussian features shifted for a 15% minority, and a 3-valued category (for SMOTE-NC)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.15
    df = pd.DataFrame({f"f{j}": rng.normal(size=n) + y for j in range(features)})
    if categorical:
        df["region"] = rng.choice(["north", "south", "east"], n)
    df["label"] = np.where(y, "yes", "no")
    return df


def run(df: pd.DataFrame, method: str, params: dict[str, Any], tasks: int = 1) -> tuple[pd.DataFrame, AugmentContext]:
    cfg = DatasetConfig(dataset="approx", modality="tabular", seed=5, source={"uri": "mem://"}, label="label",
                        augment=[{"method": method, "params": params}], publish={"uri": "mem://out"})
    ctx = AugmentContext(cfg=cfg, ds=DS)
    return run_frame(df, cfg, DS, ctx=ctx, tasks=tasks), ctx


@pytest.mark.parametrize(("method", "extra"), FAMILY, ids=[f"{m}-{e.get('kind', '')}" for m, e in FAMILY])
def test_approximate_is_the_same_for_any_task_count_and_faiss_threads(method: str, extra: dict[str, Any]) -> None:
    import faiss

    df = frame(1500, features=6, categorical="categorical_features" in extra)
    params = {**extra, "neighbours": "approximate"}
    one, ctx = run(df, method, params, tasks=1)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)  # the search runs on one thread whatever the process asked for
    try:
        three, _ = run(df, method, params, tasks=3)
    finally:
        faiss.omp_set_num_threads(before)
    same = [c for c in one.columns if c not in ("_id", "_source_ids")]  # real ids name the temporary part file
    pd.testing.assert_frame_equal(one[same], three[same])
    assert one["_synthetic"].sum() > 0
    searches = {r["search"] for r in ctx.recall}
    assert searches == ({"all-class"} if extra.get("kind") else
                        {"all-class", "same-class"} if method in ("borderline_smote", "adasyn") else {"same-class"})
    assert all(0 < r["recall"] <= 1 and r["min_recall"] == 0.95 for r in ctx.recall)
    assert ctx.metrics[f"{method}_recall"] == min(r["recall"] for r in ctx.recall)


def test_exact_records_no_recall_and_a_tiny_search_lowers_it() -> None:
    df = frame()
    _, exact = run(df, "smote", {})
    assert exact.recall == [] and "smote_recall" not in exact.metrics
    _, tiny = run(df, "smote", {"neighbours": "approximate", "ef_search": 1})
    _, wide = run(df, "smote", {"neighbours": "approximate", "ef_search": 256})
    assert tiny.recall[0]["recall"] < wide.recall[0]["recall"] <= 1.0
    assert tiny.recall[0]["sample"] == min(1000, int((df["label"] == "yes").sum()))


# --- through the CLI: the gate report, the manifest, exit codes -------------------------------------
def write_source(store: Path) -> None:
    folder = store / "raw" / "approx" / DS
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame(), preserve_index=False)
    pq.write_table(table, folder / "part-0.parquet")


def config(tmp: Path, params: dict[str, Any]) -> Path:
    cfg = {
        "dataset": "approx", "modality": "tabular", "seed": 3,
        "source": {"uri": "{store}/raw/approx/{ds}/", "format": "parquet"}, "label": "label",
        "augment": [{"method": "smote", "params": {"sampling_strategy": 0.25, **params}}],
        "publish": {"uri": f"{{store}}/published/approx-{tmp.name}"},
    }
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "approx.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_recall_goes_to_the_gate_report_and_the_manifest(store: Path, tmp_path: Path) -> None:
    write_source(store)
    assert main(["run", str(config(tmp_path, {"neighbours": "approximate"})), "--date", DS]) == 0
    ds = open_dataset(str(store / "published" / f"approx-{tmp_path.name}"))
    recall = ds.manifest["recall"]
    assert recall["min_recall"] == 0.95 and 0.95 <= recall["recall"] <= 1.0
    assert [s["search"] for s in recall["searches"]] == ["same-class"]
    report = json.loads(Path(ds.manifest["gate"]["report_uri"]).read_text())
    assert report["recall"] == recall
    check = next(c for c in report["checks"] if c["name"] == "neighbour_recall")
    assert check["passed"] and "min_recall 0.95" in check["detail"]


def test_recall_below_min_recall_fails_the_gate_with_exit_3(store: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    write_source(store)
    cfg = config(tmp_path, {"neighbours": "approximate", "min_recall": 1.0, "ef_search": 1})
    assert main(["run", str(cfg), "--date", DS]) == 3
    err = capsys.readouterr().err
    assert "neighbour_recall" in err and "min_recall 1.0" in err and "recall 0.9" in err
    assert not (store / "published" / f"approx-{tmp_path.name}" / "_latest").exists()


@pytest.mark.parametrize("bad", [0, -0.1, 1.5])
def test_min_recall_outside_0_1_is_one_line_exit_2(store: Path, tmp_path: Path, bad: float,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    write_source(store)
    assert main(["run", str(config(tmp_path, {"neighbours": "approximate", "min_recall": bad})), "--date", DS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "augment[0].params.min_recall" in err and str(bad) in err
