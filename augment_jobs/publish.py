"""Versions, manifests and `_latest` (docs/store.md).

Layout under a dataset's publish URI:

    versions/<version>/part-00000.parquet ... | shard-000000.tar ...
    versions/<version>/_gate_report.json
    versions/<version>/_manifest.json        written last, exclusively: the commit point
    _latest                                   {"version": ...}; compare-and-swap, forward only
    quarantine/<version>/...                  outputs that failed the gate, with the report
    _staging/<version>/...                    work in progress (plan, shard results, staged data)
    _locks/<ds>.lock                          lease held by the run of one logical date

A version without `_manifest.json` does not exist for readers, so a crash at any point leaves
either the previous state or the new committed version.
"""

from __future__ import annotations

import json

from augment_jobs.contract import GateReport, Manifest
from augment_jobs.errors import AugmentError, ConfigError, NotFound
from augment_jobs.store import Store, dumps, join, store_for

MANIFEST = "_manifest.json"
LATEST = "_latest"


def version_uri(publish_uri: str, version: str) -> str:
    return join(publish_uri, "versions", version)


def quarantine_uri(publish_uri: str, version: str) -> str:
    """Where a version that failed the gate is kept, with its gate report under `gate/report.json`."""
    return join(publish_uri, "quarantine", version)


def manifest_uri(publish_uri: str, version: str) -> str:
    return join(version_uri(publish_uri, version), MANIFEST)


def read_manifest(publish_uri: str, version: str) -> Manifest:
    """The committed manifest of `version`, parsed (ContractError when damaged or too new)."""
    store = store_for(publish_uri)
    uri = manifest_uri(publish_uri, version)
    try:
        return Manifest.parse(store.read_json(uri), where=uri)
    except FileNotFoundError:
        raise NotFound(
            f"{publish_uri}: version {version!r} is not committed; list versions with `augment versions {publish_uri}`"
        ) from None


def is_committed(publish_uri: str, version: str) -> bool:
    return store_for(publish_uri).exists(manifest_uri(publish_uri, version))


def latest_version(publish_uri: str) -> str | None:
    try:
        return store_for(publish_uri).read_json(join(publish_uri, LATEST))["version"]
    except FileNotFoundError:
        return None


def read_gate_report(uri: str) -> GateReport:
    """A gate report (published or quarantined), parsed."""
    return GateReport.parse(store_for(uri).read_json(uri), where=uri)


def committed_versions(publish_uri: str) -> list[Manifest]:
    """Manifests of every committed version, newest first (logical date, then commit time)."""
    store = store_for(publish_uri)
    out = []
    for name in store.list_dirs(join(publish_uri, "versions")):
        try:
            out.append(read_manifest(publish_uri, name))
        except NotFound:
            continue  # uncommitted leftovers of an interrupted run: invisible
    return sorted(out, key=_order, reverse=True)


def _order(manifest: Manifest) -> tuple[str, str]:
    return manifest.logical_date, manifest.created_at


def commit(store: Store, publish_uri: str, manifest: Manifest) -> bool:
    """Write the manifest exclusively; False when the version was already committed."""
    return store.put_if_absent(manifest_uri(publish_uri, manifest.version), manifest.to_bytes())


def advance_latest(publish_uri: str, manifest: Manifest, *, repair: bool = False) -> bool:
    """Point `_latest` at `manifest`'s version unless it already points at a newer logical date.

    Compare-and-swap in a loop: racing publishers cannot lose each other's update, and a backfill
    of an older date never steals `latest` from a newer one. `repair` (a rerun finishing a commit
    whose run died before moving `_latest`) leaves an explicit rollback alone.
    """
    store = store_for(publish_uri)
    uri = join(publish_uri, LATEST)
    body = dumps({"version": manifest.version, "logical_date": manifest.logical_date})
    for _ in range(50):
        current, token = store.read_versioned(uri)
        if current is not None:
            cur = json.loads(current)
            cur_version = cur["version"]
            if cur_version == manifest.version:
                return True
            if repair and cur.get("rolled_back"):
                return False
            try:
                cur = read_manifest(publish_uri, cur_version)
                if _order(cur) > _order(manifest):
                    return False
            except NotFound:
                pass  # latest points at a version retention or an operator removed: replace it
        if store.replace_if(uri, body, token):
            return True
    raise AugmentError(f"{uri}: could not update after 50 attempts; too many concurrent publishers")


def rollback(publish_uri: str, version: str) -> Manifest:
    """Point `_latest` at an earlier committed version (the explicit way back)."""
    from augment_jobs import governance

    manifest = read_manifest(publish_uri, version)
    store = store_for(publish_uri)
    uri = join(publish_uri, LATEST)
    body = dumps({"version": version, "logical_date": manifest.logical_date, "rolled_back": True})
    for _ in range(50):
        current, token = store.read_versioned(uri)
        if store.replace_if(uri, body, token):
            before = json.loads(current)["version"] if current else None
            governance.record(publish_uri, "rollback", version=version, policy=manifest.policy or manifest.config_sha256,
                              to=version, **{"from": before}, by=governance.actor())
            return manifest
    raise AugmentError(f"{uri}: could not update after 50 attempts")


def apply_retention(publish_uri: str, keep_last: int, pinned: list[str], *, just_published: str | None = None) -> list[str]:
    """Delete committed versions beyond the newest `keep_last`, never `latest`, a pinned one, or
    the version this run just published (a backfill's output is not deleted on arrival).

    The manifest goes first, so a version disappears for readers before its files do.
    """
    store = store_for(publish_uri)
    keep = {latest_version(publish_uri), just_published, *pinned}
    deleted = []
    for manifest in committed_versions(publish_uri)[keep_last:]:
        v = manifest.version
        if v in keep:
            continue
        store.delete(manifest_uri(publish_uri, v))
        store.delete_prefix(version_uri(publish_uri, v))
        deleted.append(v)
    return deleted


def describe(manifest: Manifest, latest: str | None = None) -> str:
    """A readable summary of a manifest for `augment show`."""
    m = manifest
    lines = [
        f"dataset      {m.dataset}",
        f"version      {m.version}" + ("   (latest)" if m.version == latest else ""),
        f"logical date {m.logical_date}   created {m.created_at}",
        f"rows         {m.rows} in {len(m.files)} file(s), format {m.format}",
        f"source       {len(m.source)} object(s) under {m.source_uri}",
        "methods      " + ", ".join(f"{s.method} {json.dumps(s.params, sort_keys=True)}" for s in m.steps),
        "counts       class: before -> after (synthetic)",
    ]
    for cls, c in m.counts.items():
        lines.append(f"             {cls}: {c.before} -> {c.after} ({c.synthetic})")
    lines.append(f"gate         {'PASSED' if m.gate.passed else 'FAILED'}  report {m.gate.report_uri}")
    for c in m.gate.checks:
        lines.append(f"             [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
    a = m.approval
    lines.append(f"policy       {m.policy[:12] or '?'}  " + (
        f"approved by {a['by']} at {a['at']} (audit entry {a['entry']})" if a else "not approved"))
    for text in m.limitations:
        lines.append(f"limitation   {text}")
    if m.privacy.get("epsilon") is not None:
        lines.append(f"privacy      epsilon {m.privacy['epsilon']:g}, delta {m.privacy.get('delta', 0):g} spent")
    for col, f in m.fairness.items():
        if "change" in f:
            lines.append(f"fairness     {col}: disparity {f['disparity_before']:.3f} -> {f['disparity_after']:.3f} "
                         f"(class {f['change_class']}: {f['change']:+.3f})")
    for note in m.notes:
        lines.append(f"note         {note}")
    lines.append(f"mlflow       run {m.mlflow.run_id} (experiment {m.mlflow.experiment_id}) at {m.mlflow.tracking_uri}")
    return "\n".join(lines)


def check_writable(publish_uri: str) -> None:
    """Fail fast, before any work, when the publish URI cannot be written."""
    store = store_for(publish_uri)
    probe = join(publish_uri, "_staging", ".write-probe")
    try:
        store.write_bytes(probe, b"ok")
        store.delete(probe)
    except (AugmentError, OSError) as e:
        raise ConfigError(f"publish.uri {publish_uri}: not writable ({e}); fix the path or its permissions") from None
