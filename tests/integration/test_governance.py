"""Governance through `augment` on real tables: approvals, the hash-chained audit log, limitations,
the bias audit gate, and the report showing them (breast cancer and Palmer penguins, bundled)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from augment_jobs.cli import main
from augment_jobs.reader import open_dataset

DS, DS2 = "2026-05-01", "2026-05-02"
pytestmark = [pytest.mark.integration]
LIMITS = ["not for diagnosis of patients under 18", "synthetic rows are not to be used as test data"]


def cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    data = data[["mean_radius", "mean_texture", "mean_area", "mean_smoothness", "worst_area", "target"]]
    data["diagnosis"] = data.pop("target").map({0: "malignant", 1: "benign"})
    data.insert(0, "patient_id", range(1000, 1000 + len(data)))
    return pd.concat([data[data["diagnosis"] == "benign"], data[data["diagnosis"] == "malignant"].head(60)])


def setup(store: Path, tmp: Path, df: pd.DataFrame, *, name: str = "cancer", dates: tuple[str, ...] = (DS,),
          label: str = "diagnosis", **body: object) -> Path:
    for ds in dates:
        raw = store / "raw" / name / ds
        raw.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), raw / "part-0.parquet")
    (tmp / "configs").mkdir(exist_ok=True)
    path = tmp / "configs" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "dataset": name, "modality": "tabular", "label": label, "seed": 5,
        "source": {"uri": f"{{store}}/raw/{name}/{{ds}}/", "id_column": "patient_id" if name == "cancer" else None},
        "publish": {"uri": f"{{store}}/published/{name}"},
        "augment": [{"method": "smote", "params": {"sampling_strategy": 0.5}}], **body,
    }))
    return path


def audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["audit", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_approve_run_audit_and_the_approval_everywhere(store: Path, tmp_path: Path, capsys) -> None:
    path = setup(store, tmp_path, cancer(), limitations=LIMITS, governance={"require_approval": True},
                 dates=(DS, DS2))
    pub = store / "published" / "cancer"
    # unapproved: exit 2, one line naming the fingerprint and the command; nothing published
    capsys.readouterr()
    assert main(["run", str(path), "--date", DS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"augment approve {path} --by NAME" in err and "is not approved" in err
    assert not (pub / "versions").exists() and not (pub / "_latest").exists()

    assert main(["approve", str(path), "--by", "Grace Hopper", "--note", "reviewed with the clinic"]) == 0
    assert "approved  policy" in capsys.readouterr().out
    assert main(["run", str(path), "--date", DS]) == 0
    ds = open_dataset(str(pub))
    m = ds.manifest
    assert m.approval["by"] == "Grace Hopper" and m.approval["note"] == "reviewed with the clinic"
    assert m.approval["policy"] == m.policy == m.config_sha256 and m.approval["entry"] == 0
    assert m.limitations == LIMITS
    page = (pub / "versions" / ds.version / "_report.html").read_text()
    assert "Grace Hopper" in page and LIMITS[0] in page and "Calibration" not in page  # no efficacy asked
    capsys.readouterr()
    assert main(["show", "cancer"]) == 0
    shown = capsys.readouterr().out
    assert f"policy       {m.policy[:12]}  approved by Grace Hopper" in shown and f"limitation   {LIMITS[1]}" in shown

    # MLflow: the approval and the limitations on the run
    from mlflow.tracking import MlflowClient

    run = MlflowClient().get_run(m.mlflow.run_id)
    assert run.data.tags["augment.approved_by"] == "Grace Hopper"
    assert run.data.tags["augment.policy"] == m.policy and LIMITS[1] in run.data.tags["augment.limitations"]
    assert json.loads(run.data.params["limitations"]) == LIMITS
    note = run.data.tags["mlflow.note.content"]
    assert note.startswith("**PASSED") and "approved by Grace Hopper" in note and f"- {LIMITS[0]}" in note

    # a second date, a rollback, and a gate failure all land in the trail
    assert main(["run", str(path), "--date", DS2]) == 0
    assert main(["rollback", str(pub), ds.version]) == 0
    cfg = yaml.safe_load(path.read_text())
    cfg["limits"] = {"max_synthetic_ratio": 0.05}
    path.write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert main(["run", str(path), "--date", DS2]) == 2  # a changed config is a new, unapproved policy
    assert main(["approve", str(path), "--by", "Ada"]) == 0
    assert main(["run", str(path), "--date", DS2]) == 3  # approved, but the gate fails
    code, out, _ = audit(capsys, "cancer")
    assert code == 0
    kinds = [line.split()[2] for line in out.splitlines()[1:-1]]
    assert kinds == ["approval", "published", "published", "rollback", "approval", "quarantine"]
    assert "approved by Grace Hopper" in out and "chain     intact: 6 entries" in out
    assert "failed: synthetic_share" in out and f"-> {ds.version}" in out
    assert open_dataset(str(pub)).version == ds.version  # latest untouched by the refused and failed runs


def test_tampered_log_names_the_entry_and_stops_required_runs(store: Path, tmp_path: Path, capsys) -> None:
    path = setup(store, tmp_path, cancer())
    assert main(["approve", str(path), "--by", "Grace Hopper"]) == 0
    assert main(["run", str(path), "--date", DS]) == 0
    log = store / "published" / "cancer" / "_audit"
    assert sorted(p.name for p in log.iterdir()) == ["00000000.json", "00000001.json"]
    assert audit(capsys, str(path))[0] == 0  # by config path too

    first = json.loads((log / "00000000.json").read_text())
    first["by"] = "Mallory"
    (log / "00000000.json").write_text(json.dumps(first))
    code, out, err = audit(capsys, "cancer")
    assert code == 2 and "entry 0" in err and "00000000.json was changed after it was written" in err
    assert len(err.strip().splitlines()) == 1

    # a required run refuses to trust a broken log
    capsys.readouterr()
    assert main(["run", str(path), "--date", DS, "--force"]) == 0  # not required: it runs
    cfg = yaml.safe_load(path.read_text())
    cfg["governance"] = {"require_approval": True}
    path.write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert main(["run", str(path), "--date", DS]) == 2
    assert "the chain breaks at entry 0" in capsys.readouterr().err

    # deleting an entry (after restoring the edited one) names the missing link
    first["by"] = "Grace Hopper"
    (log / "00000000.json").write_text(json.dumps(first))
    assert audit(capsys, "cancer")[0] == 0
    # a careful forger rewrites the whole chain, every hash recomputed: the manifests' copies disagree
    from augment_jobs.governance import entry_hash

    saved = {p.name: p.read_text() for p in log.iterdir()}
    prev = "0" * 64
    for name in sorted(saved):
        e = json.loads(saved[name])
        e["by"] = "Mallory" if e["kind"] == "approval" else e["by"]
        if e.get("approval"):
            e["approval"]["by"] = "Mallory"
        e["prev"] = prev
        e["hash"] = prev = entry_hash(e)
        (log / name).write_text(json.dumps(e))
    code, _, err = audit(capsys, "cancer")
    assert code == 2 and "entry 0 is not the approval version" in err and "rewritten" in err
    for name, text in saved.items():
        (log / name).write_text(text)
    (log / "00000000.json").unlink()
    code, _, err = audit(capsys, "cancer")
    assert code == 2 and "entry 0" in err and "00000000.json is missing" in err


def test_env_requires_approval_and_bad_configs_are_not_approved(store: Path, tmp_path: Path, capsys,
                                                                monkeypatch) -> None:
    path = setup(store, tmp_path, cancer())
    monkeypatch.setenv("AUGMENT_REQUIRE_APPROVAL", "1")
    capsys.readouterr()
    assert main(["run", str(path), "--date", DS]) == 2
    assert "AUGMENT_REQUIRE_APPROVAL" in capsys.readouterr().err

    bad = tmp_path / "configs" / "bad.yaml"
    body = yaml.safe_load(path.read_text())
    body["augment"][0]["params"]["k_neighbours"] = 3
    bad.write_text(yaml.safe_dump(body))
    assert main(["approve", str(bad), "--by", "Ada"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "k_neighbours" in err
    assert not (store / "published" / "cancer" / "_audit").exists()
    assert main(["audit", "cancer"]) == 2  # no log yet: says so

    # limitations are part of the policy: an approval does not cover a config whose limitations changed
    assert main(["approve", str(path), "--by", "Ada"]) == 0
    body["augment"][0]["params"].pop("k_neighbours")
    body["limitations"] = ["not for children"]
    path.write_text(yaml.safe_dump(body))
    capsys.readouterr()
    assert main(["run", str(path), "--date", DS]) == 2


def penguins() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins().dropna().reset_index(drop=True)


def test_bias_audit_gates_and_reports(store: Path, tmp_path: Path, capsys) -> None:
    body = {"augment": [{"method": "smotenc", "params": {"sampling_strategy": {"Chinstrap": 200},
                                                         "categorical_features": ["island", "sex"]}}]}
    path = setup(store, tmp_path, penguins(), name="penguins", label="species", **body,
                 limits={"max_synthetic_ratio": 0.5},
                 quality={"fairness": {"groups": ["island", "sex"], "max_disparity_change": 0.05}})
    capsys.readouterr()
    assert main(["run", str(path), "--date", DS]) == 3
    err = capsys.readouterr().err
    assert "fairness.island" in err and "'island'" in err
    q = store / "published" / "penguins" / "quarantine"
    (version,) = [p.name for p in q.iterdir()]
    report = json.loads((q / version / "gate" / "report.json").read_text())
    island = report["fairness"]["island"]
    assert island["change_class"] == "Chinstrap" and island["change"] > 0.05
    assert island["groups"]["Dream"]["synthetic"] == 200 - 68 and island["groups"]["Biscoe"]["synthetic"] == 0
    checks = {c["name"]: c for c in report["checks"]}
    assert not checks["fairness.island"]["passed"]
    page = (q / version / "report.html").read_text()
    assert "Bias audit" in page and "Dream" in page

    # a loose limit passes; the figures go to the manifest; with a holdout, calibration too
    cfg = yaml.safe_load(path.read_text())
    cfg["quality"]["fairness"]["max_disparity_change"] = 0.9
    cfg["quality"]["efficacy"] = {"model": "logistic", "metric": "recall_minority"}
    cfg["split"] = {"holdout": 0.3}
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path), "--date", DS]) == 0
    ds = open_dataset(str(store / "published" / "penguins"))
    m = ds.manifest
    assert m.fairness["island"]["change_class"] == "Chinstrap" and "sex" in m.fairness
    checks = {c.name: c for c in m.gate.checks}
    assert checks["fairness.island"].passed and "0.9" in checks["fairness.island"].detail
    e = m.efficacy
    assert list(e["per_class_recall"])[0] == "Chinstrap" and e["per_class_recall"]["Chinstrap"]["tail"]
    assert e["calibration"]["baseline"]["brier"] >= 0 and e["calibration"]["augmented"]["reliability"]
    page = (store / "published" / "penguins" / "versions" / ds.version / "_report.html").read_text()
    assert "Calibration and per-class recall" in page and "Bias audit" in page and "not approved" in page
    from mlflow.tracking import MlflowClient

    metrics = MlflowClient().get_run(m.mlflow.run_id).data.metrics
    assert metrics["gate.efficacy.brier_augmented"] == e["calibration"]["augmented"]["brier"]
    assert metrics["gate.fairness.island.change"] == m.fairness["island"]["change"]
    assert "gate.efficacy.tail_recall_baseline" in metrics

    # a group column the source does not have: one line, exit 2, nothing published
    cfg["quality"]["fairness"]["groups"] = ["continent"]
    path.write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert main(["run", str(path), "--date", DS]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "'continent' is not in the source" in errors[0]
    assert [p.name for p in (store / "published" / "penguins" / "versions").iterdir()] == [m.version]
