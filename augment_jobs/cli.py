"""The `augment` command line (docs/cli.md).

Exit codes: 0 published (or already was), 2 bad config or input, 3 quality gate failed, 1 other.
Every error is one line on stderr naming the file, key, column or value and what to do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import AugmentError, GateFailed

if TYPE_CHECKING:
    from augment_jobs.contract import GateReport


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _dataset_uri(arg: str) -> str:
    """A publish URI, or a bare dataset name under `{store}/published/`."""
    from augment_jobs.config import DATASET_NAME, store_root
    from augment_jobs.store import is_file_uri

    if is_file_uri(arg):
        return arg  # the store resolves it, and refuses a relative one in one line
    if "://" in arg or os.sep in arg or Path(arg).exists():
        return arg if "://" in arg else str(Path(arg).resolve())
    if DATASET_NAME.match(arg):
        return f"{store_root()}/published/{arg}"
    return arg


def cmd_run(a: argparse.Namespace) -> int:
    from augment_jobs import stages

    result = stages.run(a.config, a.date, force=a.force, progress=_progress, workers=a.workers)
    print(f"version   {result['version']}  ({result.get('note') or 'published'})")
    print(f"manifest  {result['manifest_uri']}")
    print(f"latest    {result['latest']}")
    if result.get("mlflow_run_id"):
        print(f"mlflow    run {result['mlflow_run_id']}")
    _print_links(result["manifest_uri"])
    return 0


def _print_links(manifest_uri: str) -> None:
    """The MLflow run's page (and the Airflow run it came from) when a UI URL is configured."""
    from augment_jobs import lineage
    from augment_jobs.store import store_for

    try:
        ml = store_for(manifest_uri).read_json(manifest_uri).get("mlflow") or {}
    except FileNotFoundError:
        return
    link = lineage.run_link(ml.get("experiment_id"), ml.get("run_id"))
    if link:
        print(f"mlflow ui {link}")
    if ml.get("run_id") and lineage.airflow_ui_url():
        try:  # the Airflow run that produced the version is the MLflow run's source
            source = lineage.run_source(ml["run_id"])
        except Exception:  # a link is a convenience: never fail the command over it
            source = None
        if source and source.startswith(("http://", "https://")):
            print(f"airflow   {source}")


def cmd_versions(a: argparse.Namespace) -> int:
    from augment_jobs.publish import committed_versions, latest_version

    uri = _dataset_uri(a.dataset_uri)
    latest = latest_version(uri)
    rows: list[tuple[str, str]] = []
    for m in committed_versions(uri):
        mark = "* latest" if m.version == latest else ""
        rows.append((m.version, f"{m.version:<22} {m.created_at:<26} rows={m.rows:<9} synthetic={m.synthetic_rows:<9} {mark}"))
    for report in quarantined_reports(uri):
        after = sum(c.after for c in report.counts.values())
        rows.append((report.version, f"{report.version:<22} {'QUARANTINED (gate failed)':<26} rows={after:<9} "
                                     f"failed: {', '.join(report.failed_checks) or '?'}   "
                                     f"(augment show {a.dataset_uri} {report.version})"))
    if not rows:
        raise AugmentError(f"{uri}: no committed or quarantined versions; check the URI (publish.uri of the config)")
    for _, line in sorted(rows, reverse=True):  # versions start with the logical date: newest first
        print(line)
    return 0


def quarantined_reports(uri: str) -> list[GateReport]:
    """The gate reports of the versions kept under `quarantine/` (outputs that failed their gate)."""
    from augment_jobs.store import join, store_for

    out = []
    for name in store_for(uri).list_dirs(join(uri, "quarantine")):
        report = _quarantine_report(uri, name)
        if report is not None:
            out.append(report)
    return out


def cmd_show(a: argparse.Namespace) -> int:
    from augment_jobs.errors import NotFound
    from augment_jobs.publish import describe, latest_version, read_manifest

    uri = _dataset_uri(a.dataset_uri)
    latest = latest_version(uri)
    version = a.version or latest
    if version is None:
        raise NotFound(f"{uri}: no `_latest`; nothing has been published there")
    try:
        manifest = read_manifest(uri, version)
    except NotFound:
        report = _quarantine_report(uri, version)
        if report is None:
            raise
        print(json.dumps(report.to_json(), indent=2) if a.json else describe_quarantined(report))
        return 3
    print(json.dumps(manifest.to_json(), indent=2) if a.json else describe(manifest, latest))
    if not a.json:
        _print_links(manifest.manifest_uri)
    return 0


def _quarantine_report(uri: str, version: str) -> GateReport | None:
    from augment_jobs.publish import read_gate_report
    from augment_jobs.store import join

    try:
        return read_gate_report(join(uri, "quarantine", version, "gate", "report.json"))
    except FileNotFoundError:
        return None


def describe_quarantined(report: GateReport) -> str:
    """Why a version failed its gate, from the report kept in quarantine."""
    lines = [
        f"dataset      {report.dataset}",
        f"version      {report.version}   QUARANTINED: the quality gate failed, nothing was published",
        f"logical date {report.logical_date}",
        f"summary      {report.summary}",
    ]
    for c in report.checks:
        lines.append(f"             [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
    return "\n".join(lines)


def cmd_report(a: argparse.Namespace) -> int:
    """Where a version's HTML report is: published, or kept in quarantine (exit 3 for those)."""
    from augment_jobs.errors import NotFound
    from augment_jobs.publish import is_committed, latest_version, version_uri
    from augment_jobs.store import join, store_for

    uri = _dataset_uri(a.dataset_uri)
    version = a.version or latest_version(uri)
    if version is None:
        raise NotFound(f"{uri}: nothing published yet (no _latest); name a quarantined version: augment versions {a.dataset_uri}")
    store = store_for(uri)
    published, quarantined = join(version_uri(uri, version), "_report.html"), join(uri, "quarantine", version, "report.html")
    if is_committed(uri, version) and store.exists(published):
        print(published)
        return 0
    if store.exists(quarantined):
        print(quarantined)
        return 3
    raise NotFound(f"{uri}: version {version!r} has no report; list versions with `augment versions {a.dataset_uri}`")


def cmd_rollback(a: argparse.Namespace) -> int:
    from augment_jobs.publish import latest_version, rollback

    uri = _dataset_uri(a.dataset_uri)
    before = latest_version(uri)
    rollback(uri, a.version)
    print(f"latest    {before} → {a.version}")
    return 0


def cmd_lineage(a: argparse.Namespace) -> int:
    from augment_jobs.modality import handler_for
    from augment_jobs.publish import read_manifest, version_uri

    uri = _dataset_uri(a.dataset_uri)
    manifest = read_manifest(uri, a.version)
    info = handler_for(manifest.modality).lineage(manifest, version_uri(uri, a.version), a.key)
    info["mlflow"] = manifest.mlflow.to_json()
    info["version"] = a.version
    if a.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"key        {info['key']}  ({'synthetic' if info['synthetic'] else 'real'})")
    print(f"method     {info['method']}  {json.dumps(info.get('method_params'), sort_keys=True) if info.get('method_params') else ''}")
    if info.get("drawn_params"):
        print(f"drawn      {json.dumps(info['drawn_params'], sort_keys=True, default=str)}")
    if info.get("values"):
        print(f"values     {_short(info['values'])}")
    parent_values = {str(v.get("_id")): v for v in info.get("parent_values") or []}
    for p in info.get("parents", []):
        where = f"{p['source_object']} row {p['row']}" if p.get("source_object") else "a source row (id column)"
        print(f"parent     {p['id']}  ← {where}")
        if p["id"] in parent_values and p["id"] != info["key"]:
            print(f"           {_short({k: v for k, v in parent_values[p['id']].items() if k != '_id'})}")
    for k, v in info.items():
        if k not in {"key", "synthetic", "method", "method_params", "drawn_params", "parents", "mlflow", "version",
                     "parent_values", "values", "note"} and v is not None:
            print(f"{k:<10} {json.dumps(v, default=str) if not isinstance(v, str) else v}")
    if info.get("note"):
        print(f"note       {info['note']}")
    ml = info["mlflow"]
    print(f"mlflow     run {ml['run_id']} (experiment {ml['experiment_id']}) at {ml['tracking_uri']}")
    _print_links(manifest.manifest_uri)
    return 0


def _short(values: dict[str, Any], limit: int = 240) -> str:
    text = json.dumps(values, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cmd_check(a: argparse.Namespace) -> int:
    from augment_jobs.checks.suite import check_suite
    from augment_jobs.config import load_config

    failed = 0
    for path in a.configs:
        try:
            cfg = load_config(path)
            check_suite(cfg)
            for name, ref in cfg.referenced_files().items():
                if not ref.is_file():
                    raise AugmentError(f"{path}: {name} file {ref} not found")
            print(f"ok        {path}  ({cfg.dataset}: {cfg.modality}, {', '.join(s.method for s in cfg.augment)})")
        except AugmentError as e:
            failed += 1
            _err(str(e))
    return 2 if failed else 0


def cmd_approve(a: argparse.Namespace) -> int:
    """Record an approval of the config's policy (its fingerprint) in the dataset's audit log."""
    from augment_jobs.checks.suite import check_suite
    from augment_jobs.config import load_config
    from augment_jobs.governance import approve, audit_uri

    cfg = load_config(a.config)  # validated as `augment check` does: a config that does not is exit 2
    check_suite(cfg)
    entry = approve(cfg, a.config, by=a.by, note=a.note)
    print(f"approved  policy {entry['policy'][:12]} of {entry['dataset']} by {entry['by']}")
    print(f"audit     entry {entry['seq']} in {audit_uri(_publish_uri_of(a.config))}")
    return 0


def _publish_uri_of(config_path: str) -> str:
    from augment_jobs.config import load_config

    return load_config(config_path).publish_uri()


def cmd_audit(a: argparse.Namespace) -> int:
    """The audit log's history; exit 0 when the chain holds, 2 naming the entry where it breaks."""
    from augment_jobs.errors import NotFound
    from augment_jobs.governance import AuditBroken, check_anchors, describe_entry, read_chain

    arg = a.dataset
    uri = _publish_uri_of(arg) if arg.endswith((".yaml", ".yml")) and Path(arg).is_file() else _dataset_uri(arg)
    chain = read_chain(uri)
    if not chain.entries and not chain.broken:
        from augment_jobs.publish import LATEST
        from augment_jobs.store import join, store_for

        if not store_for(uri).exists(join(uri, LATEST)):
            raise NotFound(f"{uri}: no dataset and no audit log there; check the name or URI (publish.uri of the config)")
        # versions published before governance: an empty log, which holds
        print(f"audit log {chain.uri}: no entries yet; approve a policy with `augment approve CONFIG --by NAME`")
        return 0
    if a.json:
        print(json.dumps({"uri": chain.uri, "entries": chain.entries, "broken": chain.broken}, indent=2))
    else:
        print(f"audit log {chain.uri}")
        for e in chain.entries:
            print(describe_entry(e))
    if chain.broken:
        raise AuditBroken(chain.broken)
    mismatch = check_anchors(uri, chain)
    if mismatch:
        raise AuditBroken(mismatch)
    if not a.json:
        print(f"chain     intact: {len(chain.entries)} entries, head {chain.head[:12]}")
    return 0


def cmd_methods(a: argparse.Namespace) -> int:
    from augment_jobs.registry import methods

    for name, spec in methods().items():
        fields = ", ".join(spec.params_model.model_fields)
        print(f"{spec.modality:<11} {name:<17} {spec.description}  [{fields}]")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from augment_jobs.demo import run_demo

    return run_demo(a.date, only=a.only, progress=_progress)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="augment", description="Offline batch data augmentation platform")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="one full run for one logical date")
    r.add_argument("config")
    r.add_argument("--date", required=True, help="logical date YYYY-MM-DD")
    r.add_argument("--force", action="store_true", help="recompute even if the version is already published")
    r.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes for the mapped stages (fit blocks, augment shards); default 1: in turn")
    r.set_defaults(fn=cmd_run)
    v = sub.add_parser("versions", help="versions, newest first, latest marked")
    v.add_argument("dataset_uri")
    v.set_defaults(fn=cmd_versions)
    s = sub.add_parser("show", help="a version's manifest, readable")
    s.add_argument("dataset_uri")
    s.add_argument("version", nargs="?")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_show)
    rp = sub.add_parser("report", help="where a version's HTML report is (latest by default)")
    rp.add_argument("dataset_uri")
    rp.add_argument("version", nargs="?")
    rp.set_defaults(fn=cmd_report)
    rb = sub.add_parser("rollback", help="point latest at an earlier committed version")
    rb.add_argument("dataset_uri")
    rb.add_argument("version")
    rb.set_defaults(fn=cmd_rollback)
    ln = sub.add_parser("lineage", help="a published row/sample → its sources, method, params, MLflow run")
    ln.add_argument("dataset_uri")
    ln.add_argument("version")
    ln.add_argument("key", help="an _id or a WebDataset __key__")
    ln.add_argument("--json", action="store_true")
    ln.set_defaults(fn=cmd_lineage)
    c = sub.add_parser("check", help="validate configs and their suites without running")
    c.add_argument("configs", nargs="+")
    c.set_defaults(fn=cmd_check)
    ap = sub.add_parser("approve", help="approve a config's policy (its fingerprint) in the audit log")
    ap.add_argument("config")
    ap.add_argument("--by", required=True, help="who approves")
    ap.add_argument("--note", help="why, or what was reviewed")
    ap.set_defaults(fn=cmd_approve)
    au = sub.add_parser("audit", help="a dataset's approvals, published versions, rollbacks and quarantines")
    au.add_argument("dataset", help="a dataset name, its publish URI or its config")
    au.add_argument("--json", action="store_true")
    au.set_defaults(fn=cmd_audit)
    m = sub.add_parser("methods", help="list registered augmentation methods")
    m.set_defaults(fn=cmd_methods)
    d = sub.add_parser("demo", help="write demo raw data and run every demo config end to end")
    d.add_argument("--date", default=date.today().isoformat())
    d.add_argument("--only", action="append", help="run only this dataset (repeatable)")
    d.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except AugmentError as e:
        from augment_jobs.logs import failure_line

        _err(failure_line(e) if isinstance(e, GateFailed) else str(e))
        return e.exit_code
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep interpreter shutdown from writing again
        return 0
    except KeyboardInterrupt:
        _err("interrupted; the store is consistent (rerun to finish)")
        return 130
    except Exception as e:  # the last line of defence: still one line, the traceback on request
        if os.environ.get("AUGMENT_DEBUG"):
            traceback.print_exc()
        _err(f"unexpected {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''} "
             "(set AUGMENT_DEBUG=1 for the traceback)")
        return 1


def entrypoint() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
