"""`file://` URIs work wherever a local path does, and a relative one is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_tabular import write_tiny_tabular

from augment_jobs import publish
from augment_jobs.cli import main
from augment_jobs.contract import Manifest
from augment_jobs.errors import AugmentError, ConfigError
from augment_jobs.store import join, local_path_of, relpath, store_for


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty working directory, to see that nothing lands under `./file:`."""
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    return here


@pytest.mark.parametrize(("uri", "path"), [
    ("file:///data/lake", "/data/lake"),
    ("file://localhost/data/lake", "/data/lake"),
    ("file:/data/lake", "/data/lake"),
    ("FILE:///data/lake/", "/data/lake/"),
    ("file:///data/my%20lake/x", "/data/my lake/x"),
    ("/data/lake", "/data/lake"),
    ("relative/folder", "relative/folder"),
])
def test_local_path_of(uri: str, path: str) -> None:
    assert local_path_of(uri) == path


@pytest.mark.parametrize("uri", ["file://tmp/x", "file:relative", "file:relative/x", "file://", "file://otherhost/data"])
def test_relative_file_uri_is_one_line_config_error(uri: str, cwd: Path) -> None:
    with pytest.raises(ConfigError) as err:
        store_for(uri)
    message = str(err.value)
    assert uri in message and "absolute path" in message and "\n" not in message
    assert list(cwd.iterdir()) == []


def test_store_operations_on_file_uri_touch_the_absolute_folder(tmp_path: Path, cwd: Path) -> None:
    root = tmp_path / "lake"
    uri = root.as_uri()
    store = store_for(uri)
    store.write_bytes(join(uri, "a", "one.bin"), b"1")
    assert (root / "a" / "one.bin").read_bytes() == b"1"
    assert store.read_bytes(str(root / "a" / "one.bin")) == b"1"  # the same object by path
    assert store.put_if_absent(join(uri, "a", "m.json"), b"m")
    assert not store.put_if_absent(str(root / "a" / "m.json"), b"other")
    assert store.replace_if(join(uri, "_latest"), b"v1", None)
    data, token = store.read_versioned(join(uri, "_latest"))
    assert data == b"v1" and store.replace_if(join(uri, "_latest"), b"v2", token)
    store.move(join(uri, "a", "one.bin"), join(uri, "b", "one.bin"))
    assert (root / "b" / "one.bin").exists() and not (root / "a" / "one.bin").exists()
    assert store.list_dirs(uri) == ["a", "b"]
    assert store.local_path(join(uri, "b", "one.bin")) == str(root / "b" / "one.bin")
    with store.lease(join(uri, "_locks", "x.lock"), wait=1):
        assert (root / "_locks" / "x.lock").exists()
    assert list(cwd.iterdir()) == []


def test_listing_answers_in_the_form_asked(tmp_path: Path) -> None:
    root = tmp_path / "with space"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "p q.csv").write_text("x\n")
    (root / "r.csv").write_text("x\n")
    uri = root.as_uri()  # percent-encoded, as Path.as_uri() and Airflow assets write it
    listed = store_for(uri).list(uri + "/")
    assert [relpath(o.uri, uri) for o in listed] == ["r.csv", "sub/p%20q.csv"]
    assert all(o.uri.startswith("file:///") for o in listed)
    assert store_for(uri).read_bytes(listed[1].uri) == b"x\n"  # a listed URI reads back
    (single,) = store_for(uri).list(join(uri, "r.csv"))
    assert single.uri == join(uri, "r.csv")
    assert [o.uri for o in store_for(str(root)).list(str(root) + "/")] == [str(root / "r.csv"), str(root / "sub" / "p q.csv")]


def test_publish_protocol_on_file_uri(tmp_path: Path, cwd: Path) -> None:
    uri = (tmp_path / "published" / "sales").as_uri()
    store = store_for(uri)
    for ds in ("2026-01-02", "2026-01-01"):
        m = Manifest(dataset="sales", version=f"{ds}.aaaaaaaa", logical_date=ds, created_at=ds, modality="tabular",
                     format="parquet", rows=0, files=[], gate={"passed": True})
        assert publish.commit(store, uri, m)
        publish.advance_latest(uri, m)
    assert publish.latest_version(uri) == "2026-01-02.aaaaaaaa"
    assert [m["version"] for m in publish.committed_versions(uri)] == ["2026-01-02.aaaaaaaa", "2026-01-01.aaaaaaaa"]
    assert (tmp_path / "published" / "sales" / "versions" / "2026-01-01.aaaaaaaa" / "_manifest.json").exists()
    assert list(cwd.iterdir()) == []


def test_whole_run_with_file_uris_then_cli_and_reader(
    store: Path, cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from augment_jobs.reader import open_dataset

    config = write_tiny_tabular(store, "2026-02-01", store=store.as_uri())
    assert main(["run", str(config), "--date", "2026-02-01"]) == 0
    published = store / "published" / "tiny"
    (manifest_path,) = published.glob("versions/*/_manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["source_uri"].startswith("file:///") and manifest["rows"] > 60
    assert list(cwd.iterdir()) == []  # nothing under ./file:

    uri = published.as_uri()
    capsys.readouterr()
    assert main(["versions", uri]) == 0
    assert manifest["version"] in capsys.readouterr().out
    ds = open_dataset(uri)
    assert ds.version == manifest["version"]
    assert len(ds.to_pandas()) == manifest["rows"]
    ds.verify()
    assert main(["versions", "file://published/tiny"]) == 2
    assert "absolute path" in capsys.readouterr().err


def test_relative_file_uri_in_a_config_fails_the_run_with_exit_2(
    store: Path, cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_tiny_tabular(store, "2026-02-01", store="file://relative/store")
    assert main(["run", str(config), "--date", "2026-02-01"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "file://relative/store" in err and "absolute path" in err
    assert list(cwd.iterdir()) == []
    with pytest.raises(AugmentError):
        store_for("file:x")
