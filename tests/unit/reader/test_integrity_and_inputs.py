"""Read-time sha256 checks (raise naming the file, or skip and pad) and bad inputs, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from reader_helpers import publish_parquet, publish_tars
from test_partition import key, pads

from augment_jobs.errors import AugmentError, ConfigError, NotFound
from augment_jobs.reader import open_dataset


def flip_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture(params=["parquet", "webdataset"])
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    uri = str(tmp_path / "ds")
    m = (publish_parquet if request.param == "parquet" else publish_tars)(uri, [6, 5, 7])
    bad = Path(uri) / "versions" / m["version"] / m["files"][1]["path"]
    flip_byte(bad, bad.stat().st_size // 2)
    return uri, bad


def test_a_flipped_byte_is_detected_naming_the_file(damaged) -> None:
    uri, bad = damaged
    ds = open_dataset(uri)
    with pytest.raises(AugmentError, match=rf"{bad}: sha256 .* does not match the manifest"):
        list(ds.torch())
    with pytest.raises(AugmentError, match=str(bad)):
        list(ds.iter_batches(batch_size=4))
    with pytest.raises(AugmentError, match=str(bad)):
        ds.verify()


def test_skip_leaves_the_file_out_and_keeps_counts_equal(damaged, monkeypatch) -> None:
    uri, bad = damaged
    monkeypatch.setenv("WORLD_SIZE", "2")
    counts, real = [], []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        ds = open_dataset(uri).torch(on_corrupt="skip")
        with pytest.warns(UserWarning, match=f"skipped: {bad}"):
            got = [(k, p) for s in ds for k, p in zip(key(s), pads(s), strict=True)]
        assert ds.skipped == [str(bad)]
        counts.append(len(got))
        real += [k for k, p in got if not p]
    assert counts == [9, 9]  # 18 samples over 2 ranks; the 5 skipped ones replaced by marked repeats
    assert len(real) == len(set(real)) == 13


def test_a_missing_version_names_the_versions_there_are(tmp_path: Path) -> None:
    uri = str(tmp_path / "ds")
    publish_parquet(uri, [3])
    with pytest.raises(NotFound, match=r"no committed version '2030-01-01.0001'; versions there are: 2026-01-01.0001$"):
        open_dataset(uri, "2030-01-01.0001")


@pytest.mark.parametrize("fmt", ["parquet", "webdataset"])
def test_missing_column_and_bad_batch_size(tmp_path: Path, fmt: str) -> None:
    uri = str(tmp_path / "ds")
    (publish_parquet if fmt == "parquet" else publish_tars)(uri, [3, 2])
    ds = open_dataset(uri)
    with pytest.raises(ConfigError, match=r"no column 'nope'; columns are .*_id|no column 'nope'; columns are __key__"):
        ds.torch(columns=["label" if fmt == "webdataset" else "x", "nope"])
    with pytest.raises(ConfigError, match="no column 'nope'"):
        next(ds.iter_batches(batch_size=2, columns=["nope"]))
    for bad in (0, -1, True):
        with pytest.raises(ConfigError, match=f"batch_size={bad!r}: give a positive number"):
            ds.torch(batch_size=bad)
        with pytest.raises(ConfigError, match=f"batch_size={bad!r}"):
            ds.iter_batches(batch_size=bad)
    assert list(ds.torch(columns=["label" if fmt == "webdataset" else "x"]))[0].keys() >= {"_pad"}


def test_state_from_another_version_or_seed_is_refused(tmp_path: Path) -> None:
    uri = str(tmp_path / "ds")
    publish_parquet(uri, [4, 4])
    state = open_dataset(uri).torch(shuffle=True, seed=1).state_dict()
    with pytest.raises(AugmentError, match=r"saved for another reader \(seed 1 \(here 2\)\)"):
        open_dataset(uri).torch(shuffle=True, seed=2).load_state_dict(state)
    publish_parquet(uri, [4, 4], version="2026-01-02.0001")
    with pytest.raises(AugmentError, match=r"version '2026-01-01.0001' \(here '2026-01-02.0001'\)"):
        open_dataset(uri).torch(shuffle=True, seed=1).load_state_dict(state)
    open_dataset(uri, "2026-01-01.0001").torch(shuffle=True, seed=1).load_state_dict(state)


def test_split_filters_and_a_version_without_split_says_so(tmp_path: Path) -> None:
    with_split, without = str(tmp_path / "a"), str(tmp_path / "b")
    publish_parquet(with_split, [10, 10], split=True)
    publish_parquet(without, [5])
    ds = open_dataset(with_split)
    df = ds.to_pandas()
    holdout = ds.to_pandas(split="holdout")
    assert 0 < len(holdout) < len(df) and set(holdout["_split"]) == {"holdout"}
    streamed = [i for b in ds.iter_batches(batch_size=3, split="holdout", real_only=True, columns=["_id"]) for i in b.column("_id").to_pylist()]
    assert streamed == holdout[~holdout["_synthetic"]]["_id"].tolist()
    assert len(ds.to_pandas(real_only=True, split="train")) == int((~df["_synthetic"] & (df["_split"] == "train")).sum())
    for call in (lambda d: d.to_pandas(split="holdout"), lambda d: next(d.iter_batches(batch_size=2, split="holdout"))):
        with pytest.raises(ConfigError, match=r"split='holdout' but this version has no _split column"):
            call(open_dataset(without))
