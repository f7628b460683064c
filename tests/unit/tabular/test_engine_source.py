"""CSV and JSONL parts read block by block (`augment_jobs.tabular.sources`): the same Arrow
types and values as the in-memory reader (`frames.read_source`) gives the whole file, whatever the
blocks, and bad lines named by their number in the file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

from augment_jobs.config import DatasetConfig
from augment_jobs.errors import InputError
from augment_jobs.frames import read_source
from augment_jobs.tabular import sources

#: raw CSV values by the type Arrow infers for them (and the ones that fit several types)
CSV_VALUES = {
    "null": ["", "NA", "null", "N/A", "nan"], "int": ["0", "1", "2", "-7", "007", "+3"],
    "bool": ["true", "False", "TRUE", "0", "1"], "float": ["1.5", "-2e3", "inf", "NaN", "1."],
    "date": ["2020-01-01", "1999-12-31"], "time": ["12:00:00", "23:59:59"],
    "ts": ["2020-01-01 10:00:00", "2020-01-01T10:00"], "ts_ns": ["2020-01-01 10:00:00.123"],
    "ts_utc": ["2020-01-01T10:00:00Z", "2020-01-01 10:00:00+02:00"], "ts_ns_utc": ["2020-01-01T10:00:00.5Z"],
    "text": ["x", "hello world", '"q""uoted"', '"a,b"'], "binary": ["\xff\xfe"], "quoted": ['"1"', '"NA"', '""'],
}
JSON_VALUES = {
    "null": [None], "int": [0, 5, -3], "float": [1.5, 2.0, -1e10], "text": ["x", "y z"],
    "ts": ["2020-01-01", "2020-01-01 10:00:00"], "bool": [True, False], "list": [[1, 2], [], [None], [1.5]],
    "object": [{"x": 1}, {"y": "s"}, {"x": 2.5, "z": None}, {}],
}
#: kinds one column may mix without a clash (Arrow promotes them); now and then a column mixes any
JSON_FAMILIES = [["null", "int", "float"], ["null", "ts", "text"], ["null", "bool"], ["null", "list"], ["null", "object"]]


def cfg(fmt: str) -> DatasetConfig:
    return DatasetConfig(dataset="unit", modality="tabular", source={"uri": "mem://", "format": fmt}, label="a",
                         augment=[{"method": "smote"}], publish={"uri": "mem://out"})


@pytest.fixture(autouse=True)
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "BLOCK_BYTES", 160)


def segments(rng: random.Random, kinds: list[str], rows: int) -> list[str]:
    """The kind of each row's value: one to three runs of kinds down the column."""
    runs = [rng.choice(kinds) for _ in range(rng.randint(1, 3))]
    return [runs[min(r * len(runs) // max(rows, 1), len(runs) - 1)] for r in range(rows)]


def test_csv_types_and_values_match_the_whole_file_reader(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "part.csv"
    for trial in range(120):
        rows = rng.randint(0, 60)
        cols = [[rng.choice(CSV_VALUES[k]) for k in segments(rng, list(CSV_VALUES), rows)] for _ in range(3)]
        path.write_bytes(("a,b,c\n" + "".join(",".join(c[r] for c in cols) + "\n" for r in range(rows))).encode("latin1"))
        want = read_source(str(path), cfg("csv"))
        n, schema = sources._scan_csv(cfg("csv"), str(path))
        assert (n, schema) == (want.num_rows, want.schema), (trial, path.read_text("latin1")[:400])
        got = pa.Table.from_batches(list(sources._csv_batches(cfg("csv"), str(path), schema)), schema=schema)
        assert got.equals(want), trial


def test_jsonl_types_and_values_match_the_whole_file_reader(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "part.jsonl"
    compared = 0
    for trial in range(300):
        rows = rng.randint(1, 50)
        kinds = {k: segments(rng, list(JSON_VALUES) if rng.random() < 0.1 else rng.choice(JSON_FAMILIES), rows)
                 for k in "abcd"}
        lines = []
        for r in range(rows):
            row = {k: rng.choice(JSON_VALUES[kinds[k][r]]) for k in "abcd" if rng.random() > 0.15}
            lines.append(json.dumps(dict(reversed(row.items())) if rng.random() < 0.1 else row))
        path.write_text("\n".join(lines) + "\n")
        try:
            want = read_source(str(path), cfg("jsonl"))
        except InputError:  # the file mixes JSON types in a column: refused by both
            with pytest.raises(InputError, match="line|JSON"):
                sources._scan_jsonl(cfg("jsonl"), str(path))
            continue
        n, schema = sources._scan_jsonl(cfg("jsonl"), str(path))
        assert (n, schema) == (want.num_rows, want.schema), (trial, lines[:5])
        got = pa.Table.from_batches(list(sources._jsonl_batches(str(path), schema)), schema=schema)
        assert got.equals(want), trial
        compared += 1
    assert compared > 150


def test_a_short_csv_row_is_named_by_its_line_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "part.csv"
    body = ["x,y,label", "1,2,a", "", '3,"two\nlines",b'] + [f"{i},{i},c" for i in range(40)] + ["7,8", "9,9,d"]
    path.write_text("\n".join(body) + "\n")
    with pytest.raises(InputError, match=r"part\.csv: line 46 has 2 fields where the header has 3; fix the row"):
        sources._scan_csv(cfg("csv"), str(path))


@pytest.mark.parametrize(("bad", "message"), [
    ('{"a": 1, "b": }', r"line 31 is not valid JSON \(Expecting value"),
    ("[1, 2]", r"line 31 is a JSON array, not an object"),
    ('{"a": "one", "b": 2}', r"line 31: column 'a' holds a JSON string where earlier lines hold a JSON number"),
])
def test_a_bad_jsonl_line_is_named_by_its_line_in_the_file(tmp_path: Path, bad: str, message: str) -> None:
    lines = [json.dumps({"a": i, "b": i * 2}) for i in range(40)]
    lines[30] = bad
    lines[5] = ""  # blank lines count as lines
    path = tmp_path / "part.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=message):
        sources._scan_jsonl(cfg("jsonl"), str(path))


def test_empty_parts_have_no_rows(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x,y,label\n")
    (tmp_path / "b.jsonl").write_text("")
    assert sources._scan_csv(cfg("csv"), str(tmp_path / "a.csv")) == (
        0, pa.schema([("x", pa.null()), ("y", pa.null()), ("label", pa.null())]))
    assert sources._scan_jsonl(cfg("jsonl"), str(tmp_path / "b.jsonl")) == (0, pa.schema([]))
