"""DAG wiring: DagBag import, parse time, params, broken configs, and `dag.test()` runs."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DAGS, REPO
from dag_runner import run_dags
from tiny import write_tiny, write_tiny_raw

from augment_jobs.config import load_config

DS = "2026-01-05"
HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "torch",
    "sdv",
    "great_expectations",
    "mlflow",
    "boto3",
    "sklearn",
    "imblearn",
    "kornia",
    "PIL",
    "webdataset",
)


def dagbag(monkeypatch: pytest.MonkeyPatch, configs: Path | None = None):  # noqa: ANN201
    from airflow.dag_processing.dagbag import DagBag

    if configs is None:
        monkeypatch.delenv("AUGMENT_CONFIGS", raising=False)
    else:
        monkeypatch.setenv("AUGMENT_CONFIGS", str(configs))
    return DagBag(dag_folder=str(DAGS))


def test_dagbag_has_one_dag_per_config_and_no_import_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(DAGS))

    bag = dagbag(monkeypatch)
    assert not bag.import_errors, bag.import_errors
    configs = [load_config(p) for p in sorted((REPO / "configs").glob("*.yaml"))]
    assert configs
    assert {d for d in bag.dag_ids if d.startswith("augment__")} == {f"augment__{c.dataset}" for c in configs}
    for cfg in configs:
        dag = bag.dags[f"augment__{cfg.dataset}"]
        assert {t.task_id for t in dag.tasks} == {"snapshot", "fit", "fit_merge", "augment", "gate", "publish",
                                                  "lineage"}
        assert dag.get_task("fit").is_mapped and dag.get_task("augment").is_mapped
        assert dag.get_task("fit").upstream_task_ids == {"snapshot"}
        assert dag.get_task("fit_merge").upstream_task_ids == {"fit", "snapshot"}
        assert dag.get_task("augment").upstream_task_ids == {"fit_merge", "snapshot"}
        assert dag.get_task("gate").upstream_task_ids == {"augment", "snapshot"}
        outlets = dag.get_task("publish").outlets
        assert [o.uri for o in outlets] == [cfg.asset_uri()]
        assert dag.get_task("augment").queue == (cfg.airflow.queue or "default")
        assert dag.params["force"] is False
        assert cfg.publish_uri() in dag.doc_md and cfg.augment[0].method in dag.doc_md
        assert dag.catchup is cfg.airflow.catchup and dag.max_active_runs == cfg.airflow.max_active_runs
        if cfg.modality == "tabular":
            train = bag.dags[f"train__{cfg.dataset}"]
            # consumes by partition (the publish task's event carries the logical date as partition key)
            assert type(train.timetable).__name__ == "PartitionedAssetTimetable"
            assert train.timetable.asset_condition.uri == cfg.asset_uri()


def test_dag_settings_come_from_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tiny(
        tmp_path,
        schedule="0 3 * * *",
        airflow=(
            "{catchup: true, max_active_runs: 2, retries: 5, retry_delay_seconds: 7, queue: gpu, pool: big,"
            " tags: [nightly], start_date: '2025-06-01'}"
        ),
    )
    bag = dagbag(monkeypatch, tmp_path / "configs")
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["augment__tiny_tickets"]
    assert dag.catchup is True and dag.max_active_runs == 2
    assert dag.timetable.expression == "0 3 * * *"
    assert {"augment", "text", "nightly"} <= set(dag.tags)
    assert dag.start_date.isoformat().startswith("2025-06-01")
    for mapped in ("fit", "augment"):  # the mapped stages run on the config's workers
        aug = dag.get_task(mapped)
        assert (aug.queue, aug.pool) == ("gpu", "big")
    assert dag.get_task("gate").queue == "default"
    snap = dag.get_task("snapshot")
    assert (
        snap.retries == 5 and snap.retry_delay.total_seconds() == 7 and snap.retry_exponential_backoff == 2.0
    )


def test_a_broken_config_breaks_only_its_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tiny(tmp_path)
    bad = tmp_path / "configs" / "broken.yaml"
    bad.write_text(
        (tmp_path / "configs" / "tiny_tickets.yaml")
        .read_text()
        .replace("dataset: tiny_tickets", "dataset: broken")
        .replace("seed: 3", "seed: 3\nsed: 4")
    )
    (tmp_path / "configs" / "notyaml.yaml").write_text("dataset: [unclosed\n")
    schedule = tmp_path / "configs" / "badschedule.yaml"
    schedule.write_text(
        (tmp_path / "configs" / "tiny_tickets.yaml")
        .read_text()
        .replace("dataset: tiny_tickets", "dataset: badschedule")
        .replace('schedule: "@daily"', 'schedule: "@daly"')
    )
    bag = dagbag(monkeypatch, tmp_path / "configs")
    assert "augment__tiny_tickets" in bag.dag_ids
    assert "augment__broken" not in bag.dag_ids
    assert list(bag.import_errors) == [str(DAGS / "augment_config_errors.py")]
    message = next(iter(bag.import_errors.values()))
    assert f"{bad}: unknown key 'sed'" in message
    assert "notyaml.yaml: not valid YAML" in message
    assert "augment__badschedule" not in bag.dag_ids
    assert "badschedule.yaml: schedule: " in message and "is not a cron expression" in message


PARSE_PROBE = """
import sys, time, json
import airflow.sdk  # already imported in the dag-processor before it parses a file
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="/nonexistent")
w0, c0 = time.perf_counter(), time.process_time()
dags = bag.process_file(sys.argv[1], only_if_updated=False)
cold_wall, cold = time.perf_counter() - w0, time.process_time() - c0
c0 = time.process_time()
bag.process_file(sys.argv[1], only_if_updated=False)
warm = time.process_time() - c0
heavy = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
print(json.dumps({"cold": cold, "cold_wall": cold_wall, "warm": warm, "dags": len(dags), "errors": bag.import_errors, "heavy": heavy}))
"""


@pytest.mark.parametrize("name", sorted(p.name for p in DAGS.glob("*.py")))
def test_dag_file_parses_without_heavy_imports(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold parse in a fresh interpreter (augment_jobs not yet imported) loads none of the heavy
    libraries and has no import errors: what keeps parsing fast. The parse time itself is measured
    by benchmarks/bench_airflow.py, not asserted here (a shared box makes any bound flaky)."""
    monkeypatch.delenv("AUGMENT_CONFIGS", raising=False)
    out = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAGS / name), json.dumps(HEAVY)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert not probe["errors"], probe["errors"]
    assert probe["heavy"] == [], f"{name} imports {probe['heavy']} at parse time"


@pytest.mark.slow
def test_dag_test_publishes_emits_asset_event_and_fails_fast(tmp_platform: dict) -> None:
    root, store, env = tmp_platform["root"], tmp_platform["store"], tmp_platform["env"]
    write_tiny(root)
    write_tiny(root, dataset="tiny_strict", max_synthetic_ratio=0.1)  # every run breaks the synthetic cap
    write_tiny_raw(store, DS)
    write_tiny_raw(store, DS, dataset="tiny_strict")
    results, output = run_dags(
        env,
        [
            {"dag_id": "augment__tiny_tickets", "ds": DS},
            {"dag_id": "augment__tiny_tickets", "ds": DS, "conf": {"forse": True}},
            {"dag_id": "augment__tiny_strict", "ds": DS},
        ],
    )
    ok, typo, strict = results

    assert ok["state"] == "success", output[-5000:]
    publish_uri = store / "published" / "tiny_tickets"
    version = json.loads((publish_uri / "_latest").read_text())["version"]
    assert version.startswith(DS) and (publish_uri / "versions" / version / "_manifest.json").is_file()
    db = sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db")
    events = db.execute(
        "SELECT a.uri, e.extra, e.partition_key FROM asset_event e JOIN asset a ON a.id = e.asset_id"
    ).fetchall()
    # the published event names the version and carries the logical date as its partition key
    assert (publish_uri.as_uri(), version, DS) in [(uri, json.loads(extra)["version"], key) for uri, extra, key in events]

    # an unknown conf key fails the first task at once, naming the allowed keys
    assert typo["state"] == "failed" and typo["tasks"]["snapshot"] == ["failed", 1]
    assert "unknown conf key(s) 'forse'; allowed: force" in output

    # a failed gate fails its task without retries (GateFailed is not retryable) and publishes nothing
    assert strict["state"] == "failed"
    assert strict["tasks"]["gate"] == ["failed", 1]
    assert strict["tasks"]["publish"][0] == "upstream_failed"
    assert "GateFailed (exit code 3)" in output
    # one line: what failed with value and limit, the key to change, the next command; no chained traceback
    line = next(ln for ln in output.splitlines() if "GateFailed (exit code 3)" in ln)
    assert "synthetic_share" in line and "limit" in line and "change limits.max_synthetic_ratio in configs/" in line
    assert "more: augment show tiny_strict " in line
    assert "direct cause of the following exception" not in output
    assert "Skipping registering function" not in output  # library INFO noise stays out
    assert not (store / "published" / "tiny_strict" / "_latest").exists()
    assert any((store / "published" / "tiny_strict" / "quarantine").iterdir())


@pytest.mark.slow
def test_demo_dag_publishes_and_training_dag_consumes_it(
    tmp_platform: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, store, env = tmp_platform["root"], tmp_platform["store"], tmp_platform["env"]
    (root / "configs").mkdir()
    shutil.copy(REPO / "configs" / "credit_default.yaml", root / "configs")
    shutil.copytree(REPO / "expectations", root / "expectations")
    monkeypatch.setenv("AUGMENT_STORE", str(store))
    from augment_jobs.demo import write_demo_raw

    assert write_demo_raw(DS, str(root / "configs"))
    results, output = run_dags(
        env,
        [
            {"dag_id": "augment__credit_default", "ds": DS},
            {"dag_id": "train__credit_default", "ds": DS},
        ],
    )
    assert [r["state"] for r in results] == ["success", "success"], output[-5000:]
    version = json.loads((store / "published" / "credit_default" / "_latest").read_text())["version"]

    import mlflow

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("train/credit_default")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1 and runs[0].data.tags["augment.version"] == version
    assert 0.5 < runs[0].data.metrics["balanced_accuracy"] <= 1.0
    assert runs[0].data.metrics["train_synthetic_rows"] > 0
    assert runs[0].inputs.dataset_inputs[0].dataset.name == f"credit_default@{version}"


@pytest.mark.slow
def test_image_dag_maps_augment_over_source_shards(tmp_platform: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """120 images, 50 per shard: three mapped augment tasks, one published version holding them all."""
    import yaml

    root, store, env = tmp_platform["root"], tmp_platform["store"], tmp_platform["env"]
    (root / "configs").mkdir()
    cfg = yaml.safe_load((REPO / "configs" / "shapes.yaml").read_text())
    cfg["source"]["files_per_shard"] = 50
    (root / "configs" / "shapes.yaml").write_text(yaml.safe_dump(cfg))
    shutil.copytree(REPO / "expectations", root / "expectations")
    monkeypatch.setenv("AUGMENT_STORE", str(store))
    from augment_jobs.image.demo import write_raw

    write_raw(load_config(root / "configs" / "shapes.yaml").source_uri(DS), DS)
    (result,), output = run_dags(env, [{"dag_id": "augment__shapes", "ds": DS}])
    assert result["state"] == "success", output[-5000:]
    mapped = {k: v for k, v in result["tasks"].items() if k.startswith("augment[")}
    assert sorted(mapped) == ["augment[0]", "augment[1]", "augment[2]"]
    assert all(state == "success" for state, _ in mapped.values())
    publish_uri = store / "published" / "shapes"
    version = json.loads((publish_uri / "_latest").read_text())["version"]
    manifest = json.loads((publish_uri / "versions" / version / "_manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert manifest["counts"]["triangle"]["before"] + manifest["counts"]["circle"]["before"] \
        + manifest["counts"]["square"]["before"] == 120


def test_dag_docs_show_limitations_and_approval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_tiny(tmp_path)
    path.write_text(path.read_text() + "limitations: [not for legal advice, English tickets only]\n"
                    "governance: {require_approval: true}\n")
    bag = dagbag(monkeypatch, tmp_path / "configs")
    assert not bag.import_errors, bag.import_errors
    doc = bag.dags["augment__tiny_tickets"].doc_md
    assert "- not for legal advice\n- English tickets only" in doc
    policy = load_config(path).sha256()[:12]
    assert f"required (`governance.require_approval`); policy fingerprint `{policy}`" in doc
    assert "augment approve configs/tiny_tickets.yaml --by NAME" in doc and "augment audit tiny_tickets" in doc
