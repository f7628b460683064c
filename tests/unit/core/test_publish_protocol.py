"""The publish protocol on a local store (docs/store.md): commit point, `_latest` compare-and-swap,
forward-only latest, rollback, retention with pins, quarantine and lease takeover.

Everything runs against `augment_jobs.publish` and `augment_jobs.store` on a folder in tmp_path;
the quarantine test drives the real stages on a tiny CSV.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tiny_tabular import write_tiny_tabular

from augment_jobs import publish
from augment_jobs.contract import Manifest
from augment_jobs.errors import AugmentError, GateFailed, NotFound, StorageError
from augment_jobs.store import Store, join, store_for

D1, D2, D3, D4 = "2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"


@pytest.fixture
def dataset(tmp_path: Path) -> str:
    """A publish URI on a fresh local folder."""
    return str(tmp_path / "published" / "sales")


def manifest_for(ds: str, tag: str = "aaaaaaaa", created_at: str | None = None, rows: int = 1) -> Manifest:
    """A minimal valid manifest: the fields the protocol reads (versions, order, retention)."""
    return Manifest(
        dataset="sales", version=f"{ds}.{tag}", logical_date=ds, created_at=created_at or f"{ds}T12:00:00+00:00",
        modality="tabular", format="parquet", rows=rows, files=[], gate={"passed": True},
    )


def publish_version(uri: str, ds: str, tag: str = "aaaaaaaa", *, created_at: str | None = None) -> tuple[Manifest, bool]:
    """Commit a version (a data file, then the manifest) and advance `_latest` as the stage does."""
    store = store_for(uri)
    manifest = manifest_for(ds, tag, created_at)
    store.write_bytes(join(publish.version_uri(uri, manifest["version"]), "part-00000.parquet"), b"data " + tag.encode())
    assert publish.commit(store, uri, manifest)
    return manifest, publish.advance_latest(uri, manifest)


def latest_body(uri: str) -> dict[str, Any]:
    return json.loads(store_for(uri).read_bytes(join(uri, publish.LATEST)))


# --- commit point --------------------------------------------------------------------------------
def test_commit_is_put_if_absent_and_never_overwrites(dataset: str) -> None:
    store = store_for(dataset)
    first = manifest_for(D1)
    assert not publish.is_committed(dataset, first["version"])
    assert publish.commit(store, dataset, first)
    assert publish.is_committed(dataset, first["version"])
    written = store.read_bytes(publish.manifest_uri(dataset, first["version"]))

    second = manifest_for(D1, created_at=f"{D2}T00:00:00+00:00", rows=999)  # a racing run's manifest
    assert publish.commit(store, dataset, second) is False
    assert store.read_bytes(publish.manifest_uri(dataset, first["version"])) == written
    assert publish.read_manifest(dataset, first["version"])["rows"] == 1


def test_a_version_without_manifest_does_not_exist(dataset: str) -> None:
    store = store_for(dataset)
    store.write_bytes(join(publish.version_uri(dataset, f"{D1}.deadbeef"), "part-00000.parquet"), b"half")
    assert publish.committed_versions(dataset) == []
    assert not publish.is_committed(dataset, f"{D1}.deadbeef")
    with pytest.raises(NotFound, match="not committed"):
        publish.read_manifest(dataset, f"{D1}.deadbeef")


# --- `_latest`: compare-and-swap, forward only ---------------------------------------------------
def test_latest_compare_and_swap_refuses_a_stale_token(dataset: str) -> None:
    store = store_for(dataset)
    latest = join(dataset, publish.LATEST)
    publish_version(dataset, D1)
    before, stale = store.read_versioned(latest)
    assert json.loads(before)["version"] == f"{D1}.aaaaaaaa"

    _, moved = publish_version(dataset, D2)  # another publisher moves `_latest` meanwhile
    assert moved
    assert store.replace_if(latest, b'{"version": "clobbered"}', stale) is False
    assert publish.latest_version(dataset) == f"{D2}.aaaaaaaa"
    _, fresh = store.read_versioned(latest)
    assert fresh != stale


def test_latest_moves_forward_only(dataset: str) -> None:
    publish_version(dataset, D2)
    assert publish.latest_version(dataset) == f"{D2}.aaaaaaaa"

    backfill, moved = publish_version(dataset, D1)  # an older logical date arrives later
    assert moved is False
    assert publish.latest_version(dataset) == f"{D2}.aaaaaaaa"
    assert publish.is_committed(dataset, backfill["version"])  # published, just not latest

    _, moved = publish_version(dataset, D3)
    assert moved is True
    assert publish.latest_version(dataset) == f"{D3}.aaaaaaaa"
    assert [m["version"] for m in publish.committed_versions(dataset)] == [f"{d}.aaaaaaaa" for d in (D3, D2, D1)]


def test_same_date_later_commit_wins_and_readvancing_is_a_noop(dataset: str) -> None:
    publish_version(dataset, D1, "aaaaaaaa", created_at=f"{D1}T10:00:00+00:00")
    _, moved = publish_version(dataset, D1, "bbbbbbbb", created_at=f"{D1}T11:00:00+00:00")  # config changed
    assert moved and publish.latest_version(dataset) == f"{D1}.bbbbbbbb"
    assert publish.advance_latest(dataset, publish.read_manifest(dataset, f"{D1}.bbbbbbbb")) is True
    assert publish.advance_latest(dataset, publish.read_manifest(dataset, f"{D1}.aaaaaaaa")) is False
    assert publish.latest_version(dataset) == f"{D1}.bbbbbbbb"


def test_racing_publishers_end_on_the_newest(dataset: str) -> None:
    store = store_for(dataset)
    manifests = [manifest_for(f"2026-04-{day:02d}") for day in range(1, 9)]
    for m in manifests:
        assert publish.commit(store, dataset, m)
    threads = [threading.Thread(target=publish.advance_latest, args=(dataset, m)) for m in reversed(manifests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert publish.latest_version(dataset) == manifests[-1]["version"]


# --- rollback ------------------------------------------------------------------------------------
def test_rollback_is_explicit_and_a_repair_does_not_undo_it(dataset: str) -> None:
    publish_version(dataset, D1)
    newest, _ = publish_version(dataset, D2)
    assert publish.latest_version(dataset) == newest["version"]

    publish.rollback(dataset, f"{D1}.aaaaaaaa")
    assert publish.latest_version(dataset) == f"{D1}.aaaaaaaa"
    assert latest_body(dataset)["rolled_back"] is True

    # a rerun of D2 finishing a commit whose run died before moving `_latest`: leaves the rollback alone
    assert publish.advance_latest(dataset, newest, repair=True) is False
    assert publish.latest_version(dataset) == f"{D1}.aaaaaaaa"

    # the next genuinely new date moves latest forward again
    _, moved = publish_version(dataset, D3)
    assert moved and publish.latest_version(dataset) == f"{D3}.aaaaaaaa"
    assert "rolled_back" not in latest_body(dataset)


def test_rollback_to_an_uncommitted_version_is_refused(dataset: str) -> None:
    publish_version(dataset, D1)
    with pytest.raises(NotFound, match=f"{D2}.ffffffff"):
        publish.rollback(dataset, f"{D2}.ffffffff")
    assert publish.latest_version(dataset) == f"{D1}.aaaaaaaa"


# --- retention -----------------------------------------------------------------------------------
def test_retention_keeps_latest_pinned_and_just_published(dataset: str) -> None:
    for day in range(1, 8):
        publish_version(dataset, f"2026-05-{day:02d}")
    v = {day: f"2026-05-{day:02d}.aaaaaaaa" for day in range(1, 8)}
    publish.rollback(dataset, v[2])  # latest is now an old version
    backfill = v[1]  # pretend this run just published the oldest date

    deleted = publish.apply_retention(dataset, keep_last=2, pinned=[v[4]], just_published=backfill)

    assert sorted(deleted) == [v[3], v[5]]
    kept = {m["version"] for m in publish.committed_versions(dataset)}
    assert kept == {v[7], v[6], v[4], v[2], v[1]}
    assert publish.latest_version(dataset) == v[2]
    for gone in deleted:  # manifest and files both gone
        assert store_for(dataset).list(publish.version_uri(dataset, gone) + "/") == []
    assert store_for(dataset).exists(join(publish.version_uri(dataset, v[4]), "part-00000.parquet"))


def test_retention_within_policy_deletes_nothing(dataset: str) -> None:
    for day in range(1, 4):
        publish_version(dataset, f"2026-05-{day:02d}")
    assert publish.apply_retention(dataset, keep_last=3, pinned=[]) == []
    assert len(publish.committed_versions(dataset)) == 3


# --- quarantine ----------------------------------------------------------------------------------
def test_failing_gate_quarantines_and_publishes_nothing(store: Path) -> None:
    from augment_jobs import stages

    uri = str(store / "published" / "tiny")
    earlier, _ = publish_version(uri, "2026-06-01")  # the version readers have now
    config = write_tiny_tabular(store, "2026-06-02", max_synthetic_ratio=0.01)

    with pytest.raises(GateFailed, match="synthetic_share") as failed:
        stages.run(str(config), "2026-06-02")

    (version,) = store_for(uri).list_dirs(join(uri, "quarantine"))
    where = join(uri, "quarantine", version)
    assert failed.value.report_uri == join(where, "gate", "report.json")
    report = json.loads(Path(failed.value.report_uri).read_text())
    assert report["passed"] is False and report["version"] == version
    assert any(c["name"] == "synthetic_share" and not c["passed"] for c in report["checks"])
    names = {o.uri.rsplit("/", 1)[-1] for o in store_for(uri).list(where + "/")}
    assert "plan.json" in names and any(n.endswith(".parquet") for n in names)  # staged data kept
    assert store_for(uri).list(join(uri, "_staging", version) + "/") == []  # staging moved, not copied
    assert not publish.is_committed(uri, version)
    assert [m["version"] for m in publish.committed_versions(uri)] == [earlier["version"]]
    assert publish.latest_version(uri) == earlier["version"]
    with pytest.raises(AugmentError, match="plan not found"):  # a retried publish task finds nothing to publish
        stages.publish(join(uri, "_staging", version, "plan.json"))


# --- leases --------------------------------------------------------------------------------------
def _write_lease(store: Store, uri: str, *, host: str, pid: int, expires_in: float) -> None:
    store.write_bytes(uri, json.dumps(
        {"owner": "someone-else", "host": host, "pid": pid, "expires_at": time.time() + expires_in}
    ).encode())


def _dead_pid() -> int:
    """The id of a process of this host that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lease_of_a_dead_holder_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    store = store_for(str(tmp_path))
    uri = str(tmp_path / "_locks" / f"{D1}.lock")
    _write_lease(store, uri, host=socket.gethostname(), pid=_dead_pid(), expires_in=3600)  # not expired
    t = time.monotonic()
    with store.lease(uri, wait=5, poll=0.05):
        held = json.loads(store.read_bytes(uri))
        assert held["pid"] == os.getpid() and held["owner"] != "someone-else"
    assert time.monotonic() - t < 2
    assert not store.exists(uri)  # released on exit


def test_expired_lease_of_another_host_is_taken_over(tmp_path: Path) -> None:
    store = store_for(str(tmp_path))
    uri = str(tmp_path / "_locks" / f"{D1}.lock")
    _write_lease(store, uri, host="another-host", pid=1, expires_in=-1)
    with store.lease(uri, wait=2, poll=0.05):
        assert json.loads(store.read_bytes(uri))["pid"] == os.getpid()


@pytest.mark.parametrize("holder", ["live process here", "unexpired on another host"])
def test_live_lease_is_not_taken_over(tmp_path: Path, holder: str) -> None:
    store = store_for(str(tmp_path))
    uri = str(tmp_path / "_locks" / f"{D1}.lock")
    if holder == "live process here":
        _write_lease(store, uri, host=socket.gethostname(), pid=os.getppid(), expires_in=3600)
    else:
        _write_lease(store, uri, host="another-host", pid=1, expires_in=3600)
    before = store.read_bytes(uri)
    with pytest.raises(StorageError, match="lock still held"), store.lease(uri, wait=0.3, poll=0.05):
        pass
    assert store.read_bytes(uri) == before  # untouched, still the holder's


def test_second_lease_waits_for_the_first_to_be_released(tmp_path: Path) -> None:
    store = store_for(str(tmp_path))
    uri = str(tmp_path / "_locks" / f"{D1}.lock")
    order: list[str] = []
    entered = threading.Event()

    def first() -> None:
        with store.lease(uri):
            entered.set()
            time.sleep(0.4)
            order.append("first released")

    t = threading.Thread(target=first)
    t.start()
    assert entered.wait(5)
    with store.lease(uri, wait=5, poll=0.05):
        order.append("second acquired")
    t.join()
    assert order == ["first released", "second acquired"]
