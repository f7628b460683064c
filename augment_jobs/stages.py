"""The stages of a run: snapshot → fit (mapped over query blocks) → fit_merge → augment (mapped
over shards) → gate → publish → lineage.

`augment run` and the Airflow tasks call exactly these functions. Each stage reads its inputs from
the store and writes its outputs under `<publish.uri>/_staging/<version>/`, returns URIs (never
data), is idempotent, and can be retried alone. Once a version is committed, later stages are no-ops.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from augment_jobs import __version__
from augment_jobs.checks import merge_counts
from augment_jobs.config import DatasetConfig, load_config
from augment_jobs.contract import CheckResult, GateReport, GateSummary, Manifest
from augment_jobs.errors import AugmentError, ConfigError, GateFailed, InputError
from augment_jobs.modality import RunPlan, ShardResult, handler_for
from augment_jobs.publish import (
    advance_latest,
    apply_retention,
    check_writable,
    commit,
    is_committed,
    manifest_uri,
    quarantine_uri,
    read_gate_report,
    read_manifest,
    version_uri,
)
from augment_jobs.store import join, relpath, store_for

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Progress = Callable[[str], None]

_held = threading.local()


def _check_date(ds: str) -> None:
    if not DATE.match(ds):
        raise ConfigError(f"--date {ds!r}: expected a logical date YYYY-MM-DD")
    try:
        datetime.strptime(ds, "%Y-%m-%d")
    except ValueError:
        raise ConfigError(f"--date {ds!r}: not a calendar date") from None


@contextlib.contextmanager
def _run_lock(publish_uri: str, ds: str, part: str = "") -> Iterator[None]:
    """One run per (dataset, logical date) at a time; re-entrant within a process. `part` names a
    finer lock (one source shard), so mapped augment tasks of one run proceed in parallel."""
    uri = join(publish_uri, "_locks", f"{ds}{part}.lock")
    held = getattr(_held, "uris", set())
    if uri in held:
        yield
        return
    with store_for(uri).lease(uri):
        _held.uris = held | {uri}
        try:
            yield
        finally:
            _held.uris = held


def _fault(point: str) -> None:
    """Failpoint for crash tests: `AUGMENT_FAULT=<point>` kills the process right here (SIGKILL)."""
    if os.environ.get("AUGMENT_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _timed(plan: RunPlan, stage: str, seconds: float, **extra: Any) -> None:
    store_for(plan.staging_uri).write_json(
        join(plan.staging_uri, "timings", f"{stage}.json"), {"seconds": seconds, **extra}
    )


def _started_at(plan: RunPlan) -> float | None:
    """Wall-clock start of the run's snapshot (the MLflow run spans the refresh from there)."""
    try:
        return store_for(plan.staging_uri).read_json(join(plan.staging_uri, "timings", "snapshot.json")).get("started_at")
    except FileNotFoundError:
        return None


def load_plan(run_uri: str) -> RunPlan:
    try:
        return RunPlan(**store_for(run_uri).read_json(run_uri))
    except FileNotFoundError:
        raise AugmentError(f"{run_uri}: run plan not found; run the snapshot stage first") from None


def _config_for(plan: RunPlan) -> DatasetConfig:
    cfg = load_config(plan.config_path)
    if cfg.sha256() != plan.config_sha256:
        raise ConfigError(f"{plan.config_path}: changed since this run's snapshot; start a new run for {plan.ds}")
    return cfg


def _done(plan: RunPlan) -> bool:
    """Committed already, and not a forced rerun: later stages have nothing to do."""
    return not plan.force and is_committed(plan.publish_uri, plan.version)


# --- snapshot ------------------------------------------------------------------------------------
def snapshot(config_path: str, ds: str, *, force: bool = False) -> dict[str, Any]:
    """List the source partition (keys + ETags/sizes), fix the version, write the run plan."""
    t0, started_at = time.perf_counter(), time.time()
    _check_date(ds)
    cfg = load_config(config_path)
    handler = handler_for(cfg.modality)
    source_uri = cfg.source_uri(ds)
    publish_uri = cfg.publish_uri()
    store = store_for(source_uri)
    # source.uri names a folder (every matching file under it) or a single file
    single = [] if source_uri.endswith("/") else [o for o in store.list(source_uri) if o.uri == source_uri]
    prefix = source_uri.rsplit("/", 1)[0] + "/" if single else source_uri.rstrip("/") + "/"
    objects = single or [o for o in store.list(prefix) if handler.source_filter(cfg, o)]
    if not objects:
        raise InputError(
            f"{source_uri}: source partition missing or empty (no {cfg.source.format} files) for {ds}; "
            "check source.uri and the date"
        )
    source = [{"uri": o.uri, "etag": o.etag, "size": o.size} for o in objects]
    config_sha = cfg.sha256()
    h = hashlib.sha256()
    h.update(json.dumps({
        "config": config_sha, "ds": ds, "platform": __version__,
        "source": [(relpath(o.uri, prefix), o.etag, o.size) for o in objects],
    }, sort_keys=True).encode())
    fingerprint = h.hexdigest()
    version = f"{ds}.{fingerprint[:8]}"
    staging_uri = join(publish_uri, "_staging", version)
    run_uri = join(staging_uri, "plan.json")
    published = is_committed(publish_uri, version)
    plan = RunPlan(
        dataset=cfg.dataset, ds=ds, version=version, fingerprint=fingerprint, modality=cfg.modality,
        config_path=cfg.config_path or config_path, config_sha256=config_sha, platform_version=__version__,
        seed=cfg.seed, source_uri=source_uri, source=source,
        shards=handler.shard_sources(cfg, objects, None if published and not force else staging_uri),
        publish_uri=publish_uri, staging_uri=staging_uri, force=force,
    )
    from augment_jobs.openlineage_events import check_config

    check_config()  # a malformed openlineage.yml is a config error here, for the CLI and the DAG alike
    if not published or force:
        from augment_jobs.checks.suite import check_suite
        from augment_jobs.governance import require_approval

        require_approval(cfg, config_path)  # an unapproved policy stops here, before any work
        check_suite(cfg)
        check_writable(publish_uri)
    with _run_lock(publish_uri, ds):
        # written even for a committed version, so every later stage finds its plan (and no-ops)
        store_for(run_uri).write_json(run_uri, plan.to_dict())
        prepare = getattr(handler, "prepare_run", None)  # e.g. tabular: pass 1 and the fit's plan, once
        blocks = 1
        if prepare is not None and (not published or force):
            prepare(cfg, plan)
            blocks = handler.fit_blocks(plan) if hasattr(handler, "fit_blocks") else 1
        _timed(plan, "snapshot", time.perf_counter() - t0, started_at=started_at)
    return {
        "run_uri": run_uri, "version": version, "published": published and not force,
        "shards": list(range(len(plan.shards))), "publish_uri": publish_uri, "fit_blocks": list(range(blocks)),
    }


# --- fit -----------------------------------------------------------------------------------------
def fit(run_uri: str, block: int = 0) -> str:
    """One query block of the run's planned neighbour searches (mapped; a no-op for a modality
    without them); returns the run URI."""
    plan = load_plan(run_uri)
    if _done(plan):
        return run_uri
    cfg = _config_for(plan)
    handler = handler_for(cfg.modality)
    if hasattr(handler, "fit_block"):
        with _run_lock(plan.publish_uri, plan.ds, part=f".fit-{block:05d}"):
            handler.fit_block(cfg, plan, block)
    return run_uri


def fit_merge(run_uri: str) -> dict[str, Any]:
    """The fits, with the fit blocks' answers merged, staged for the augment tasks; returns the
    shards to augment."""
    plan = load_plan(run_uri)
    out = {"run_uri": run_uri, "shards": list(range(len(plan.shards)))}
    if _done(plan):
        return out
    cfg = _config_for(plan)
    handler = handler_for(cfg.modality)
    t0 = time.perf_counter()
    if hasattr(handler, "finish_fit"):
        with _run_lock(plan.publish_uri, plan.ds):
            handler.finish_fit(cfg, plan)
            _timed(plan, "fit", time.perf_counter() - t0)
    _release_memory()
    return out


# --- augment -------------------------------------------------------------------------------------
def augment(run_uri: str, shard: int = 0) -> str:
    """Augment one shard of the source into staged files; returns the shard result's URI."""
    plan = load_plan(run_uri)
    result_uri = join(plan.staging_uri, "shards", f"{shard:05d}.json")
    if _done(plan):
        return result_uri
    if not 0 <= shard < len(plan.shards):
        raise AugmentError(f"{run_uri}: shard {shard} out of range (0..{len(plan.shards) - 1})")
    cfg = _config_for(plan)
    t0 = time.perf_counter()
    with _run_lock(plan.publish_uri, plan.ds, part=f".shard-{shard:05d}"):
        result = handler_for(cfg.modality).augment_shard(cfg, plan, shard)
        result.metrics.setdefault("augment_seconds", round(time.perf_counter() - t0, 3))
        _fault("augment:before_result")
        store_for(result_uri).write_json(result_uri, result.to_dict())
    _release_memory()
    return result_uri


def _release_memory() -> None:
    """Hand freed memory back to the OS between shards, so that shards run in turn in one process
    (`augment run`) peak as one shard does: Arrow's pool and glibc keep freed blocks otherwise."""
    import contextlib
    import ctypes
    import ctypes.util
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    libc = ctypes.util.find_library("c")
    if libc:
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL(libc).malloc_trim(0)


def _shard_results(plan: RunPlan) -> list[ShardResult]:
    store = store_for(plan.staging_uri)
    out = []
    for i in range(len(plan.shards)):
        uri = join(plan.staging_uri, "shards", f"{i:05d}.json")
        try:
            out.append(ShardResult(**store.read_json(uri)))
        except FileNotFoundError:
            raise AugmentError(f"{uri}: shard {i} has not been augmented; run the augment stage for it") from None
    return out


# --- gate ----------------------------------------------------------------------------------------
def gate(run_uri: str) -> str:
    """Run the suite and platform checks on the staged output; quarantine and raise if any fails."""
    plan = load_plan(run_uri)
    report_uri = join(plan.staging_uri, "gate", "report.json")
    if _done(plan):
        return join(version_uri(plan.publish_uri, plan.version), "_gate_report.json")
    from augment_jobs.checks import GateInput, run_checks, summarize
    from augment_jobs.registry import modality_spec

    cfg = _config_for(plan)
    t0 = time.perf_counter()
    with _run_lock(plan.publish_uri, plan.ds):
        shards = _shard_results(plan)
        spec = modality_spec(cfg.modality)
        g = GateInput(cfg=cfg, plan=plan, shards=shards, frame=spec.make_handler().gate_frame(cfg, plan, shards))
        counts = g.counts
        checks = run_checks(g, spec.checks)
        report = GateReport.build(
            checks=checks, summary=summarize(checks),
            dataset=plan.dataset, version=plan.version, logical_date=plan.ds, counts=counts, skipped=g.skipped,
            quality=g.quality, efficacy=g.efficacy, privacy=g.privacy, fairness=g.fairness,
            recall=g.recall,
        )
        store = store_for(report_uri)
        store.write_bytes(report_uri, report.to_bytes())
        _write_html_report(g, report)
        _timed(plan, "gate", time.perf_counter() - t0)
        if not report.passed:
            metrics, started_at = _metrics(plan, shards, counts, checks), _started_at(plan)  # before staging moves
            where = _quarantine(plan)
            from augment_jobs import governance

            governance.record(plan.publish_uri, "quarantine", version=plan.version, policy=plan.config_sha256,
                              logical_date=plan.ds, failed_checks=report.failed_checks, by=governance.actor())
            with contextlib.suppress(Exception):  # lineage of a failure must not hide the failure itself
                from augment_jobs import lineage

                lineage.log_failed_gate(
                    plan.to_dict(), {**cfg.model_dump(mode="json"), "config_path": plan.config_path}, report.to_json(),
                    metrics, quarantine_uri=where, started_at=started_at,
                )
            raise GateFailed(
                f"{plan.dataset} {plan.version}: quality gate failed: {report.summary}; "
                f"nothing published, output quarantined at {where}",
                report_uri=join(where, "gate", "report.json"),
            )
    return report_uri


def _write_html_report(g: Any, report: GateReport) -> None:
    """The version's HTML report, staged beside the gate report (published as `_report.html`, or kept
    in quarantine). A report that cannot be drawn must not decide the gate: say so and go on."""
    import logging

    uri = join(g.plan.staging_uri, "report.html")
    try:
        from augment_jobs.evaluation.version_report import render

        store_for(uri).write_bytes(uri, render(g, report).encode())
    except Exception as e:  # noqa: BLE001  (any plotting failure; the gate's verdict stands)
        logging.getLogger(__name__).warning("%s: the HTML report could not be drawn: %s", g.plan.version, e)


def _quarantine(plan: RunPlan) -> str:
    """Move the staged run (data, plan, shard results, report) to `quarantine/<version>/`."""
    store = store_for(plan.staging_uri)
    dest = quarantine_uri(plan.publish_uri, plan.version)
    store.delete_prefix(dest)
    for obj in store.list(plan.staging_uri + "/"):
        store.move(obj.uri, join(dest, relpath(obj.uri, plan.staging_uri)))
    store.delete_prefix(plan.staging_uri)
    return dest


# --- publish -------------------------------------------------------------------------------------
def publish(run_uri: str) -> dict[str, Any]:
    """Move staged files into `versions/<version>/`, commit the manifest, advance `_latest`."""
    plan = load_plan(run_uri)
    if _done(plan):
        return _repair_latest(plan)
    cfg = _config_for(plan)
    t0 = time.perf_counter()
    with _run_lock(plan.publish_uri, plan.ds):
        if _done(plan):
            return _repair_latest(plan)
        store = store_for(plan.staging_uri)
        report_uri = join(plan.staging_uri, "gate", "report.json")
        try:
            report = read_gate_report(report_uri)
        except FileNotFoundError:
            raise AugmentError(f"{run_uri}: the gate has not run for {plan.version}; run the gate stage first") from None
        if not report.passed:
            raise GateFailed(f"{plan.version}: the gate failed; nothing to publish", report_uri=report_uri)
        from augment_jobs import governance

        approval = governance.require_approval(cfg, plan.config_path)  # checked again: the DAG's publish task
        from augment_jobs import lineage

        lineage.warm_up()  # MLflow opens while the files move
        shards = _shard_results(plan)
        vuri = version_uri(plan.publish_uri, plan.version)
        committed = read_manifest(plan.publish_uri, plan.version) if is_committed(plan.publish_uri, plan.version) else None
        files = _move_files(plan, shards, vuri, handler_for(cfg.modality).file_kind, committed)
        _fault("publish:before_manifest")
        if committed is not None:  # forced rerun of a committed version: identical bytes, nothing to do
            store.delete_prefix(plan.staging_uri)
            return _published(plan, note="identical to the committed version")
        final_report_uri = join(vuri, "_gate_report.json")
        store.write_bytes(final_report_uri, report.to_bytes())
        html_uri: str | None = join(vuri, "_report.html")
        if store.exists(join(plan.staging_uri, "report.html")):
            store.move(join(plan.staging_uri, "report.html"), html_uri)
        elif not store.exists(html_uri):
            html_uri = None
        manifest = Manifest(
            dataset=plan.dataset, version=plan.version, logical_date=plan.ds,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            config_sha256=plan.config_sha256, config_path=plan.config_path, fingerprint=plan.fingerprint,
            seed=plan.seed, platform_version=plan.platform_version, modality=plan.modality,
            format=cfg.publish.format, source_uri=plan.source_uri, source=plan.source,
            files=files, rows=sum(f["rows"] for f in files), counts=merge_counts(shards), skipped=report.skipped,
            quality=report.quality, efficacy=report.efficacy, privacy=report.privacy, fairness=report.fairness,
            recall=report.recall,
            policy=plan.config_sha256, approval=approval, limitations=list(cfg.limitations), report_uri=html_uri,
            steps=[s.model_dump(mode="json") for s in cfg.augment],
            notes=[n for s in shards for n in s.notes],
            rejected=[r for s in shards for r in s.rejected],
            gate=GateSummary(passed=True, summary=report.summary, checks=report.checks, report_uri=final_report_uri),
            mlflow=lineage.run_ref(  # no run ids when the tracking server is down: lineage makes the run
                plan.dataset, plan.version, plan.ds, started_at=_started_at(plan),
                config={**cfg.model_dump(mode="json"), "config_path": plan.config_path},
            ),
            manifest_uri=manifest_uri(plan.publish_uri, plan.version),
        )
        if not commit(store, plan.publish_uri, manifest):
            return _published(plan, note="committed concurrently by another run")
        _fault("publish:before_latest")
        moved = advance_latest(plan.publish_uri, manifest)
        governance.record(plan.publish_uri, "published", version=plan.version, policy=plan.config_sha256,
                          logical_date=plan.ds, approval=approval, latest_moved=moved, by=governance.actor())
        deleted = apply_retention(
            plan.publish_uri, cfg.publish.retention.keep_last, cfg.publish.retention.pinned, just_published=plan.version
        )
        _timed(plan, "publish", time.perf_counter() - t0)
    return {**_published(plan, note="published"), "created": True, "latest_moved": moved, "retention_deleted": deleted}


def _move_files(
    plan: RunPlan, shards: list[ShardResult], vuri: str, kind: str, committed: Manifest | None
) -> list[dict[str, Any]]:
    """Give staged files their final names in order; never overwrite a published file."""
    store = store_for(vuri)
    files = []
    staged = [(s.shard, f) for s in shards for f in s.files]
    for n, (_, f) in enumerate(staged):
        name = f"part-{n:05d}.parquet" if kind == "parquet" else f"shard-{n:06d}.tar"
        src, dst = join(plan.data_uri, f["path"]), join(vuri, name)
        if store.exists(src):
            if store.exists(dst):
                # a retried publish, or a forced rerun: the bytes must match what is there
                if store.sha256(src) != store.sha256(dst):
                    raise AugmentError(
                        f"{dst}: already published with different content; published files are never overwritten "
                        "(is the augmentation nondeterministic, or was the version folder edited?)"
                    )
                store.delete(src)
            else:
                store.move(src, dst)
        elif not store.exists(dst):
            raise AugmentError(f"{src}: staged file missing; rerun the augment stage")
        # hashed while the augment task wrote it (a move keeps the bytes); read back only if not
        digest, size = (f["sha256"], f["bytes"]) if "sha256" in f else store.digest(dst)
        files.append({"path": name, "sha256": digest, "bytes": size, "rows": f["rows"]})
        _fault("publish:mid_move")
    if committed is not None and [f["sha256"] for f in files] != [f.sha256 for f in committed.files]:
        raise AugmentError(f"{vuri}: rerun produced different bytes than the committed manifest")
    return files


def _repair_latest(plan: RunPlan) -> dict[str, Any]:
    """A committed version whose run died before moving `_latest`: finish that step."""
    moved = advance_latest(plan.publish_uri, read_manifest(plan.publish_uri, plan.version), repair=True)
    return {**_published(plan), "latest_moved": moved}


def _published(plan: RunPlan, note: str = "already published") -> dict[str, Any]:
    from augment_jobs.publish import latest_version

    return {
        "manifest_uri": manifest_uri(plan.publish_uri, plan.version), "version": plan.version,
        "publish_uri": plan.publish_uri, "latest_moved": False, "latest": latest_version(plan.publish_uri),
        "note": note, "created": False,
    }


# --- lineage -------------------------------------------------------------------------------------
def _metrics(plan: RunPlan, shards: list[ShardResult], counts: dict[str, dict[str, int]],
             checks: list[CheckResult]) -> dict[str, Any]:
    """The run's metrics, named as docs/metrics.md says (`augment_jobs.lineage.run_metrics`)."""
    from augment_jobs.lineage import run_metrics

    store = store_for(plan.staging_uri)
    timings: dict[str, float] = {}
    for stage in ("snapshot", "fit", "gate", "publish"):
        with contextlib.suppress(FileNotFoundError):
            timings[stage] = store.read_json(join(plan.staging_uri, "timings", f"{stage}.json"))["seconds"]
    if started := _started_at(plan):
        timings["total"] = round(time.time() - started, 3)
    skipped: dict[str, int] = {}
    for s in shards:
        for reason, n in s.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
    return run_metrics(counts, [s.metrics for s in shards], [c.to_dict() for c in checks], timings, skipped)


def lineage(run_uri: str) -> str:
    """Log params, the source snapshot, metrics and artifacts to the version's MLflow run."""
    plan = load_plan(run_uri)
    from augment_jobs import lineage as ml

    manifest = read_manifest(plan.publish_uri, plan.version)
    run_id = manifest.mlflow.run_id
    store = store_for(plan.staging_uri)
    if _done(plan) and not store.exists(join(plan.staging_uri, "shards", "00000.json")):
        store.delete_prefix(plan.staging_uri)  # a no-op run, or lineage already logged by an earlier attempt
        return run_id
    cfg = _config_for(plan)
    shards = _shard_results(plan)
    report = read_gate_report(join(version_uri(plan.publish_uri, plan.version), "_gate_report.json"))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        artifacts = []
        for obj in store.list(join(plan.staging_uri, "artifacts") + "/"):
            p = Path(tmp, obj.uri.rsplit("/", 1)[-1])
            p.write_bytes(store.read_bytes(obj.uri))
            artifacts.append(str(p))
        artifacts += handler_for(cfg.modality).artifacts(cfg, plan, shards, tmp)
        metrics = _metrics(plan, shards, merge_counts(shards), report.checks)
        config = {**cfg.model_dump(mode="json"), "config_path": plan.config_path}
        if run_id is None:  # the tracking server was down at publish time
            run_id = ml.ensure_run(plan.dataset, plan.version, plan.ds, started_at=_started_at(plan),
                                   config=config)["run_id"]
        ml.log_run(run_id, config=config, manifest=manifest.to_json(), report=report.to_json(), metrics=metrics,
                   artifacts=artifacts)
    _fault("lineage:before_cleanup")
    store.delete_prefix(plan.staging_uri)
    return run_id


# --- the whole run -------------------------------------------------------------------------------
def run(config_path: str, ds: str, *, force: bool = False, progress: Progress | None = None,
        workers: int = 1) -> dict[str, Any]:
    """One full run for one logical date: exactly the stages the DAG runs, in order, reported as one
    OpenLineage run (START, then COMPLETE or FAIL) when a lineage backend is configured. The mapped
    stages (fit blocks, augment shards) run in turn, or on `workers` processes at once."""
    from augment_jobs.openlineage_events import RunEmitter

    cfg = load_config(config_path)
    _check_date(ds)
    if workers < 1:
        raise ConfigError(f"--workers {workers}: needs at least 1 process")
    lineage_events = RunEmitter(cfg.dataset, ds, cfg.source_uri(ds), cfg.publish_uri())
    lineage_events.start()
    try:
        result = _run_stages(cfg, config_path, ds, force=force, progress=progress, workers=workers)
    except BaseException as e:
        lineage_events.fail(e)
        raise
    lineage_events.complete(result["version"])
    return result


def _run_stages(cfg: DatasetConfig, config_path: str, ds: str, *, force: bool,
                progress: Progress | None, workers: int) -> dict[str, Any]:
    say = progress or (lambda _msg: None)
    t_all = time.perf_counter()
    check_writable(cfg.publish_uri())  # before taking the lock, which lives there too
    with _run_lock(cfg.publish_uri(), ds):
        t = time.perf_counter()
        snap = snapshot(config_path, ds, force=force)
        n_objects = len(load_plan(snap["run_uri"]).source)
        say(f"[1/5] snapshot  {n_objects} source object(s) → version {snap['version']} ({time.perf_counter() - t:.1f}s)")
        if snap["published"]:
            say("      version already published: nothing to do")
            result = publish(snap["run_uri"])
            result["mlflow_run_id"] = lineage(snap["run_uri"])
            return result
        from augment_jobs.lineage import warm_up

        warm_up()  # MLflow opens while the data is fitted and written
        t = time.perf_counter()
        _mapped(fit, snap["run_uri"], snap["fit_blocks"], workers)
        fit_merge(snap["run_uri"])
        say(f"      fit       {len(snap['fit_blocks'])} block(s) ({time.perf_counter() - t:.1f}s)")
        n = len(snap["shards"])
        _mapped(augment, snap["run_uri"], snap["shards"], workers,
                lambda shard, sec: say(f"[2/5] augment   shard {shard + 1}/{n} ({sec:.1f}s)"))
        t = time.perf_counter()
        gate(snap["run_uri"])
        say(f"[3/5] gate      passed ({time.perf_counter() - t:.1f}s)")
        t = time.perf_counter()
        result = publish(snap["run_uri"])
        say(f"[4/5] publish   {result['version']} ({time.perf_counter() - t:.1f}s); latest → {result['latest']}")
        t = time.perf_counter()
        if store_for(snap["run_uri"]).exists(snap["run_uri"]):
            result["mlflow_run_id"] = lineage(snap["run_uri"])
        say(f"[5/5] lineage   MLflow run {result.get('mlflow_run_id')} ({time.perf_counter() - t:.1f}s)")
    result["seconds"] = round(time.perf_counter() - t_all, 3)
    return result


def _mapped(task: Callable[[str, int], Any], run_uri: str, items: list[int], workers: int,
            done: Callable[[int, float], None] | None = None) -> None:
    """A mapped stage's tasks `task(run_uri, i)`: in turn, or on up to `workers` fresh processes
    with one compute thread each, as Airflow runs them on Celery workers of concurrency 1. Each task
    writes only its own staged outputs, so the result is byte-identical either way."""
    if workers <= 1 or len(items) <= 1:
        for i in items:
            seconds = _timed_task(task, run_uri, i)
            if done:
                done(i, seconds)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawned, not forked: a fork of a process whose OpenMP and Arrow threads are running can hang
    with ProcessPoolExecutor(min(workers, len(items)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread) as pool:
        futures = {pool.submit(_timed_task, task, run_uri, i): i for i in items}
        for future in as_completed(futures):
            seconds = future.result()  # a task's error is raised here, as the task raised it
            if done:
                done(futures[future], seconds)


def _timed_task(task: Callable[[str, int], Any], run_uri: str, i: int) -> float:
    t = time.perf_counter()
    task(run_uri, i)
    return time.perf_counter() - t


def _one_thread() -> None:
    """A worker process's BLAS, OpenMP and faiss pools at one thread (set before they load)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
