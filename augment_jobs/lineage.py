"""MLflow lineage (docs/manifest.md, docs/metrics.md): one run per dataset refresh, manifest and run
pointing at each other.

What an operator sees in MLflow's UI, and where it comes from:

- experiment `augment/<dataset>`: tagged `mlflow.experimentKind = custom_model_development` (the
  classic runs view, not GenAI traces) with a description of the dataset, modality, methods, config;
- run description (`mlflow.note.content`): the verdict first (published version, or quarantined and
  which checks failed), then the class counts before and after;
- tags `augment.gate`, `augment.failed_checks`, `augment.version`, `augment.manifest_uri` and the
  Airflow dag / run / task / try ids, with the Airflow UI link as the run's source;
- the run spans the refresh: it starts at the snapshot's start time and ends when lineage is logged;
- params are the config with `{store}` / `{ds}` resolved and no nulls, on failed runs too;
- inputs: the published version (context `training`) and the raw source (context `source`).

The run is created by the publish stage (its id goes into the manifest) or by a failed gate, and
filled and closed by the lineage stage. Runs are found again by the `augment.version` tag, so a
retried stage reuses its run. When the tracking server is down the version still publishes (the
manifest then names no run id) and the lineage stage fails with one line; rerunning it completes
the record.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from augment_jobs.config import DEFAULT_STORE, store_root
from augment_jobs.errors import AugmentError

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")

EXPERIMENT_KIND = "custom_model_development"  # MLflow 3's UI shows classic runs for this kind
#: MLflow 3.17's UI also has a global GenAI / model-training switch (GenAI by default) that wins over the
#: experiment kind; links carry this query so they open on the runs, not on an empty traces view
ML_VIEW = "workflowType=machine_learning"
#: Airflow's task environment (set by the task runner for every task) → run tag
AIRFLOW_TAGS = {
    "AIRFLOW_CTX_DAG_ID": "airflow.dag_id",
    "AIRFLOW_CTX_DAG_RUN_ID": "airflow.run_id",
    "AIRFLOW_CTX_TASK_ID": "airflow.task_id",
    "AIRFLOW_CTX_TRY_NUMBER": "airflow.try_number",
}


class TrackingUnavailable(AugmentError):
    """The MLflow tracking server cannot be reached. Retryable: rerunning the lineage stage completes the run."""

    exit_code = 1
    retryable = True


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


# --- UI links ------------------------------------------------------------------------------------
def mlflow_ui_url() -> str | None:
    """Base URL of the MLflow UI: `AUGMENT_MLFLOW_URL`, else the tracking URI when it is a server."""
    url = os.environ.get("AUGMENT_MLFLOW_URL") or tracking_uri()
    return url.rstrip("/") if url.startswith(("http://", "https://")) else None


def airflow_ui_url() -> str | None:
    """Base URL of the Airflow UI as a browser reaches it (`AUGMENT_AIRFLOW_URL`; `make ui` sets it)."""
    url = os.environ.get("AUGMENT_AIRFLOW_URL")
    return url.rstrip("/") if url else None


def run_link(experiment_id: str | None, run_id: str | None) -> str | None:
    """The MLflow UI page of a run, when a UI URL is known."""
    base = mlflow_ui_url()
    if not (base and experiment_id and run_id):
        return None
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?{ML_VIEW}"


def airflow_link(dag_id: str | None, run_id: str | None, task_id: str | None = None) -> str | None:
    """The Airflow UI page of a DAG run (or of one of its tasks), when a UI URL is known."""
    base = airflow_ui_url()
    if not (base and dag_id and run_id):
        return None
    url = f"{base}/dags/{dag_id}/runs/{urllib.parse.quote(run_id, safe='')}"
    return f"{url}/tasks/{task_id}" if task_id else url


def airflow_tags() -> dict[str, str]:
    """The Airflow ids of the task running this code (empty outside Airflow)."""
    return {tag: os.environ[var] for var, tag in AIRFLOW_TAGS.items() if os.environ.get(var)}


def run_source(run_id: str) -> str | None:
    """The run's source (`mlflow.source.name`): the Airflow run's page for runs made by Airflow."""
    return _client().get_run(run_id).data.tags.get("mlflow.source.name")


# --- client --------------------------------------------------------------------------------------
def check_reachable() -> None:
    """Fail fast, in one line, when the tracking server is down (MLflow's own client retries for minutes)."""
    uri = tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as r:  # noqa: S310 - our own server
            r.read()
    except OSError as e:
        reason = getattr(e, "reason", None) or e
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} unreachable ({reason}); the version itself is unaffected: "
            "rerun the lineage stage (Airflow: clear or retry the lineage task; CLI: augment run CONFIG --date DS)"
        ) from None


_warming: threading.Thread | None = None


def warm_up() -> None:
    """Import MLflow and open the tracking store in a background thread (about 8 s on SQLite), so
    that the publish stage finds them ready: `augment run` starts it while the data is written, the
    publish stage while it moves and checks the files. A failure here is left for the stage to meet."""
    global _warming
    if _warming is None:
        _warming = threading.Thread(target=_quiet_client, name="mlflow-warm-up", daemon=True)
        _warming.start()


def _quiet_client() -> None:
    with contextlib.suppress(Exception):  # the stage that needs the client reports it
        _client()


def _client() -> Any:
    from augment_jobs.logs import quiet_libraries

    if _warming is not None and _warming is not threading.current_thread():
        _warming.join()  # one thread opens the store: two at once would race on its schema check

    quiet_libraries()
    import mlflow

    quiet_libraries()  # mlflow sets its loggers up on import
    check_reachable()
    mlflow.set_tracking_uri(tracking_uri())
    return mlflow.MlflowClient(tracking_uri())


def experiment_description(config: dict[str, Any]) -> str:
    """What the experiment's runs are about: dataset, modality, methods, config file, where it publishes."""
    methods = ", ".join(f"`{s['method']}`" for s in config.get("augment", []))
    return (
        f"**{config['dataset']}** ({config.get('modality')}): {config.get('description') or ''}\n\n"
        f"- methods: {methods}\n- config: `{config.get('config_path') or config['dataset'] + '.yaml'}`\n"
        f"- publishes to: `{_resolve(str(config.get('publish', {}).get('uri', '')), '')}`\n\n"
        "One run per refresh (logical date). A run's description starts with its verdict; the tag "
        "`augment.gate` is `passed` or `failed`."
    )


def experiment_id(dataset: str, config: dict[str, Any] | None = None) -> str:
    """The experiment `augment/<dataset>`, created if needed; its kind and description kept current."""
    client = _client()
    name = f"augment/{dataset}"
    tags = {"augment.dataset": dataset, "mlflow.experimentKind": EXPERIMENT_KIND}
    if config:
        tags["mlflow.note.content"] = experiment_description(config)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        kwargs: dict[str, Any] = {}
        uri = tracking_uri()
        if uri.startswith("sqlite:///"):
            # keep artifacts next to the database, not in ./mlruns of whatever the cwd is
            kwargs["artifact_location"] = (
                Path(uri[len("sqlite:///"):]).with_name("mlartifacts").joinpath(dataset).as_uri()
            )
        try:
            return client.create_experiment(name, tags=tags, **kwargs)
        except Exception:  # a concurrent creator won the race: use theirs
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    for k, v in tags.items():
        if exp.tags.get(k) != v:
            client.set_experiment_tag(exp.experiment_id, k, v)
    return exp.experiment_id


def ensure_run(dataset: str, version: str, ds: str, *, started_at: float | None = None,
               config: dict[str, Any] | None = None) -> dict[str, str]:
    """The MLflow run of (dataset, version): reused if one exists, else created starting at `started_at`."""
    client = _client()
    exp = experiment_id(dataset, config)
    runs = client.search_runs([exp], filter_string=f"tags.`augment.version` = '{version}'", max_results=1)
    if runs:
        run_id = runs[0].info.run_id
    else:
        run = client.create_run(
            exp, run_name=f"{dataset}@{version}",
            start_time=int(started_at * 1000) if started_at else None,
            tags={"augment.version": version, "augment.dataset": dataset, "augment.logical_date": ds},
        )
        run_id = run.info.run_id
    return {"tracking_uri": tracking_uri(), "experiment_id": exp, "run_id": run_id}


def run_ref(dataset: str, version: str, ds: str, **kwargs: Any) -> dict[str, str | None]:
    """`ensure_run`, or a reference without ids when the tracking server is down (publishing goes on;
    the lineage stage creates the run later)."""
    try:
        return ensure_run(dataset, version, ds, **kwargs)
    except TrackingUnavailable:
        return {"tracking_uri": tracking_uri(), "experiment_id": None, "run_id": None}


# --- what a run holds ----------------------------------------------------------------------------
def flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """Nested config → flat `a.b.0.c` params (MLflow values are strings of at most 6000 chars); nulls dropped."""
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list) and obj and any(isinstance(v, (dict, list)) for v in obj):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{i}]"))
    elif obj is not None:
        out[prefix] = json.dumps(obj) if not isinstance(obj, str) else obj
    return {k.replace("[", ".").replace("]", ""): v[:6000] for k, v in out.items()}


def _resolve(value: str, ds: str) -> str:
    return value.replace("{store}", store_root()).replace("{ds}", ds)


def run_params(config: dict[str, Any], info: dict[str, Any]) -> dict[str, str]:
    """The config flattened with placeholders resolved, plus the run's identity (seed, version, ...).

    `info` is the manifest, or the run plan of a run that never published (same field names).
    """
    ds = info.get("logical_date") or info.get("ds") or ""
    params = {k: _resolve(v, ds) for k, v in flatten(config).items()}
    for key in ("seed", "version", "fingerprint", "platform_version", "config_path"):
        if info.get(key) is not None:
            params[key] = str(info[key])
    params["logical_date"] = ds
    return params


#: metric names (docs/metrics.md): handler metric → its name under `augment.`
RENAMED = {"augment_s": "transform_s"}


def metric_key(s: str) -> str:
    """A name MLflow accepts (class labels and column names keep their spelling)."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", str(s))


def _seconds_name(name: str) -> str:
    return name[: -len("_seconds")] + "_s" if name.endswith("_seconds") else name


def run_metrics(counts: dict[str, dict[str, int]], shard_metrics: list[dict[str, float]],
                checks: list[dict[str, Any]], timings: dict[str, float],
                skipped: dict[str, int] | None = None) -> dict[str, float | list[float]]:
    """Every metric of a run, named by the scheme in docs/metrics.md.

    A list value is one value per augment shard (logged with the shard number as the step).
    """
    m: dict[str, float | list[float]] = {
        "rows.in": sum(c["before"] for c in counts.values()),
        "rows.out": sum(c["after"] for c in counts.values()),
        "rows.synthetic": sum(c["synthetic"] for c in counts.values()),
    }
    m["rows.synthetic_share"] = m["rows.synthetic"] / m["rows.out"] if m["rows.out"] else 0.0
    m["skipped.total"] = sum((skipped or {}).values())
    m.update({f"skipped.{metric_key(reason)}": n for reason, n in (skipped or {}).items()})
    for cls, c in counts.items():
        for k, v in c.items():
            m[f"class.{metric_key(cls)}.{k}"] = v
    per_shard: dict[str, list[float]] = {}
    for i, sm in enumerate(shard_metrics):
        for k, v in sm.items():
            if k == "augment_seconds" or not isinstance(v, int | float):
                continue  # the stage's wall time is time.augment_s
            name = f"augment.{metric_key(_seconds_name(RENAMED.get(k, k)))}"
            per_shard.setdefault(name, [0.0] * len(shard_metrics))[i] = float(v)
    m.update({k: v[0] if len(v) == 1 else v for k, v in per_shard.items()})
    failed = [c for c in checks if not c["passed"]]
    m["gate.passed"] = 0.0 if failed else 1.0
    m["gate.checks"] = len(checks)
    m["gate.failed_checks"] = len(failed)
    for c in checks:
        obs = c.get("observed")
        if isinstance(obs, dict):
            m.update({f"gate.{metric_key(c['name'])}.{metric_key(k)}": v for k, v in obs.items()
                      if isinstance(v, int | float) and not isinstance(v, bool)})
        elif isinstance(obs, int | float) and not isinstance(obs, bool):
            m[f"gate.{metric_key(c['name'])}"] = obs
    augment_s = sum(sm.get("augment_seconds", 0.0) for sm in shard_metrics)
    for stage, seconds in timings.items():
        m[f"time.{stage}_s"] = seconds
    m["time.augment_s"] = augment_s
    if augment_s:
        m["throughput.rows_per_s"] = m["rows.out"] / augment_s
    return m


def _counts_table(counts: dict[str, dict[str, int]]) -> str:
    rows = [f"| {cls} | {c.get('before', 0)} | {c.get('after', 0)} | +{c.get('synthetic', 0)} |"
            for cls, c in counts.items()]
    return "| class | before | after | synthetic |\n|---|---:|---:|---:|\n" + "\n".join(rows)


def run_description(*, dataset: str, version: str, report: dict[str, Any], counts: dict[str, dict[str, int]],
                    manifest_uri: str | None = None, quarantine_uri: str | None = None,
                    config_path: str | None = None) -> str:
    """The run's description, verdict first: published version, or quarantined and why."""
    from augment_jobs.logs import config_key, failed_checks

    failed = failed_checks(report)
    if not failed:
        head = f"**PASSED: published `{version}`** of {dataset}. Gate: {report.get('summary', '')}."
        where = f"Manifest: `{manifest_uri}`" if manifest_uri else ""
    else:
        why = "; ".join(f"`{c['name']}`: {c['detail']}" for c in failed)
        keys = ", ".join(dict.fromkeys(f"`{config_key(c['name'])}`" for c in failed))
        head = (f"**FAILED: quarantined `{version}`** of {dataset}; nothing published. "
                f"Failed checks: {why}.")
        where = (f"Change {keys}{f' in `{Path(config_path).name}`' if config_path else ''}; "
                 f"more: `augment show {dataset} {version}`. Output kept at `{quarantine_uri}`.")
    return f"{head}\n\n{_counts_table(counts)}\n\n{where}\n"


def report_for_humans(report: dict[str, Any]) -> dict[str, Any]:
    """The gate report with its verdict, summary and failed checks first (the checks list is long)."""
    from augment_jobs.logs import failed_checks

    lead = {"passed": report.get("passed"), "summary": report.get("summary"),
            "failed_checks": [c["name"] for c in failed_checks(report)]}
    return {**lead, **{k: v for k, v in report.items() if k not in lead}}


def _source_input(info: dict[str, Any]) -> Any:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    source = info.get("source") or []
    uri = info.get("source_uri") or ""
    digest = json.dumps([(s["uri"], s.get("etag"), s.get("size")) for s in source], sort_keys=True)
    import hashlib

    ds = Dataset(
        name=f"{info['dataset']}-source", digest=hashlib.sha256(digest.encode()).hexdigest()[:32],
        source_type="s3" if uri.startswith("s3://") else "local", source=json.dumps({"uri": uri}),
        schema=json.dumps({"mlflow_colspec": [{"name": "uri", "type": "string"}, {"name": "etag", "type": "string"},
                                              {"name": "size", "type": "long"}]}),
        profile=json.dumps({"num_objects": len(source), "bytes": sum(int(s.get("size") or 0) for s in source)}),
    )
    return DatasetInput(ds, [InputTag("mlflow.data.context", "source")])


_ARROW_TO_MLFLOW = (
    ("is_boolean", "boolean"), ("is_int32", "integer"), ("is_integer", "long"), ("is_float32", "float"),
    ("is_floating", "double"), ("is_timestamp", "datetime"), ("is_date", "datetime"), ("is_binary", "binary"),
    ("is_large_binary", "binary"), ("is_string", "string"), ("is_large_string", "string"),
)


def published_schema(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Columns of the published files (Parquet: the file schema; WebDataset: the members of a sample)."""
    from augment_jobs.store import join, store_for

    files = manifest.get("files") or []
    if not files:
        return []
    vuri = manifest["manifest_uri"].rsplit("/", 1)[0]
    uri = join(vuri, files[0]["path"])
    store = store_for(uri)
    fs, _ = store.arrow_fs()
    if manifest.get("format", "parquet") == "parquet":
        import pyarrow.parquet as pq
        import pyarrow.types as pat

        with fs.open_input_file(store.arrow_path(uri)) as f:
            schema = pq.read_schema(f)
        cols = []
        for field in schema:
            kind = next((t for test, t in _ARROW_TO_MLFLOW if getattr(pat, test)(field.type)), "string")
            cols.append({"name": field.name, "type": kind, "required": not field.nullable})
        return cols
    import tarfile

    with fs.open_input_stream(store.arrow_path(uri)) as f, tarfile.open(fileobj=f, mode="r|") as tar:
        exts: list[str] = []
        first = None
        for member in tar:
            key, _, ext = member.name.partition(".")
            if first is None:
                first = key
            if key != first:
                break
            exts.append(ext)
    return [{"name": "__key__", "type": "string"}] + [{"name": e, "type": "binary"} for e in exts]


def _published_input(manifest: dict[str, Any]) -> Any:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    uri = manifest["manifest_uri"]
    ds = Dataset(
        name=f"{manifest['dataset']}@{manifest['version']}", digest=manifest["fingerprint"][:32],
        source_type="s3" if uri.startswith("s3://") else "local", source=json.dumps({"uri": uri}),
        schema=json.dumps({"mlflow_colspec": published_schema(manifest)}),
        profile=json.dumps({"num_rows": manifest.get("rows"), "num_files": len(manifest.get("files") or []),
                            "format": manifest.get("format")}),
    )
    return DatasetInput(ds, [InputTag("mlflow.data.context", "training")])


def _log_metrics(client: Any, run_id: str, metrics: dict[str, Any], params: list[Any] | None = None) -> None:
    from mlflow.entities import Metric

    ts = int(time.time() * 1000)
    metric_list = []
    for k, v in sorted(metrics.items()):
        values = v if isinstance(v, list) else [v]
        metric_list += [Metric(k, float(x), ts, step) for step, x in enumerate(values)]
    params = params or []
    for i in range(0, max(len(params), len(metric_list)), 100):
        client.log_batch(run_id, metrics=metric_list[i:i + 100], params=params[i:i + 100])


def _new_params(client: Any, run_id: str, params: dict[str, str]) -> list[Any]:
    from mlflow.entities import Param

    existing = client.get_run(run_id).data.params
    return [Param(k, v) for k, v in sorted(params.items()) if k not in existing]


def _run_tags(client: Any, run_id: str, tags: dict[str, str]) -> None:
    from mlflow.entities import RunTag

    ids = airflow_tags()
    link = airflow_link(ids.get("airflow.dag_id"), ids.get("airflow.run_id"))
    all_tags = {**tags, **ids}
    if link:
        all_tags.update({"mlflow.source.name": link, "mlflow.source.type": "JOB"})
    elif ids:
        all_tags.update({"mlflow.source.name": f"airflow:{ids.get('airflow.dag_id')}", "mlflow.source.type": "JOB"})
    client.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in all_tags.items()])


def _log_json(client: Any, run_id: str, tmp: str, name: str, obj: Any) -> None:
    p = Path(tmp, name)
    p.write_text(json.dumps(obj, indent=2, default=str))
    client.log_artifact(run_id, str(p))


def _attach_report_html(client: Any, run_id: str, folder_uri: str) -> None:
    """The version's HTML report, when one was written, as a run artifact."""
    from augment_jobs.store import join, store_for

    uri = join(folder_uri, "_report.html")
    store = store_for(uri)
    if not store.exists(uri):
        return
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "_report.html").write_bytes(store.read_bytes(uri))
        client.log_artifact(run_id, str(Path(tmp, "_report.html")))


def governance_tags(manifest: dict[str, Any]) -> dict[str, str]:
    """The approval of the run's policy, its limitations and the DP budget spent, as run tags
    (docs/governance.md): what an auditor filters runs by."""
    approval = manifest.get("approval") or {}
    tags = {
        "augment.policy": manifest.get("policy") or manifest.get("config_sha256", ""),
        "augment.approval": (f"approved by {approval['by']} at {approval['at']} (audit entry {approval['entry']})"
                             if approval else "not approved"),
        "augment.limitations": "; ".join(manifest.get("limitations") or []) or "none stated",
    }
    if approval:
        tags["augment.approved_by"] = str(approval["by"])
    epsilon = (manifest.get("privacy") or {}).get("epsilon")
    if epsilon is not None:
        tags["augment.dp_epsilon"] = str(epsilon)
    return {k: v[:5000] for k, v in tags.items()}


def governance_note(manifest: dict[str, Any]) -> str:
    """The description's governance paragraph: the policy's approval and its limitations."""
    approval = manifest.get("approval")
    policy = (manifest.get("policy") or manifest.get("config_sha256") or "")[:12]
    who = f"approved by {approval['by']} at {approval['at']}" if approval else "not approved"
    limits = "".join(f"\n- {text}" for text in manifest.get("limitations") or [])
    return f"\nPolicy `{policy}` {who}." + (f" Limitations:{limits}\n" if limits else "\n")


def log_run(
    run_id: str, *, config: dict[str, Any], manifest: dict[str, Any], report: dict[str, Any],
    metrics: dict[str, Any], artifacts: list[str], status: str = "FINISHED",
) -> None:
    """Fill the run of a published version (params, inputs, metrics, artifacts, verdict); then end it."""
    client = _client()
    run = client.get_run(run_id)
    if run.info.status == "FINISHED" and run.data.tags.get("augment.lineage") == "complete":
        return  # a retried lineage stage: already logged
    experiment_id(manifest["dataset"], config)  # older experiments get their kind and description
    _log_metrics(client, run_id, metrics, _new_params(client, run_id, run_params(config, manifest)))
    client.log_inputs(run_id, [_source_input(manifest), _published_input(manifest)])
    with tempfile.TemporaryDirectory() as tmp:
        _log_json(client, run_id, tmp, "_manifest.json", manifest)
        _log_json(client, run_id, tmp, "gate_report.json", report_for_humans(report))
    for path in artifacts:
        client.log_artifact(run_id, path)
    _attach_report_html(client, run_id, manifest["manifest_uri"].rsplit("/", 1)[0])
    version = manifest["version"]
    _run_tags(client, run_id, {
        "mlflow.runName": f"{manifest['version']} published",  # the runs list answers "which version?"
        "augment.gate": "passed", "augment.failed_checks": "none", "augment.version": version,
        "augment.manifest_uri": manifest.get("manifest_uri", ""),
        "mlflow.note.content": run_description(
            dataset=manifest["dataset"], version=version, report=report, counts=manifest.get("counts", {}),
            manifest_uri=manifest.get("manifest_uri"),
        ) + governance_note(manifest),
        "augment.lineage": "complete",
        **governance_tags(manifest),
    })
    client.set_terminated(run_id, status, end_time=int(time.time() * 1000))


def log_failed_gate(plan: dict[str, Any], config: dict[str, Any], report: dict[str, Any],
                    metrics: dict[str, Any], *, quarantine_uri: str, started_at: float | None = None) -> str:
    """Record a failed gate as a FAILED run: params, source input, report, and the verdict naming the checks."""
    from augment_jobs.logs import failed_checks

    ids = ensure_run(plan["dataset"], plan["version"], plan["ds"], started_at=started_at, config=config)
    client = _client()
    run_id = ids["run_id"]
    _log_metrics(client, run_id, metrics, _new_params(client, run_id, run_params(config, plan)))
    client.log_inputs(run_id, [_source_input(plan)])
    with tempfile.TemporaryDirectory() as tmp:
        _log_json(client, run_id, tmp, "gate_report.json", report_for_humans(report))
    _attach_report_html(client, run_id, quarantine_uri)
    names = [c["name"] for c in failed_checks(report)]
    _run_tags(client, run_id, {
        "mlflow.runName": f"{plan['version']} QUARANTINED",
        "augment.gate": "failed", "augment.failed_checks": ", ".join(names) or "none",
        "augment.version": plan["version"], "augment.manifest_uri": f"none (quarantined at {quarantine_uri})",
        "augment.policy": plan.get("config_sha256", ""),
        "augment.quarantine_uri": quarantine_uri,
        "mlflow.note.content": run_description(
            dataset=plan["dataset"], version=plan["version"], report=report, counts=report.get("counts", {}),
            quarantine_uri=quarantine_uri, config_path=plan.get("config_path"),
        ),
    })
    client.set_terminated(run_id, "FAILED", end_time=int(time.time() * 1000))
    return run_id
