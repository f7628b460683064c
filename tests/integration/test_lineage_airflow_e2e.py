"""Lineage for platforms through a real Airflow (scheduler, api-server, dag-processor on PostgreSQL,
LocalExecutor; the cluster of test_airflow_e2e.py): a backfill of three dates publishes three
partitioned Asset events, the training DAG runs once per partition on that partition's version,
and Airflow's OpenLineage provider sends the runs' events, with the platform's datasets and facets,
to a real HTTP receiver on 127.0.0.1 (validated against the OpenLineage RunEvent schema)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from test_airflow_e2e import DATES, airflow_cluster

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "airflow"))
from openlineage_receiver import receiver, validate  # noqa: E402
from tiny import write_tabular, write_tabular_raw  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AUGMENT, TRAIN, STRICT = "augment__cancer", "train__cancer", "augment__tiny_strict"


def _dag_events(events: list[dict], dates: list[str]) -> list[dict]:
    """START / COMPLETE / FAIL events of augment DAG runs for `dates` (by the run's nominal time)."""
    return [
        e for e in events
        if e["job"]["name"] == AUGMENT and e["eventType"] in ("START", "COMPLETE", "FAIL")
        and e["run"].get("facets", {}).get("nominalTime", {}).get("nominalStartTime", "")[:10] in dates
    ]


def _gate_failures(events: list[dict]) -> list[dict]:
    return [e for e in events if e["job"]["name"] == f"{STRICT}.gate" and e["eventType"] == "FAIL"]


def _wait_for(lineage, done, timeout: float = 120) -> list[dict]:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done(lineage.run_events()):
        time.sleep(1)
    return lineage.run_events()


def test_backfill_of_three_dates_emits_a_partition_each_trains_each_and_sends_openlineage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dates = DATES[:3]
    write_tabular(tmp_path, rows_per_task=1000, schedule="@daily")  # one augment task per run
    with receiver() as lineage:
        monkeypatch.setenv("OPENLINEAGE_URL", lineage.url)  # read by the provider in every Airflow process
        monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "augment-e2e")
        with airflow_cluster(tmp_path, "LocalExecutor") as (cluster, store):
            for ds in dates:
                write_tabular_raw(store, ds, parts=1)
            for dag_id in (AUGMENT, TRAIN, STRICT):
                cluster.wait_for_dag(dag_id)
                cluster.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            # one run at a time: the first run's MLflow access creates the tracking schema on PostgreSQL,
            # which two first runs at once would race to do
            cluster.cli("backfill", "create", "--dag-id", AUGMENT, "--from-date", dates[0], "--to-date", dates[-1],
                        "--max-active-runs", "1")

            runs = cluster.api("GET", f"/api/v2/dags/{AUGMENT}/dagRuns?run_type=backfill")["dag_runs"]
            assert sorted(r["logical_date"][:10] for r in runs) == dates, runs
            states = cluster.wait_runs(AUGMENT, [r["dag_run_id"] for r in runs], timeout=600)
            assert set(states.values()) == {"success"}, cluster.logs()

            # the training DAG consumes by partition: one run per date, each on its date's version
            deadline = time.monotonic() + 300
            trains: list[dict] = []
            while time.monotonic() < deadline:
                trains = cluster.api("GET", f"/api/v2/dags/{TRAIN}/dagRuns")["dag_runs"]
                if len(trains) >= 3 and all(t["state"] in ("success", "failed") for t in trains):
                    break
                time.sleep(3)
            assert sorted(t["partition_key"] for t in trains) == dates, (trains, cluster.logs())
            assert {t["state"] for t in trains} == {"success"}, cluster.logs()
            # one Asset event per partition, keyed by the logical date, naming that date's version (read
            # once the training runs started: Airflow 3.3's events endpoint fails on a queued created run)
            events = cluster.api("GET", "/api/v2/assets/events?limit=50")["asset_events"]
            ours = [e for e in events if (e.get("extra") or {}).get("dataset") == "cancer"]
            assert sorted(e["partition_key"] for e in ours) == dates, ours
            versions = {e["partition_key"]: e["extra"]["version"] for e in ours}
            assert all(versions[ds].startswith(ds) for ds in dates)

            for t in trains:
                xcom = cluster.api(
                    "GET", f"/api/v2/dags/{TRAIN}/dagRuns/{t['dag_run_id']}/taskInstances/train/xcomEntries/return_value"
                )["value"]
                assert xcom["version"] == versions[t["partition_key"]], xcom

            # a failed gate (tiny_strict's synthetic cap): the gate task's FAIL event carries its results
            strict = cluster.trigger(STRICT, dates[0])
            assert cluster.wait_runs(STRICT, [strict]) == {strict: "failed"}
            # the provider sends DAG run events from the scheduler, in the background: wait for them
            events = _wait_for(lineage, lambda evs: len(_dag_events(evs, dates)) >= 6 and _gate_failures(evs))

    for event in events:
        validate(event)
    assert {e["job"]["namespace"] for e in events} == {"augment-e2e"}

    # the DAG runs of the backfill: START and COMPLETE for each of the three dates
    assert sorted(e["eventType"] for e in _dag_events(events, dates)) == ["COMPLETE"] * 3 + ["START"] * 3

    # the publish tasks: the source partition in, the published version out, with the platform's facets
    published = [e for e in events if e["job"]["name"] == f"{AUGMENT}.publish" and e["eventType"] == "COMPLETE"]
    assert len(published) == 3, [(e["job"]["name"], e["eventType"]) for e in events]
    seen = {}
    for e in published:
        (out,) = [o for o in e["outputs"] if "version" in (o.get("facets") or {})]
        facets = out["facets"]
        version = facets["version"]["datasetVersion"]
        ds = facets["augment"]["logical_date"]
        seen[ds] = version
        assert (out["namespace"], out["name"]) == ("file", str(store / "published" / "cancer"))
        assert out["outputFacets"]["outputStatistics"]["rowCount"] == facets["augment"]["rows"] > 569
        assert {f["name"] for f in facets["schema"]["fields"]} >= {"mean radius", "target", "_id", "_synthetic"}
        assert all(a["success"] for a in facets["dataQualityAssertions"]["assertions"])
        assert [i["name"] for i in e["inputs"]] == [str(store / "raw" / "cancer" / ds)]
    assert seen == versions

    # the snapshot tasks' events name the source partition as input
    snapshots = [e for e in events if e["job"]["name"] == f"{AUGMENT}.snapshot" and e["eventType"] == "COMPLETE"]
    assert sorted(e["inputs"][0]["name"] for e in snapshots) == [str(store / "raw" / "cancer" / ds) for ds in dates]

    (gate_failed,) = _gate_failures(events)
    (out,) = [o for o in gate_failed["outputs"] if "dataQualityAssertions" in (o.get("facets") or {})]
    assert out["name"] == str(store / "published" / "tiny_strict")
    failed = [a["assertion"] for a in out["facets"]["dataQualityAssertions"]["assertions"] if not a["success"]]
    assert failed == ["synthetic_share"]
    assert out["facets"]["augment"]["gate"] == "failed" and "/quarantine/" in out["facets"]["augment"]["quarantine_uri"]
