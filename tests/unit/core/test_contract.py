"""The typed contract: schema_version written, old manifests read, unknown versions refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augment_jobs.contract import SCHEMA_VERSION, CheckResult, GateReport, Manifest
from augment_jobs.errors import ContractError
from augment_jobs.publish import commit, manifest_uri, read_manifest
from augment_jobs.store import store_for

LEGACY = {  # a manifest written by the first release: no schema_version
    "dataset": "d", "version": "2026-01-01.abcdef12", "logical_date": "2026-01-01",
    "created_at": "2026-01-01T00:00:00+00:00", "modality": "tabular", "format": "parquet", "rows": 3,
    "files": [{"path": "part-00000.parquet", "sha256": "0" * 64, "bytes": 10, "rows": 3}],
    "counts": {"a": {"before": 2, "after": 3, "synthetic": 1}},
    "gate": {"passed": True, "summary": "ok", "checks": [{"name": "x", "passed": True, "detail": "", "observed": None}]},
    "mlflow": {"tracking_uri": "sqlite:///m.db", "experiment_id": "1", "run_id": "r"}, "seed": 7,
}


def _write(tmp_path: Path, body: dict) -> str:
    uri = manifest_uri(str(tmp_path / "pub"), body["version"])
    store_for(uri).write_json(uri, body)
    return str(tmp_path / "pub")


def test_legacy_manifest_without_schema_version_reads(tmp_path: Path) -> None:
    m = read_manifest(_write(tmp_path, LEGACY), LEGACY["version"])
    assert m.schema_version == SCHEMA_VERSION and m.files[0].rows == 3 and m.counts["a"].synthetic == 1
    assert m["files"][0]["sha256"] == "0" * 64 and m["gate"]["checks"][0]["name"] == "x"  # dict-style reads still work
    assert m.synthetic_rows == 1


def test_unknown_major_version_is_refused_in_one_line(tmp_path: Path) -> None:
    uri = _write(tmp_path, {**LEGACY, "schema_version": 99})
    with pytest.raises(ContractError) as e:
        read_manifest(uri, LEGACY["version"])
    msg = str(e.value)
    assert "schema_version 99" in msg and "_manifest.json" in msg and "\n" not in msg and e.value.exit_code == 2


def test_missing_required_field_names_it(tmp_path: Path) -> None:
    body = {k: v for k, v in LEGACY.items() if k != "files"}
    with pytest.raises(ContractError, match="missing required field 'files'"):
        read_manifest(_write(tmp_path, body), LEGACY["version"])


def test_newer_minor_fields_are_kept(tmp_path: Path) -> None:
    m = read_manifest(_write(tmp_path, {**LEGACY, "schema_version": 1, "future_field": {"x": 1}}), LEGACY["version"])
    assert m.to_json()["future_field"] == {"x": 1}


def test_written_manifest_and_report_carry_schema_version_and_lead_with_the_verdict(tmp_path: Path) -> None:
    pub = str(tmp_path / "pub")
    m = Manifest.parse({k: v for k, v in LEGACY.items()}, where="test")
    assert commit(store_for(pub), pub, m)
    raw = json.loads(Path(manifest_uri(pub, m.version)).read_text())
    assert list(raw)[:3] == ["schema_version", "dataset", "version"] and raw["schema_version"] == 1
    report = GateReport.build(checks=[CheckResult("a", True), CheckResult("b", False, "too many")], summary="1 of 2 failed",
                              dataset="d", version="v", logical_date="2026-01-01")
    keys = list(report.to_json())
    assert keys[:3] == ["schema_version", "passed", "summary"] and report.failed_checks == ["b"] and not report.passed
