"""OpenLineage events from `augment run`, sent over real HTTP to a receiver on 127.0.0.1 and
validated against the OpenLineage RunEvent schema (tests/airflow/openlineage_receiver.py)."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from pathlib import Path

import pytest
from tiny_tabular import write_tiny_tabular

from augment_jobs import cli
from augment_jobs.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "airflow"))
from openlineage_receiver import receiver, validate  # noqa: E402

DS = "2026-06-01"


@pytest.fixture
def no_lineage_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No OpenLineage settings anywhere: not in the environment, the working directory or HOME."""
    for var in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_NAMESPACE",
                "OPENLINEAGE_ENDPOINT", "OPENLINEAGE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for var in [k for k in os.environ if k.startswith("OPENLINEAGE__")]:
        monkeypatch.delenv(var)
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    return cwd


def _latest(store: Path) -> str | None:
    f = store / "published" / "tiny" / "_latest"
    return json.loads(f.read_text())["version"] if f.exists() else None


def test_a_run_emits_start_and_complete_with_the_published_version(
    store: Path, no_lineage_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_tiny_tabular(store, DS)
    with receiver() as r:
        monkeypatch.setenv("OPENLINEAGE_URL", r.url)
        monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "augment-test")
        assert cli.main(["run", str(config), "--date", DS]) == 0
    events = r.run_events()
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert r.paths == ["/api/v1/lineage"] * 2  # the client's default endpoint under OPENLINEAGE_URL
    for e in events:
        validate(e)
    start, complete = events
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert {(e["job"]["namespace"], e["job"]["name"]) for e in events} == {("augment-test", "augment__tiny")}
    assert complete["run"]["facets"]["nominalTime"]["nominalStartTime"].startswith(DS)

    # input: the source partition of the date, with the real rows read
    source = str(store / "raw" / "tiny" / DS)
    assert [(i["namespace"], i["name"]) for i in complete["inputs"]] == [("file", source)]
    assert complete["inputs"][0]["inputFacets"]["dataQualityMetrics"]["rowCount"] == 60

    # output: the published dataset, as this version, with its schema, counts and the gate's results
    version = _latest(store)
    vdir = store / "published" / "tiny" / "versions" / version
    manifest = json.loads((vdir / "_manifest.json").read_text())
    report = json.loads((vdir / "_gate_report.json").read_text())
    (out,) = complete["outputs"]
    assert (out["namespace"], out["name"]) == ("file", str(store / "published" / "tiny"))
    facets = out["facets"]
    assert facets["version"]["datasetVersion"] == version
    assert facets["augment"]["fingerprint"] == manifest["fingerprint"]
    assert facets["augment"]["synthetic_rows"] == 40 and facets["augment"]["gate"] == "passed"
    columns = {f["name"]: f["type"] for f in facets["schema"]["fields"]}
    assert columns["x"] == "double" and columns["label"] == "int64" and "_synthetic" in columns
    stats = out["outputFacets"]["outputStatistics"]
    assert stats["rowCount"] == manifest["rows"] == 100
    assert stats["fileCount"] == len(manifest["files"])
    assert stats["size"] == sum(f["bytes"] for f in manifest["files"])
    assertions = facets["dataQualityAssertions"]["assertions"]
    assert [(a["assertion"], a["success"]) for a in assertions] == [(c["name"], c["passed"]) for c in report["checks"]]
    assert start["outputs"][0]["name"] == out["name"] and "version" not in start["outputs"][0]["facets"]


def test_a_failed_gate_emits_fail_with_the_failing_assertion(
    store: Path, no_lineage_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_tiny_tabular(store, DS, max_synthetic_ratio=0.01)
    with receiver() as r:
        monkeypatch.setenv("OPENLINEAGE_URL", r.url)
        assert cli.main(["run", str(config), "--date", DS]) == 3
    events = r.run_events()
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    for e in events:
        validate(e)
    fail = events[1]
    assert "quality gate failed" in fail["run"]["facets"]["errorMessage"]["message"]
    facets = fail["outputs"][0]["facets"]
    failed = [a["assertion"] for a in facets["dataQualityAssertions"]["assertions"] if not a["success"]]
    assert failed == ["synthetic_share"]
    assert facets["augment"]["gate"] == "failed"
    assert facets["augment"]["quarantine_uri"].endswith(f"/quarantine/{facets['version']['datasetVersion']}")
    assert _latest(store) is None


def test_openlineage_yml_in_the_working_directory_configures_the_transport(
    store: Path, no_lineage_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_tiny_tabular(store, DS)
    with receiver() as r:
        (no_lineage_env / "openlineage.yml").write_text(
            f"transport:\n  type: http\n  url: {r.url}\n  endpoint: lineage/events\n"
        )
        assert cli.main(["run", str(config), "--date", DS]) == 0
        assert [e["eventType"] for e in r.run_events()] == ["START", "COMPLETE"]
        assert set(r.paths) == {"/lineage/events"}

        # OPENLINEAGE_DISABLED wins over any configuration: the same run sends nothing
        monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
        assert cli.main(["run", str(config), "--date", DS, "--force"]) == 0
        assert len(r.run_events()) == 2


def test_nothing_is_configured_without_url_or_file(no_lineage_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from augment_jobs.openlineage_events import client_config

    assert client_config() is None
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")
    transport = client_config()["transport"]
    assert transport["url"] == "http://127.0.0.1:9"
    assert transport["retry"] == {"total": 0}  # sent once: a backend that is down never holds the run
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert client_config() is None


def test_an_unreachable_backend_warns_once_and_the_run_publishes(
    store: Path, no_lineage_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_tiny_tabular(store, DS)
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    with caplog.at_level(logging.WARNING):
        assert cli.main(["run", str(config), "--date", DS]) == 0
    assert _latest(store) is not None and _latest(store).startswith(DS)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "OpenLineage" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "START" in warnings[0] and url in warnings[0] and "the run goes on" in warnings[0]


MALFORMED = [
    ("transport: [type: http\n", "not readable YAML"),
    ("transport: {type: http}\n", "not usable"),  # an http transport without its url
    ("- just\n- a list\n", "expected a mapping with a `transport:` mapping"),
]


def test_a_malformed_openlineage_yml_is_a_config_error_naming_the_file(
    store: Path, no_lineage_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from augment_jobs import stages

    config = write_tiny_tabular(store, DS)
    assert cli.main(["run", str(config), "--date", DS]) == 0  # a published version to keep
    before = _latest(store)
    bad = no_lineage_env / "settings" / "openlineage.yml"
    bad.parent.mkdir()
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(bad))
    for content, says in MALFORMED:
        bad.write_text(content)
        capsys.readouterr()
        assert cli.main(["run", str(config), "--date", DS, "--force"]) == 2, content
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {bad} (OpenLineage config, from OPENLINEAGE_CONFIG)")
        assert says in err[0], err
        assert _latest(store) == before
        # the snapshot stage, which Airflow runs, refuses it the same way
        with pytest.raises(ConfigError, match=str(bad)):
            stages.snapshot(str(config), DS, force=True)
