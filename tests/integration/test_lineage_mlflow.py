"""What MLflow shows for a refresh (docs/metrics.md): verdict, tags, resolved params, dataset inputs,
true duration; a failed gate; and a tracking server that is down while a version publishes."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "airflow"))
from tiny import write_tiny, write_tiny_raw  # noqa: E402

from augment_jobs.cli import main  # noqa: E402
from augment_jobs.publish import read_manifest  # noqa: E402

DS = "2026-01-05"
pytestmark = [pytest.mark.integration]
#: the naming scheme of docs/metrics.md
METRIC = re.compile(r"^(rows|class|augment|gate|time|throughput|skipped)\.[A-Za-z0-9_\-. /]+$")


def _client(uri: str):  # noqa: ANN202
    import mlflow

    return mlflow.MlflowClient(uri)


def _run_of(uri: str, dataset: str):  # noqa: ANN202
    client = _client(uri)
    exp = client.get_experiment_by_name(f"augment/{dataset}")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return exp, runs[0]


def test_a_published_run_leads_with_its_verdict(store: Path, tmp_path: Path, mlflow_uri: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = write_tiny(tmp_path, dataset="obs_ok")
    write_tiny_raw(store, DS, dataset="obs_ok")
    t0 = time.time()
    assert main(["run", str(config), "--date", DS]) == 0
    version = re.search(r"^version\s+(\S+)", capsys.readouterr().out, re.M).group(1)
    manifest = read_manifest(f"{store}/published/obs_ok", version)
    exp, run = _run_of(mlflow_uri, "obs_ok")

    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "eda" in exp.tags["mlflow.note.content"] and "obs_ok.yaml" in exp.tags["mlflow.note.content"]
    tags = run.data.tags
    assert tags["mlflow.note.content"].startswith(f"**PASSED: published `{version}`**")
    assert "| pos | 40 | 80 | +40 |" in tags["mlflow.note.content"]
    assert (tags["augment.gate"], tags["augment.failed_checks"], tags["augment.version"]) == ("passed", "none", version)
    assert tags["augment.manifest_uri"] == manifest["manifest_uri"]
    assert run.info.status == "FINISHED"
    # the run spans the refresh: it starts before the snapshot's listing and ends after publishing
    assert t0 * 1000 <= run.info.start_time and run.info.end_time - run.info.start_time < 600_000
    assert run.data.metrics["time.total_s"] > 0 and run.data.metrics["time.augment_s"] > 0
    params = run.data.params
    assert params["source.uri"] == f"{store}/raw/obs_ok/{DS}/" and params["publish.uri"] == f"{store}/published/obs_ok"
    assert not [k for k, v in params.items() if "{" in v and "}" in v and "{store}" in v or v in ("null", "None")]
    assert params["version"] == version and params["seed"] == "3"
    assert all(METRIC.match(k) for k in run.data.metrics), sorted(run.data.metrics)
    assert "augment_seconds" not in json.dumps(sorted(run.data.metrics))
    assert run.data.metrics["class.neg.before"] == 20 and run.data.metrics["gate.passed"] == 1

    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"training", "source"}
    assert inputs["training"].digest == manifest["fingerprint"][:32]
    assert json.loads(inputs["training"].source)["uri"] == manifest["manifest_uri"]
    assert json.loads(inputs["training"].profile)["num_rows"] == manifest["rows"]
    assert {c["name"] for c in json.loads(inputs["training"].schema)["mlflow_colspec"]} >= {"text", "label", "_id"}

    report = json.loads(Path(_client(mlflow_uri).download_artifacts(run.info.run_id, "gate_report.json")).read_text())
    assert list(report)[:3] == ["passed", "summary", "failed_checks"] and report["passed"] is True


def test_a_failed_gate_names_its_checks_everywhere(store: Path, tmp_path: Path, mlflow_uri: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = write_tiny(tmp_path, dataset="obs_bad", max_synthetic_ratio=0.1)
    write_tiny_raw(store, DS, dataset="obs_bad")
    assert main(["run", str(config), "--date", DS]) == 3
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.startswith("error:")]
    assert len(err) == 1
    line = err[0]
    assert "synthetic_share: 60 of 120 published rows are synthetic (50.0%; limit 10%)" in line
    assert "change limits.max_synthetic_ratio" in line and "more: augment show obs_bad " in line

    exp, run = _run_of(mlflow_uri, "obs_bad")
    tags = run.data.tags
    assert run.info.status == "FAILED"
    assert (tags["augment.gate"], tags["augment.failed_checks"]) == ("failed", "synthetic_share")
    assert tags["mlflow.note.content"].startswith(f"**FAILED: quarantined `{tags['augment.version']}`**")
    assert "limit 10%" in tags["mlflow.note.content"]
    assert run.data.params["limits.max_synthetic_ratio"] == "0.1" and "{store}" not in json.dumps(run.data.params)
    assert [i.tags[0].value for i in run.inputs.dataset_inputs] == ["source"]
    assert run.data.metrics["gate.passed"] == 0 and run.data.metrics["gate.synthetic_share"] == 0.5

    assert main(["versions", "obs_bad"]) == 0
    out = capsys.readouterr().out
    assert f"{tags['augment.version']}" in out and "QUARANTINED" in out and "synthetic_share" in out


def test_tracking_server_down_still_publishes_and_a_rerun_completes_lineage(
    store: Path, tmp_path: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    config = write_tiny(tmp_path, dataset="obs_down")
    write_tiny_raw(store, DS, dataset="obs_down")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")  # nothing listens there
    t0 = time.perf_counter()
    assert main(["run", str(config), "--date", DS]) == 1
    assert time.perf_counter() - t0 < 60
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err[-1].startswith("error: MLflow tracking server http://127.0.0.1:") and "rerun the lineage stage" in err[-1]
    assert "[4/5] publish" in captured.err  # published before lineage failed
    versions = list((store / "published" / "obs_down" / "versions").iterdir())
    assert len(versions) == 1
    manifest_file = versions[0] / "_manifest.json"
    before = manifest_file.stat().st_mtime_ns
    assert json.loads(manifest_file.read_text())["mlflow"]["run_id"] is None

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)  # the server is back
    assert main(["run", str(config), "--date", DS]) == 0
    assert "already published" in capsys.readouterr().err
    assert manifest_file.stat().st_mtime_ns == before  # not published again
    _, run = _run_of(mlflow_uri, "obs_down")
    assert run.info.status == "FINISHED" and run.data.tags["augment.lineage"] == "complete"
    assert run.data.tags["augment.version"] == versions[0].name
