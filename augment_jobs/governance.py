"""Governance: approvals of policies and a tamper-evident audit log (docs/governance.md).

A *policy* is a dataset config and the files it names (suite, thesauri); its fingerprint is
`DatasetConfig.sha256()`, so `limitations` and every param are covered by an approval. The audit
log lives at `<publish.uri>/_audit/` as one JSON object per entry, `00000000.json`, `00000001.json`,
... Each entry holds the hash of the one before it (`prev`) and its own (`hash`, the sha256 of its
canonical JSON without `hash`), so editing, deleting or reordering an entry breaks the chain at
that entry. Entries are appended with an exclusive create (`put_if_absent`), so two writers never
take the same number and an entry, once written, is never replaced by the platform.

Entry kinds: `approval` (a policy approved by a person), `published` (a version committed, with its
policy), `quarantine` (a version that failed its gate), `rollback` (`latest` moved back).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import AugmentError, ConfigError, ContractError

if TYPE_CHECKING:
    from augment_jobs.config import DatasetConfig

AUDIT = "_audit"
GENESIS = "0" * 64
KINDS = ("approval", "published", "quarantine", "rollback")
REQUIRE_ENV = "AUGMENT_REQUIRE_APPROVAL"
ENTRY_NAME = re.compile(r"\d{8}\.json")


class AuditBroken(ContractError):
    """The audit log's hash chain does not hold; the message names the entry. Exit code 2."""


def audit_uri(publish_uri: str) -> str:
    from augment_jobs.store import join

    return join(publish_uri, AUDIT)


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 of the entry's canonical JSON (sorted keys, no spaces), `hash` left out."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _name(seq: int) -> str:
    return f"{seq:08d}.json"


@dataclass(frozen=True)
class Chain:
    """The log as read: the entries that hold, and where (and why) the chain breaks, if it does."""

    uri: str
    entries: list[dict[str, Any]]
    broken: str | None = None  # one line naming the entry, None when the chain holds

    @property
    def head(self) -> str:
        return self.entries[-1]["hash"] if self.entries else GENESIS

    def approvals(self, policy: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["kind"] == "approval" and e.get("policy") == policy]


def read_chain(publish_uri: str) -> Chain:
    """Read and verify the whole log; never raises for a broken chain (see `Chain.broken`)."""
    from augment_jobs.store import join, store_for

    uri = audit_uri(publish_uri)
    store = store_for(uri)
    objects = store.list(uri + "/")
    bodies = _read_all(store, [o.uri for o in objects if ENTRY_NAME.fullmatch(o.uri.rsplit("/", 1)[-1])])
    entries: list[dict[str, Any]] = []
    prev = GENESIS
    for i, obj in enumerate(objects):
        name = obj.uri.rsplit("/", 1)[-1]
        where = join(uri, name)
        if not ENTRY_NAME.fullmatch(name):
            return Chain(uri, entries, f"audit log {uri}: the chain breaks at entry {i}: {where} is not an audit "
                                       "entry (only NNNNNNNN.json files belong there)")
        if name != _name(i):  # names sort in order: a later number here means entry i is gone
            return Chain(uri, entries, f"audit log {uri}: the chain breaks at entry {i}: {join(uri, _name(i))} "
                                       "is missing (deleted?)")
        try:
            entry = json.loads(bodies[obj.uri])
        except ValueError:
            return Chain(uri, entries, f"audit log {uri}: the chain breaks at entry {i}: {where} is not valid JSON (edited by hand?)")
        if not isinstance(entry, dict) or entry.get("seq") != i:
            return Chain(uri, entries, f"audit log {uri}: the chain breaks at entry {i}: {where} does not hold entry {i} (moved or replaced?)")
        if entry.get("prev") != prev:
            link = f"link to entry {i - 1}'s hash" if i else "start the chain"
            return Chain(uri, entries, f"audit log {uri}: the chain breaks at entry {i}: {where} does not {link} "
                                       "(an entry was removed, replaced or reordered)")
        if entry.get("hash") != entry_hash(entry):
            return Chain(uri, entries, f"audit log {uri}: the chain breaks at entry {i}: {where} was changed after it was "
                                       "written (its hash does not match its content)")
        entries.append(entry)
        prev = entry["hash"]
    return Chain(uri, entries)


def _read_all(store: Any, uris: list[str]) -> dict[str, bytes]:
    """Every entry's bytes; in parallel, since a year of daily runs is hundreds of S3 GETs."""
    from concurrent.futures import ThreadPoolExecutor

    if len(uris) < 8:
        return {u: store.read_bytes(u) for u in uris}
    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(zip(uris, pool.map(store.read_bytes, uris), strict=True))


def check_anchors(publish_uri: str, chain: Chain) -> str | None:
    """Cross-check the log against the committed manifests, which each keep a copy of the approval
    entry their version ran under (`approval.entry`, `approval.hash`). A chain rewritten from some
    entry on, every hash recomputed, or cut short, still holds on its own; it no longer matches
    these copies. One line naming the entry and the version, or None when every copy matches."""
    from augment_jobs.publish import committed_versions

    for m in sorted(committed_versions(publish_uri), key=lambda m: m.version):
        a = m.approval
        if not a:
            continue
        seq = a.get("entry")
        held = chain.entries[seq] if isinstance(seq, int) and 0 <= seq < len(chain.entries) else None
        if held is None:
            return (f"audit log {chain.uri}: entry {seq}, the approval version {m.version} ran under, is gone "
                    "(the log was cut short or rewritten)")
        if held["hash"] != a.get("hash"):
            return (f"audit log {chain.uri}: entry {seq} is not the approval version {m.version} ran under "
                    "(its manifest keeps another hash: the log was rewritten)")
    return None


def verified_chain(publish_uri: str) -> Chain:
    """The log, or AuditBroken (exit 2) naming the entry where it breaks."""
    chain = read_chain(publish_uri)
    if chain.broken:
        raise AuditBroken(f"{chain.broken}; restore it from a backup (augment audit shows the entries that hold)")
    return chain


def append(publish_uri: str, kind: str, **fields: Any) -> dict[str, Any]:
    """Append one entry to the log (verified first: nothing is chained onto a broken log)."""
    from augment_jobs.store import dumps, join, store_for

    if kind not in KINDS:
        raise ValueError(f"audit entry kind {kind!r} is not one of {', '.join(KINDS)}")
    uri = audit_uri(publish_uri)
    store = store_for(uri)
    for _ in range(50):
        chain = verified_chain(publish_uri)
        entry = {"seq": len(chain.entries), "kind": kind, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                 **fields, "prev": chain.head}
        entry["hash"] = entry_hash(entry)
        if store.put_if_absent(join(uri, _name(entry["seq"])), dumps(entry)):
            return entry
    raise AugmentError(f"{uri}: could not append after 50 attempts; too many concurrent writers")


# --- policies and approvals ----------------------------------------------------------------------
def policy_of(cfg: DatasetConfig) -> dict[str, Any]:
    """The policy an approval covers: the config's fingerprint, and each named file's digest."""
    files = {key: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
             for key, p in sorted(cfg.referenced_files().items())}
    return {"policy": cfg.sha256(), "dataset": cfg.dataset, "files": files, "limitations": list(cfg.limitations)}


def approve(cfg: DatasetConfig, config_path: str, *, by: str, note: str | None = None) -> dict[str, Any]:
    """Record the approval of a config validated as `augment check` validates it (`cli approve`)."""
    if not by.strip():
        raise ConfigError("--by: name the person approving the policy, e.g. --by 'Ada Lovelace'")
    for key, ref in cfg.referenced_files().items():
        if not ref.is_file():
            raise ConfigError(f"{config_path}: {key} file {ref} not found; fix the config before approving it")
    return append(cfg.publish_uri(), "approval", **policy_of(cfg), config=os.path.basename(config_path),
                  by=by.strip(), note=note)


def approval_required(cfg: DatasetConfig) -> bool:
    """`governance.require_approval` in the config, or `AUGMENT_REQUIRE_APPROVAL` set to a true value."""
    env = os.environ.get(REQUIRE_ENV, "").strip().lower()
    return cfg.governance.require_approval or env in ("1", "true", "yes", "on")


def approval_for(cfg: DatasetConfig, publish_uri: str | None = None) -> dict[str, Any] | None:
    """The newest approval of this config's policy, as recorded in the manifest; None if none.

    A broken log is AuditBroken when approval is required (its approvals cannot be trusted), and
    otherwise read up to the break (the run is not held up by a log it does not need)."""
    chain = read_chain(publish_uri or cfg.publish_uri())
    if chain.broken and approval_required(cfg):
        raise AuditBroken(f"{chain.broken}; approvals cannot be trusted, so the run stops (augment audit {cfg.dataset})")
    found = chain.approvals(cfg.sha256())
    if not found:
        return None
    e = found[-1]
    return {"policy": e["policy"], "by": e["by"], "note": e.get("note"), "at": e["at"], "entry": e["seq"],
            "hash": e["hash"]}


def require_approval(cfg: DatasetConfig, config_path: str) -> dict[str, Any] | None:
    """When approval is required, the policy's approval or ConfigError (exit 2) naming the command."""
    approval = approval_for(cfg)
    if approval is None and approval_required(cfg):
        source = "governance.require_approval" if cfg.governance.require_approval else REQUIRE_ENV
        raise ConfigError(
            f"{config_path}: policy {cfg.sha256()[:12]} of {cfg.dataset} is not approved ({source}); "
            f"nothing published. Approve it with: augment approve {config_path} --by NAME"
        )
    return approval


def record(publish_uri: str, kind: str, **fields: Any) -> None:
    """Append an event (published, quarantine, rollback); a version's `published` only once.

    A log that cannot take the event (a broken chain, the store down) must not undo the publish or
    hide the gate's verdict: it is logged as a warning, and the break is what `augment audit` reports.
    """
    import logging

    try:
        chain = read_chain(publish_uri)
        if chain.broken:
            logging.getLogger(__name__).warning("%s; the %s event was not logged", chain.broken, kind)
            return
        if kind == "published" and any(e["kind"] == kind and e.get("version") == fields.get("version")
                                       for e in chain.entries):
            return  # a version is committed once
        append(publish_uri, kind, **fields)
    except AugmentError as e:
        logging.getLogger(__name__).warning("audit log of %s: the %s event was not logged: %s", publish_uri, kind, e)


def actor() -> str:
    """Who made an event happen: the Airflow task's run, or the local user."""
    if os.environ.get("AIRFLOW_CTX_DAG_RUN_ID"):
        return f"airflow:{os.environ.get('AIRFLOW_CTX_DAG_ID', '?')}/{os.environ['AIRFLOW_CTX_DAG_RUN_ID']}"
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# --- reading it back -----------------------------------------------------------------------------
def describe_entry(e: dict[str, Any]) -> str:
    """One readable line per entry for `augment audit`."""
    head = f"{e['seq']:>5}  {e['at']:<25} {e['kind']:<10}"
    if e["kind"] == "approval":
        note = f"  note: {e['note']}" if e.get("note") else ""
        return f"{head} policy {e['policy'][:12]} approved by {e['by']} ({e.get('config', '?')}){note}"
    if e["kind"] == "published":
        approved = f"approved by {e['approval']['by']} (entry {e['approval']['entry']})" if e.get("approval") else "unapproved"
        return f"{head} {e['version']}  policy {e['policy'][:12]}  {approved}  by {e.get('by', '?')}"
    if e["kind"] == "quarantine":
        return f"{head} {e['version']}  policy {e['policy'][:12]}  failed: {', '.join(e.get('failed_checks') or []) or '?'}"
    if e["kind"] == "rollback":
        return f"{head} latest {e.get('from')} -> {e.get('to')}  by {e.get('by', '?')}"
    return f"{head} {json.dumps({k: v for k, v in e.items() if k not in ('seq', 'at', 'kind', 'prev', 'hash')})}"
