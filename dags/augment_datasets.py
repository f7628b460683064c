"""One Airflow DAG per dataset config: `augment__<dataset>` (docs/README.md, "Airflow").

Wiring only. Every task calls one function of `augment_jobs.stages` (the same code path as
`augment run`) and passes URIs through XCom, never data:

    snapshot -> fit (mapped over query blocks) -> fit_merge -> augment (mapped over the source shards)
    -> gate -> publish (Asset event) -> lineage

The publish task's Asset event carries the logical date as its partition key (Airflow 3.2+,
AIP-76), so consumers schedule on "the partition for date D" (`dags/train_on_published.py`). With
Airflow's OpenLineage provider configured (`OPENLINEAGE_URL` / `OPENLINEAGE_CONFIG`), the snapshot
and publish tasks hand it the run's datasets: the source partition, and the published version with
its schema, row counts and gate results (`augment_jobs.openlineage_events`).

Configs come from `AUGMENT_CONFIGS` (default: the repository's `configs/`). A config that fails
validation produces no DAG here; `augment_config_errors.py` reports it as an import error naming
the config file, so one broken config never hides the others.

Nothing heavy is imported at parse time: `augment_jobs.stages` (pandas, pyarrow, mlflow, ...) is
imported inside the tasks.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from augment_jobs.config import DatasetConfig, load_configs
from augment_jobs.errors import AugmentError

log = logging.getLogger("augment.dag")  # a readable name in task logs (DAG modules get a mangled one)

DAG_PREFIX = "augment__"
ALLOWED_CONF_KEYS = ("force",)
# Transient failures back off 30 s, 60 s, 120 s, ... (config's retry_delay_seconds, doubling) up to this.
MAX_RETRY_DELAY = timedelta(minutes=30)

T = TypeVar("T")


def logical_ds(context: dict[str, Any]) -> str:
    """The run's partition key YYYY-MM-DD: the logical date; for a run triggered by an Asset event the
    event's `ds` (the demo feed's); else run_after (manual runs without a logical date)."""
    run = context["dag_run"]
    for events in (context.get("triggering_asset_events") or {}).values():
        if events and (events[-1].extra or {}).get("ds"):
            return str(events[-1].extra["ds"])
    when = run.logical_date or run.run_after
    return when.strftime("%Y-%m-%d")


def schedule_for(cfg: DatasetConfig) -> Any:
    """The config's schedule; in demo mode (`AUGMENT_DEMO=1`) a demo dataset runs when `demo_feed`
    lands its raw partition instead (unpausing it in the UI then works without hand-made data)."""
    if os.environ.get("AUGMENT_DEMO") == "1":
        from augment_jobs.demo import raw_asset, writers

        if cfg.dataset in writers():
            return raw_asset(cfg)
    return cfg.schedule


def check_conf(conf: dict[str, Any] | None) -> None:
    """Reject trigger conf keys the DAG does not know (a typo must not silently do nothing)."""
    unknown = sorted(set(conf or {}) - set(ALLOWED_CONF_KEYS))
    if unknown:
        raise AirflowFailException(
            f"unknown conf key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(ALLOWED_CONF_KEYS)}"
        )


def call_stage(fn: Callable[..., T], *args: Any, cfg: DatasetConfig, config_path: str, ds: str | None = None,
               **kwargs: Any) -> T:
    """Run one stage; a non-retryable AugmentError fails the task at once (no retries).

    The failure is logged as one line (what failed with its value and limit, the config key to
    change, the command that shows more) and raised without its chained traceback: the traceback of
    an expected failure only buries that line. Transient errors (retryable AugmentError, e.g. a store
    timeout) and unexpected exceptions are re-raised as they are, so Airflow retries them with
    exponential backoff and the traceback stays for the unexpected ones.
    """
    from augment_jobs.logs import failure_line, quiet_libraries

    quiet_libraries()  # before the stage imports GX / SDV / MLflow, which log at import time
    log.info("%s of %s for %s: starting (config %s)", fn.__name__, cfg.dataset, ds, Path(config_path).name)
    t0 = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
        log.info("%s of %s for %s: done in %.1f s: %s", fn.__name__, cfg.dataset, ds, time.perf_counter() - t0,
                 result)
        return result
    except AugmentError as e:
        # `configs/<name>.yaml`: the path from the project folder, as an operator types it
        config = str(Path(config_path).relative_to(Path(config_path).parent.parent))
        line = failure_line(e, config=config, dataset=cfg.dataset, ds=ds)
        if e.retryable:
            log.warning("transient failure, Airflow will retry: %s", line)
            raise
        log.error("%s", line)
        raise AirflowFailException(line) from None


def _schedule_text(cfg: DatasetConfig) -> str:
    schedule = schedule_for(cfg)
    return f"`{schedule}`" if isinstance(schedule, str | None) else f"when `demo_feed` lands `{schedule.uri}` (demo mode)"


def _governance_text(cfg: DatasetConfig, config_name: str) -> str:
    """Limitations and approval of the policy: what the DAG may be used for, and who signed it off.
    The approvals themselves live in the store (no I/O at parse time): `augment audit` lists them."""
    from augment_jobs.governance import approval_required

    limits = "".join(f"- {text}\n" for text in cfg.limitations) or "- none stated (`limitations` in the config)\n"
    required = "required (`governance.require_approval`)" if approval_required(cfg) else "not required"
    return (
        f"**Limitations**\n\n{limits}\n"
        f"**Approval**: {required}; policy fingerprint `{cfg.sha256()[:12]}`. Approve it with "
        f"`augment approve configs/{config_name} --by NAME`; approvals, published versions, rollbacks and "
        f"quarantines: `augment audit {cfg.dataset}`.\n\n"
    )


def doc_md(cfg: DatasetConfig, config_name: str) -> str:
    """The DAG's doc: what the config reads, does, checks and publishes, and where a failure is explained."""
    steps = "\n".join(f"- `{s.method}` {s.params or ''}" for s in cfg.augment)
    limits = ", ".join(f"`{k}`: {v}" for k, v in cfg.limits.model_dump(mode="json").items() if v is not None)
    quality = ", ".join(f"`{k}`: {v}" for k, v in cfg.quality.model_dump(mode="json").items() if v not in (None, {}, []))
    return (
        f"### {cfg.dataset} ({cfg.modality})\n\n"
        f"{cfg.description or ''}\n\n"
        f"- config: `{config_name}`, seed {cfg.seed}\n"
        f"- source: `{cfg.source.uri}` ({cfg.source.format})\n"
        f"- publish: `{cfg.publish_uri()}` ({cfg.publish.format}); emits Asset `{cfg.asset_uri()}` (partition key: the logical date)\n"
        f"- schedule: {_schedule_text(cfg)}, catchup: {cfg.airflow.catchup}\n\n"
        f"**Methods**\n\n{steps}\n\n"
        f"**Gate**: {limits}{'; ' + quality if quality else ''}\n\n"
        f"{_governance_text(cfg, config_name)}"
        "A failed task's first error line says what failed (value and limit), the config key to change and "
        "the command that shows more (`augment show DATASET VERSION`); a failed gate quarantines the output.\n\n"
        f'Trigger conf: `{{"force": true}}` republishes even if the version exists; other keys are rejected.\n'
    )


def build_dag(cfg: DatasetConfig, config_path: str) -> Any:
    """The DAG for one validated config."""
    af = cfg.airflow
    dataset_asset = Asset(cfg.asset_uri())
    mapped_opts: dict[str, Any] = {}
    if af.queue:
        mapped_opts["queue"] = af.queue
    if af.pool:
        mapped_opts["pool"] = af.pool

    @dag(
        dag_id=f"{DAG_PREFIX}{cfg.dataset}",
        schedule=schedule_for(cfg),
        start_date=datetime.fromisoformat(af.start_date).replace(tzinfo=UTC),
        catchup=af.catchup,
        max_active_runs=af.max_active_runs,
        description=(cfg.description or f"augment {cfg.dataset}")[:200],
        doc_md=doc_md(cfg, Path(config_path).name),
        tags=sorted({"augment", cfg.modality, cfg.dataset, *af.tags}),
        params={"force": Param(False, type="boolean", description="republish even if the version exists")},
        default_args={
            "retries": af.retries,
            "retry_delay": timedelta(seconds=af.retry_delay_seconds),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": MAX_RETRY_DELAY,
        },
    )
    def pipeline() -> None:
        stage = functools.partial(call_stage, cfg=cfg, config_path=config_path)

        @task
        def snapshot(**context: Any) -> list[int]:
            """Returns the fit's query blocks (mapped over); run_uri etc. go to their own XCom keys."""
            check_conf(context["dag_run"].conf)
            from augment_jobs import stages

            ds = logical_ds(context)
            snap = stage(stages.snapshot, config_path, ds, ds=ds, force=bool(context["params"]["force"]))
            log.info(
                "snapshot of %s: version %s, shards %s, already published: %s",
                cfg.dataset,
                snap["version"],
                snap["shards"],
                snap["published"],
            )
            for key in ("run_uri", "version", "published", "publish_uri"):
                context["ti"].xcom_push(key=key, value=snap[key])
            from augment_jobs.openlineage_events import annotate_task, source_dataset

            annotate_task(context["task"], lambda: ([source_dataset(cfg.source_uri(ds))], []))
            return list(snap["fit_blocks"])

        @task(**mapped_opts)
        def fit(run_uri: str, block: int, **context: Any) -> str:
            from augment_jobs import stages

            return stage(stages.fit, run_uri, block, ds=logical_ds(context))

        @task
        def fit_merge(run_uri: str, fitted: list[str], **context: Any) -> list[int]:
            """Returns the shard list (mapped over by augment)."""
            from augment_jobs import stages

            return list(stage(stages.fit_merge, run_uri, ds=logical_ds(context))["shards"])

        @task(**mapped_opts)
        def augment(run_uri: str, shard: int, **context: Any) -> str:
            from augment_jobs import stages

            return stage(stages.augment, run_uri, shard, ds=logical_ds(context))

        @task
        def gate(run_uri: str, staged: list[str], **context: Any) -> str:
            from augment_jobs import stages

            ds = logical_ds(context)
            try:
                return stage(stages.gate, run_uri, ds=ds)
            except AirflowFailException:  # a failed gate: its results go with the task's FAIL event
                from augment_jobs.openlineage_events import annotate_task, quarantined_datasets

                def datasets() -> tuple[list[Any], list[Any]]:
                    version = context["ti"].xcom_pull(task_ids="snapshot", key="version")
                    return quarantined_datasets(cfg.source_uri(ds), cfg.publish_uri(), version)

                annotate_task(context["task"], datasets)
                raise

        @task(outlets=[dataset_asset])
        def publish(run_uri: str, report_uri: str, **context: Any) -> dict[str, Any]:
            from augment_jobs import stages

            ds = logical_ds(context)
            result = stage(stages.publish, run_uri, ds=ds)
            event = context["outlet_events"][dataset_asset]
            if hasattr(event, "add_partitions"):  # partitioned assets: Airflow 3.2+
                event.add_partitions(ds)
            event.extra = {
                "dataset": cfg.dataset,
                "version": result["version"],
                "manifest_uri": result["manifest_uri"],
                "latest_moved": result.get("latest_moved"),
                "created": result.get("created"),  # False: a rerun found the version already published
                "ds": ds,
            }
            from augment_jobs.openlineage_events import annotate_task, published_datasets

            annotate_task(context["task"], lambda: published_datasets(result["publish_uri"], result["version"]))
            return result

        @task
        def lineage(run_uri: str, published: dict[str, Any], **context: Any) -> str:
            from augment_jobs import stages

            return stage(stages.lineage, run_uri, ds=logical_ds(context))

        blocks = snapshot()
        run_uri = blocks["run_uri"]  # the XCom key pushed by snapshot; Airflow maps only over return values
        shards = fit_merge(run_uri, fit.partial(run_uri=run_uri).expand(block=blocks))
        staged = augment.partial(run_uri=run_uri).expand(shard=shards)
        report = gate(run_uri, staged)
        lineage(run_uri, publish(run_uri, report))

    return pipeline()


for _path, _cfg in load_configs()[0]:  # broken configs are reported by augment_config_errors.py
    globals()[f"{DAG_PREFIX}{_cfg.dataset}"] = build_dag(_cfg, str(_path))
