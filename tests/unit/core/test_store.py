"""The store's commit primitives on a local folder and on S3 over HTTP (moto server)."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from augment_jobs.store import join, store_for


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])  # s3: moto's HTTP server
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3_store")


def test_put_if_absent_is_exclusive(root: str) -> None:
    store = store_for(root)
    uri = join(root, "a", "_manifest.json")
    assert store.put_if_absent(uri, b"one")
    assert not store.put_if_absent(uri, b"two")
    assert store.read_bytes(uri) == b"one"


def test_compare_and_swap(root: str) -> None:
    store = store_for(root)
    uri = join(root, "_latest")
    assert store.read_versioned(uri) == (None, None)
    assert store.replace_if(uri, b"v1", None)
    assert not store.replace_if(uri, b"v1b", None)  # must not exist any more
    data, token = store.read_versioned(uri)
    assert data == b"v1"
    assert store.replace_if(uri, b"v2", token)
    assert not store.replace_if(uri, b"v3", token)  # stale token
    assert store.read_bytes(uri) == b"v2"


def test_list_move_delete(root: str) -> None:
    store = store_for(root)
    for name in ("x/1.bin", "x/2.bin", "x/sub/3.bin"):
        store.write_bytes(join(root, name), name.encode())
    assert [o.uri.rsplit("/", 1)[-1] for o in store.list(join(root, "x") + "/")] == ["1.bin", "2.bin", "3.bin"]
    assert store.list_dirs(join(root, "x")) == ["sub"]
    store.move(join(root, "x/1.bin"), join(root, "y/1.bin"))
    assert store.read_bytes(join(root, "y/1.bin")) == b"x/1.bin"
    assert not store.exists(join(root, "x/1.bin"))
    store.delete_prefix(join(root, "x"))
    assert store.list(join(root, "x") + "/") == []
    with pytest.raises(FileNotFoundError):
        store.read_bytes(join(root, "x/2.bin"))


def test_streamed_write_appears_whole_or_not_at_all(root: str) -> None:
    import numpy as np

    store = store_for(root)
    uri = join(root, "state", "arrays.npz")
    big = np.arange(3_000_000, dtype=np.int64)  # written in chunks, never whole in memory as bytes
    with store.writing(uri) as out:
        np.savez(out, big=big, small=np.array([1.5]))
    with np.load(io.BytesIO(store.read_bytes(uri))) as z:
        assert np.array_equal(z["big"], big) and z["small"].tolist() == [1.5]
    failed = join(root, "state", "failed.npz")
    with pytest.raises(RuntimeError, match="disk gone"), store.writing(failed) as out:
        out.write(b"partial")
        raise RuntimeError("disk gone")
    assert not store.exists(failed)
    assert [o.uri.rsplit("/", 1)[-1] for o in store.list(join(root, "state") + "/")] == ["arrays.npz"]


def test_etags_follow_content(root: str) -> None:
    store = store_for(root)
    store.write_bytes(join(root, "p/a"), b"same")
    store.write_bytes(join(root, "q/a"), b"same")
    (a,), (b,) = store.list(join(root, "p") + "/"), store.list(join(root, "q") + "/")
    assert a.etag == b.etag and a.size == 4


def _hold_lease(uri: str, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    with store_for(uri).lease(uri, ttl=600):
        ready.set()
        time.sleep(600)


def test_lease_left_by_killed_process_is_taken_over(tmp_path: Path) -> None:
    uri = str(tmp_path / "_locks" / "2026-01-01.lock")
    ready = multiprocessing.get_context("fork").Event()
    proc = multiprocessing.get_context("fork").Process(target=_hold_lease, args=(uri, ready))
    proc.start()
    assert ready.wait(10)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert json.loads(Path(uri).read_text())["pid"] == proc.pid  # the dead holder's lease is still there
    t = time.monotonic()
    with store_for(uri).lease(uri, wait=5):
        assert json.loads(Path(uri).read_text())["pid"] == os.getpid()
    assert time.monotonic() - t < 3
    assert not Path(uri).exists()


def test_expired_lease_is_taken_over_and_live_one_waits(root: str) -> None:
    store = store_for(root)
    uri = join(root, "_locks", "x.lock")
    store.write_bytes(uri, json.dumps({"owner": "other", "host": "elsewhere", "pid": 1, "expires_at": time.time() + 60}).encode())
    from augment_jobs.errors import StorageError

    with pytest.raises(StorageError, match="lock still held"), store.lease(uri, wait=1, poll=0.2):
        pass
    store.write_bytes(uri, json.dumps({"owner": "other", "host": "elsewhere", "pid": 1, "expires_at": time.time() - 1}).encode())
    with store.lease(uri, wait=1):
        pass


def test_unwritable_local_path_is_a_clear_error(tmp_path: Path) -> None:
    from augment_jobs.errors import StorageError

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    with pytest.raises(StorageError, match="cannot write"):
        store_for(str(ro)).write_bytes(str(ro / "x" / "y"), b"1")


def test_lease_is_renewed_while_held(root: str) -> None:
    store = store_for(root)
    uri = join(root, "_locks", "renew.lock")
    with store.lease(uri, ttl=0.6):
        first = json.loads(store.read_bytes(uri))["expires_at"]
        time.sleep(0.9)  # longer than the ttl: without renewal the lease would be stale
        lease = json.loads(store.read_bytes(uri))
        assert lease["expires_at"] > first and lease["expires_at"] > time.time()
    assert not store.exists(uri)
