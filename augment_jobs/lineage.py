"""MLflow lineage (docs/metrics.md): one run per dataset run, manifest and run pointing at each other.

The run is opened by the publish stage (its id goes into the manifest) and filled and closed by the
lineage stage. Runs are found again by the `augment.version` tag, so a retried stage reuses its run.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from augment_jobs.config import DEFAULT_STORE, store_root
from augment_jobs.contract import GateReport, Manifest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI`, or a SQLite file in the local default store folder."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    root = store_root()
    # next to a local store; in the working directory's default folder when the store is remote
    home = Path(root if "://" not in root else DEFAULT_STORE).resolve() / "_mlflow"
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'mlflow.db'}"


def _client() -> Any:
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri())
    return mlflow.MlflowClient(tracking_uri())


def experiment_id(dataset: str) -> str:
    client = _client()
    name = f"augment/{dataset}"
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    kwargs: dict[str, Any] = {}
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        # keep artifacts next to the database, not in ./mlruns of whatever the cwd is
        kwargs["artifact_location"] = Path(uri[len("sqlite:///"):]).with_name("mlartifacts").joinpath(dataset).as_uri()
    try:
        return client.create_experiment(name, tags={"augment.dataset": dataset}, **kwargs)
    except Exception:  # a concurrent creator won the race: use theirs
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def ensure_run(dataset: str, version: str, ds: str) -> dict[str, str]:
    """The MLflow run of (dataset, version): reused if one exists, else created."""
    client = _client()
    exp = experiment_id(dataset)
    runs = client.search_runs([exp], filter_string=f"tags.`augment.version` = '{version}'", max_results=1)
    if runs:
        run_id = runs[0].info.run_id
    else:
        run = client.create_run(
            exp, run_name=f"{dataset}@{version}",
            tags={"augment.version": version, "augment.dataset": dataset, "augment.logical_date": ds},
        )
        run_id = run.info.run_id
    return {"tracking_uri": tracking_uri(), "experiment_id": exp, "run_id": run_id}


def flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """Nested config → flat `a.b[0].c` params (MLflow values are strings of at most 6000 chars)."""
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list) and obj and any(isinstance(v, (dict, list)) for v in obj):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = json.dumps(obj) if not isinstance(obj, str) else obj
    return {k.replace("[", ".").replace("]", ""): v[:6000] for k, v in out.items()}


def log_run(
    run_id: str, *, config: dict[str, Any], manifest: Manifest, report: GateReport,
    metrics: dict[str, float], artifacts: list[str], status: str = "FINISHED",
) -> None:
    """Fill the run: params, the source snapshot as a dataset input, metrics, artifacts; then end it."""
    import mlflow
    import pandas as pd
    from mlflow.entities import Metric, Param

    client = _client()
    run = client.get_run(run_id)
    if run.info.status == "FINISHED" and run.data.tags.get("augment.lineage") == "complete":
        return  # a retried lineage stage: already logged
    params = flatten(config)
    params.update(
        {"seed": str(manifest.seed), "version": manifest.version, "fingerprint": manifest.fingerprint,
         "platform_version": manifest.platform_version, "logical_date": manifest.logical_date}
    )
    existing = run.data.params
    new_params = [Param(k, v) for k, v in sorted(params.items()) if k not in existing]
    ts = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    metric_list = [Metric(k, float(v), ts, 0) for k, v in sorted(metrics.items())]
    for i in range(0, max(len(new_params), len(metric_list)), 100):
        client.log_batch(run_id, metrics=metric_list[i:i + 100], params=new_params[i:i + 100])
    snapshot = pd.DataFrame([s.model_dump() for s in manifest.source] or [{"uri": None, "etag": None, "size": 0}])
    with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # schema-inference hints about the snapshot table are noise here
        mlflow.log_input(
            mlflow.data.from_pandas(snapshot, source=manifest.source_uri or "", name=f"{manifest.dataset}-source"),
            context="source",
        )
        with tempfile.TemporaryDirectory() as tmp:
            for name, obj in (("_manifest.json", manifest), ("gate_report.json", report)):
                Path(tmp, name).write_text(json.dumps(obj.to_json(), indent=2))
                client.log_artifact(run_id, str(Path(tmp, name)))
        for path in artifacts:
            client.log_artifact(run_id, path)
        client.set_tag(run_id, "augment.manifest_uri", manifest.manifest_uri or "")
        client.set_tag(run_id, "augment.lineage", "complete")
    client.set_terminated(run_id, status)


def log_failed_gate(dataset: str, version: str, ds: str, report: GateReport, metrics: dict[str, float]) -> str:
    """Record a failed gate as a FAILED run carrying the report, so failures are visible in MLflow."""
    ids = ensure_run(dataset, version, ds)
    client = _client()
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp, "gate_report.json")
        p.write_text(json.dumps(report.to_json(), indent=2))
        client.log_artifact(ids["run_id"], str(p))
    from mlflow.entities import Metric

    client.log_batch(ids["run_id"], metrics=[Metric(k, float(v), 0, 0) for k, v in sorted(metrics.items())])
    client.set_tag(ids["run_id"], "augment.gate", "failed")
    client.set_terminated(ids["run_id"], "FAILED")
    return ids["run_id"]
