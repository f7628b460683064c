"""Does it help, does it leak: a leak-free holdout, efficacy and privacy figures and gates, and the
per-version HTML report, through `augment run` on scikit-learn's bundled breast-cancer table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from augment_jobs.cli import main
from augment_jobs.reader import open_dataset

DS = "2026-04-01"
pytestmark = [pytest.mark.integration]


def cancer(minority: int = 60) -> pd.DataFrame:
    """Breast cancer, made imbalanced: every benign case, `minority` malignant ones."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    data["diagnosis"] = data.pop("target").map({0: "malignant", 1: "benign"})
    data.insert(0, "patient_id", range(1000, 1000 + len(data)))
    return pd.concat([data[data["diagnosis"] == "benign"], data[data["diagnosis"] == "malignant"].head(minority)])


def setup(store: Path, tmp: Path, df: pd.DataFrame, name: str = "cancer", **body: object) -> Path:
    raw = store / "raw" / name / DS
    raw.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), raw / "part-0.parquet")
    (tmp / "configs").mkdir(exist_ok=True)
    path = tmp / "configs" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "dataset": name, "modality": "tabular", "label": "diagnosis",
        "source": {"uri": f"{{store}}/raw/{name}/{{ds}}/", "id_column": "patient_id"},
        "publish": {"uri": f"{{store}}/published/{name}"},
        "augment": [{"method": "smote", "params": {"sampling_strategy": 0.5}}], **body,
    }))
    return path


def test_holdout_efficacy_privacy_and_report(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = setup(store, tmp_path, cancer(), split={"holdout": 0.25},
                 quality={"efficacy": {"model": "logistic", "metric": "f1_minority"},
                          "privacy": {"max_exact_copies": 0}})
    assert main(["run", str(path), "--date", DS]) == 0
    ds = open_dataset(str(store / "published" / "cancer"))
    df = ds.to_pandas()
    real = df[~df["_synthetic"]]
    held = set(real.loc[real["_split"] == "holdout", "_id"])
    assert set(df.loc[df["_synthetic"], "_split"]) == {"train"}
    assert 0.2 < len(held) / len(real) < 0.3
    assert abs(real.loc[real["_split"] == "holdout", "diagnosis"].value_counts(normalize=True)["malignant"]
               - real["diagnosis"].value_counts(normalize=True)["malignant"]) < 0.03  # stratified
    parents = {p for ps in df.loc[df["_synthetic"], "_source_ids"] for p in ps}
    assert parents and not parents & held, "a synthetic row derives from a holdout row"
    e, p = ds.manifest.efficacy, ds.manifest.privacy
    assert e["model"] == "logistic" and e["baseline"] is not None and e["uplift"] == pytest.approx(e["augmented"] - e["baseline"])
    assert p["exact_copies"] == 0 and p["close_share"] is not None and "faiss" in p["index"]
    checks = {c.name: c for c in ds.manifest.gate.checks}
    assert checks["efficacy"].passed and checks["privacy_exact_copies"].passed
    capsys.readouterr()
    assert main(["report", str(store / "published" / "cancer")]) == 0
    html = Path(capsys.readouterr().out.strip())
    assert html == store / "published" / "cancer" / "versions" / ds.version / "_report.html" and ds.manifest.report_uri
    page = html.read_text()
    assert "<img" in page and "http://" not in page.split("<body", 1)[1][:2000] and "f1_minority" in page


def test_split_is_deterministic_and_independent_of_row_order(store: Path, tmp_path: Path) -> None:
    df = cancer()
    path = setup(store, tmp_path, df, split={"holdout": 0.25})
    assert main(["run", str(path), "--date", DS]) == 0
    first = open_dataset(str(store / "published" / "cancer")).to_pandas()
    path = setup(store, tmp_path, df.sample(frac=1.0, random_state=3), name="shuffled", split={"holdout": 0.25})
    assert main(["run", str(path), "--date", DS]) == 0
    second = open_dataset(str(store / "published" / "shuffled")).to_pandas()
    split = lambda d: dict(zip(d.loc[~d["_synthetic"], "patient_id"], d.loc[~d["_synthetic"], "_split"], strict=True))  # noqa: E731
    assert split(first) == split(second)


def test_exact_duplicates_make_exact_copies_and_the_privacy_gate_catches_them(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = cancer()
    minority = df[df["diagnosis"] == "malignant"]
    dupes = pd.concat([minority.head(20)] * 3).assign(patient_id=range(5000, 5060))  # each row three times
    path = setup(store, tmp_path, pd.concat([df, dupes]), quality={"privacy": {"max_exact_copies": 0}})
    assert main(["run", str(path), "--date", DS]) == 3
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert "privacy_exact_copies" in err[0] and "quality.privacy.max_exact_copies" in err[0]
    assert main(["report", str(store / "published" / "cancer"), DS + ".x"]) == 2
    capsys.readouterr()
    (version,) = [p.name for p in (store / "published" / "cancer" / "quarantine").iterdir()]
    assert main(["report", str(store / "published" / "cancer"), version]) == 3
    page = Path(capsys.readouterr().out.strip()).read_text()
    assert "QUARANTINED" in page.upper() and "privacy_exact_copies" in page


def test_efficacy_on_a_one_class_holdout_is_skipped_with_a_reason(store: Path, tmp_path: Path) -> None:
    df = cancer(minority=3)  # too few malignant rows to hold any out: the holdout is benign only
    path = setup(store, tmp_path, df, split={"holdout": 0.2},
                 quality={"efficacy": {"model": "hist_gbm", "metric": "recall_minority"}})
    assert main(["run", str(path), "--date", DS]) == 0
    m = open_dataset(str(store / "published" / "cancer")).manifest
    assert m.efficacy["skipped_reason"] and m.efficacy["baseline"] is None
    assert any("malignant" in n and n.startswith("split:") for n in m.notes)


@pytest.mark.parametrize("body, message", [
    ({"quality": {"efficacy": {"model": "logistic"}}}, "quality.efficacy needs a holdout"),
    ({"split": {"holdout": 0}}, "split.holdout"),
    ({"split": {"holdout": 1}}, "split.holdout"),
])
def test_bad_split_and_efficacy_configs_exit_2(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               body: dict, message: str) -> None:
    path = setup(store, tmp_path, cancer(), **body)
    assert main(["run", str(path), "--date", DS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
