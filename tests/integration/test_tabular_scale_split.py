"""`split` on the streamed tabular path, through `augment run` on scikit-learn's breast-cancer table
(made imbalanced, written as several Parquet parts): the same `_split` per row and the same split
notes as the in-memory path, no synthetic row derived from a holdout row, the same bytes for any
number of tasks, and efficacy / privacy measured by the gate on its bounded sample."""

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
from augment_jobs.reader import open_dataset

DS = "2026-11-02"
pytestmark = pytest.mark.integration


def cancer(minority: int = 60) -> pd.DataFrame:
    """Every benign case and `minority` malignant ones, with a string patient id."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    data["diagnosis"] = data.pop("target").map({0: "malignant", 1: "benign"})
    data.insert(0, "patient", [f"p{i:04d}" for i in range(len(data))])
    return pd.concat([data[data["diagnosis"] == "benign"], data[data["diagnosis"] == "malignant"].head(minority)]
                     ).sample(frac=1.0, random_state=5).reset_index(drop=True)


def write_parts(store: Path, name: str, df: pd.DataFrame, cuts: list[int]) -> None:
    raw = store / "raw" / name / DS
    raw.mkdir(parents=True, exist_ok=True)
    for i, (a, b) in enumerate(zip([0, *cuts], [*cuts, len(df)], strict=True)):
        pq.write_table(pa.Table.from_pandas(df.iloc[a:b], preserve_index=False), raw / f"part-{i}.parquet",
                       row_group_size=40)


def config(tmp: Path, name: str, publish: str, *, params: dict[str, Any], method: str = "smote", **body: Any) -> Path:
    (tmp / "configs").mkdir(parents=True, exist_ok=True)
    path = tmp / "configs" / f"{publish}.yaml"
    source = {"uri": f"{{store}}/raw/{name}/{{ds}}/", "format": "parquet", **body.pop("source", {})}
    path.write_text(yaml.safe_dump({
        "dataset": name, "modality": "tabular", "label": "diagnosis", "seed": 11, "source": source,
        "split": {"holdout": 0.25},
        "publish": {"uri": f"{{store}}/published/{publish}", "rows_per_file": 90},
        "augment": [{"method": method, "params": params}], **body,
    }))
    return path


def run(store: Path, path: Path, publish: str) -> tuple[pd.DataFrame, dict[str, Any], Path]:
    assert main(["run", str(path), "--date", DS]) == 0
    ds = open_dataset(str(store / "published" / publish))
    return ds.to_pandas(), ds.manifest, store / "published" / publish / "versions" / ds.version


def tasks(manifest: dict[str, Any]) -> int:
    """Augment tasks of a run, as logged to MLflow."""
    from mlflow.tracking import MlflowClient

    ml = manifest["mlflow"]
    history = MlflowClient(ml["tracking_uri"]).get_metric_history(ml["run_id"], "augment.stream_tasks")
    return int(max((h.value for h in history), default=0))  # one value per task: task 0 reports it


def sides(df: pd.DataFrame) -> dict[str, str]:
    real = df[~df["_synthetic"]]
    return dict(zip(real["_id"], real["_split"], strict=True))


def test_streamed_split_matches_memory_and_measures_efficacy(store: Path, tmp_path: Path) -> None:
    df = cancer().drop(columns=["patient"])  # ids: `<file>#<row>`
    write_parts(store, "cancer", df, [150, 290])
    efficacy = {"efficacy": {"model": "logistic", "metric": "f1_minority"}}
    params = {"sampling_strategy": 0.5}
    memory, m_mem, _ = run(store, config(tmp_path, "cancer", "mem", params=params, quality=efficacy), "mem")
    assert tasks(m_mem) == 1
    out, files = [], []
    for n, per in enumerate((1000, 150)):  # one task, then three
        path = config(tmp_path, "cancer", f"s{n}", params=params, quality=efficacy, source={"rows_per_task": per})
        streamed, m, version = run(store, path, f"s{n}")
        assert tasks(m) == (1, 3)[n]
        out.append((streamed, m))
        files.append([(f["path"], f["sha256"]) for f in m["files"]])
    assert files[0] == files[1]  # the same bytes for 1 and 3 tasks
    # ... and as with rows_per_task unset: one engine, no switch at any size
    assert [(f["path"], f["sha256"]) for f in m_mem["files"]] == files[0]
    streamed, m = out[1]

    # (1) the same `_split` per real row as the in-memory path, and a 0.25 share per class
    assert sides(streamed) == sides(memory)
    real = streamed[~streamed["_synthetic"]]
    for cls, group in real.groupby("diagnosis"):
        assert (group["_split"] == "holdout").sum() == round(0.25 * len(group)), cls
    # methods saw train rows only: the same targets as in memory (on 0.75 of each class)
    assert m["counts"] == m_mem["counts"]
    train = real[real["_split"] == "train"]
    n_benign, n_malignant = (train["diagnosis"] == "benign").sum(), (train["diagnosis"] == "malignant").sum()
    assert m["counts"]["malignant"]["synthetic"] == int(0.5 * n_benign) - n_malignant
    # (2) no synthetic row derives from a holdout row; synthetic rows are train
    syn = streamed[streamed["_synthetic"]]
    held = set(real.loc[real["_split"] == "holdout", "_id"])
    parents = {p for pair in syn["_source_ids"] for p in pair}
    assert parents and not parents & held and parents <= set(train["_id"])
    assert set(syn["_split"]) == {"train"}
    # (4) the gate's bounded sample carries `_split`: efficacy and privacy are measured
    e = m["efficacy"]
    assert e["baseline"] is not None and e["augmented"] is not None and not e.get("skipped_reason")
    assert e["rows"]["holdout"] == len(held) and e["rows"]["train"] == len(train)
    assert e["baseline"] == pytest.approx(m_mem["efficacy"]["baseline"])  # same train and holdout rows
    assert m["privacy"] and "exact_copies" in m["privacy"]
    names = {c["name"] for c in m["gate"]["checks"]}
    assert "efficacy" in names
    page = (version / "_report.html").read_text()
    assert "f1_minority" in page and "held-out real rows" in page


def test_streamed_split_notes_and_string_ids_match_memory(store: Path, tmp_path: Path) -> None:
    df = cancer(80)
    df.loc[[3, 200, 331], "diagnosis"] = "rare"  # a class too small to hold any out: noted, all train
    write_parts(store, "rare", df, [100, 250, 300])
    params = {"sampling_strategy": {"malignant": 200}}
    memory, m_mem, _ = run(store, config(tmp_path, "rare", "mem", params=params, source={"id_column": "patient"}),
                           "mem")
    path = config(tmp_path, "rare", "streamed", params=params, source={"id_column": "patient", "rows_per_task": 120})
    streamed, m, _ = run(store, path, "streamed")
    assert sides(streamed) == sides(memory)
    assert set(streamed.loc[streamed["diagnosis"] == "rare", "_split"]) == {"train"}
    notes = [n for n in m["notes"] if n.startswith("split:")]
    assert notes == [n for n in m_mem["notes"] if n.startswith("split:")]
    assert notes == ["split: class 'rare' has 3 rows, too few to hold out 0.25 of them; all stay train"]
    assert m["counts"] == m_mem["counts"]
    syn = streamed[streamed["_synthetic"]]
    held = set(streamed.loc[~streamed["_synthetic"] & (streamed["_split"] == "holdout"), "_id"])
    train_malignant = ((streamed["diagnosis"] == "malignant") & (streamed["_split"] == "train") & ~streamed["_synthetic"]).sum()
    assert len(syn) == 200 - train_malignant and not {p for pair in syn["_source_ids"] for p in pair} & held
    assert json.loads(syn["_params"].iloc[0])["step"] >= 0
    assert np.array_equal(streamed.loc[~streamed["_synthetic"], "patient"], df["patient"])  # source order kept


def test_streamed_copula_fits_on_train_rows_only(store: Path, tmp_path: Path) -> None:
    df = cancer()[["patient", "mean_radius", "mean_texture", "worst_area", "diagnosis"]]
    write_parts(store, "copula", df, [200, 300])
    copula = {"method": "gaussian_copula", "limits": {"max_synthetic_ratio": 0.6},
              "params": {"sampling_strategy": 0.5, "max_fit_rows": 30, "quality_rows": 0}}
    memory, m_mem, _ = run(store, config(tmp_path, "copula", "mem", source={"id_column": "patient"}, **copula), "mem")
    path = config(tmp_path, "copula", "streamed", source={"id_column": "patient", "rows_per_task": 150}, **copula)
    streamed, m, _ = run(store, path, "streamed")
    assert tasks(m) == 3 and sides(streamed) == sides(memory)
    assert m["counts"] == m_mem["counts"]  # targets from train rows on both paths
    fitted = [n for n in m["notes"] if "fitted on 30 of its rows" in n]
    assert fitted and fitted == [n for n in m_mem["notes"] if "fitted on 30 of its rows" in n]
    assert set(streamed.loc[streamed["_synthetic"], "_split"]) == {"train"}
