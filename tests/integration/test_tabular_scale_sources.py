"""CSV and JSONL sources on the streamed tabular path, through the CLI on a real local store.

The data is palmerpenguins' own CSV as the package ships it: "NA" for missing values, integer
columns with gaps, string categories with gaps, three classes. Cut into parts (one with no rows,
one whose first rows make `bill_depth_mm` look like an integer column), read in tiny blocks so
that every part spans many: the run gives the types of Arrow's whole-file inference, the same
bytes for any number of tasks, and the same rows as a streamed run of the same data as Parquet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml

from augment_jobs.cli import main
from augment_jobs.reader import open_dataset
from augment_jobs.tabular import sources

D1 = "2026-11-02"
pytestmark = pytest.mark.integration
SOURCE_COLUMNS = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"]


@pytest.fixture(autouse=True)
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of ~10 rows: a streaming reader left to infer from its first block would fail."""
    monkeypatch.setattr(sources, "BLOCK_BYTES", 512)


def penguin_lines() -> tuple[str, list[str]]:
    import palmerpenguins

    text = (Path(palmerpenguins.__file__).parent / "data" / "penguins.csv").read_text()
    header, *rows = text.splitlines()
    return header, rows


def write_csv_parts(store: Path, name: str) -> Path:
    """part-0: rows 0-109; part-1: the header alone; part-2: rows 110-229, those whose bill depth is
    written as an integer (and whose sex is NA) first; part-3: the rest."""
    header, rows = penguin_lines()
    depth = header.split(",").index("bill_depth_mm")
    middle = sorted(rows[110:230], key=lambda r: ("." in r.split(",")[depth], r.split(",")[-2] != "NA"))
    folder = store / "raw" / name / D1
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate([rows[:110], [], middle, rows[230:]]):
        (folder / f"part-{i}.csv").write_text("\n".join([header, *part]) + "\n")
    return folder


def config(tmp: Path, name: str, fmt: str, **source: object) -> Path:
    cfg = {
        "dataset": name, "modality": "tabular", "seed": 5, "label": "species",
        "source": {"uri": f"{{store}}/raw/{name}/{{ds}}/", "format": fmt, **source},
        "augment": [{"method": "smotenc", "params": {
            "sampling_strategy": {"Chinstrap": 110}, "categorical_features": ["island", "sex"]}}],
        "publish": {"uri": f"{{store}}/published/{name}-{tmp.name}", "rows_per_file": 100},
    }
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def published(store: Path, name: str, tmp: Path) -> tuple[pd.DataFrame, list[str], pa.Schema, dict]:
    folder = store / "published" / f"{name}-{tmp.name}"
    ds = open_dataset(str(folder))
    m = ds.manifest
    schema = pq.read_schema(folder / "versions" / ds.version / m["files"][0]["path"])
    return ds.to_pandas(), [f["sha256"] for f in m["files"]], schema, m


def test_csv_parts_keep_whole_file_types_and_task_independent_bytes(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv_parts(store, "pg")
    runs, tasks = {}, {}
    for label, source in {"one_task": {"rows_per_task": 1000}, "three_tasks": {"rows_per_task": 120},
                          "default": {}}.items():
        tmp = tmp_path / label
        assert main(["run", str(config(tmp, "pg", "csv", **source)), "--date", D1]) == 0
        runs[label] = published(store, "pg", tmp)
        tasks[label] = capsys.readouterr().err.count("augment   shard")
    assert tasks == {"one_task": 1, "three_tasks": 3, "default": 1}
    df, digests, schema, m = runs["three_tasks"]
    # byte-identical for any number of tasks, rows_per_task unset too: one engine, no switch
    assert digests == runs["one_task"][1] == runs["default"][1] and len(digests) > 3
    # the types of Arrow's whole-file inference
    default_schema = runs["default"][2]
    assert [schema.field(c).type for c in SOURCE_COLUMNS] == [default_schema.field(c).type for c in SOURCE_COLUMNS]
    assert [schema.field(c).type for c in SOURCE_COLUMNS] == [
        pa.string(), pa.string(), pa.float64(), pa.float64(), pa.int64(), pa.int64(), pa.string(), pa.int64()]
    # the source rows, missing values and all, in source order with `<file>#<row>` ids
    header, rows = penguin_lines()
    real = df[~df["_synthetic"]]
    assert len(real) == len(rows) and real["_id"].iloc[110] == "part-2.csv#0"
    assert (real["sex"] == "NA").sum() == 11 and real["body_mass_g"].isna().sum() == 2  # Arrow keeps text "NA"
    syn = df[df["_synthetic"]]
    assert set(syn["species"]) == {"Chinstrap"} and len(syn) == 110 - 68
    assert set(syn["island"]) == {"Dream"} and set(syn["sex"]) <= {"male", "female", "NA"}
    assert m["counts"]["Chinstrap"]["synthetic"] == 42


def test_csv_source_streams_the_rows_of_its_parquet_copy(store: Path, tmp_path: Path) -> None:
    """The same parts as Parquet (as `read_source` reads each CSV): the same published rows, ids aside."""
    folder = write_csv_parts(store, "pgcsv")
    pq_folder = store / "raw" / "pgpq" / D1
    pq_folder.mkdir(parents=True)
    for f in sorted(folder.glob("*.csv")):
        pq.write_table(pacsv.read_csv(f), pq_folder / f"{f.stem}.parquet")
    frames = {}
    for name, fmt in (("pgcsv", "csv"), ("pgpq", "parquet")):
        assert main(["run", str(config(tmp_path / name, name, fmt, rows_per_task=120)), "--date", D1]) == 0
        df, _, schema, _ = published(store, name, tmp_path / name)
        frames[name] = (df, schema)
    (a, sa), (b, sb) = frames["pgcsv"], frames["pgpq"]
    assert sa == sb and len(a) == 344 + 42
    pd.testing.assert_frame_equal(without_extension(a, ".csv"), without_extension(b, ".parquet"))


def without_extension(df: pd.DataFrame, ext: str) -> pd.DataFrame:
    """Ids `<file>#<row>` (and parents) with the file's extension dropped."""
    return df.assign(_id=df["_id"].str.replace(f"{ext}#", "#", regex=False),
                     _source_ids=df["_source_ids"].map(lambda ids: [i.replace(f"{ext}#", "#") for i in ids]))


def jsonl_lines(header: str, rows: list[str]) -> list[str]:
    """penguins.csv as JSON lines: numbers as numbers, "NA" as null (what a JSON export holds)."""
    names = header.split(",")
    out = []
    for r in rows:
        row = {}
        for k, v in zip(names, r.split(","), strict=True):
            row[k] = None if v == "NA" else v if not v.replace(".", "", 1).isdigit() else json.loads(v)
        out.append(json.dumps(row))
    return out


def test_jsonl_parts_stream_like_the_csv_parts(store: Path, tmp_path: Path) -> None:
    header, rows = penguin_lines()
    folder = store / "raw" / "pgj" / D1
    folder.mkdir(parents=True)
    lines = jsonl_lines(header, rows)
    # the first rows of part-1 have a null sex and whole-number depths: JSON's int64, then float64
    depth = header.split(",").index("bill_depth_mm")
    first = sorted(range(100, 344), key=lambda i: ("." in rows[i].split(",")[depth], rows[i].split(",")[-2] != "NA"))
    (folder / "part-0.jsonl").write_text("\n".join(lines[:100]) + "\n")
    (folder / "part-1.jsonl").write_text("\n".join(lines[i] for i in first) + "\n")
    (folder / "part-2.jsonl").write_text("")  # no rows
    digests, schemas = [], []
    for per in (None, 1000, 100):  # rows_per_task unset, one task, four
        tmp = tmp_path / f"t{per}"
        assert main(["run", str(config(tmp, "pgj", "jsonl", **({"rows_per_task": per} if per else {}))),
                     "--date", D1]) == 0
        df, d, schema, m = published(store, "pgj", tmp)
        digests.append(d)
        schemas.append([schema.field(c).type for c in SOURCE_COLUMNS])
    assert digests[0] == digests[1] == digests[2]
    assert schemas[0] == schemas[2] == [
        pa.string(), pa.string(), pa.float64(), pa.float64(), pa.int64(), pa.int64(), pa.string(), pa.int64()]
    assert df.loc[~df["_synthetic"], "sex"].isna().sum() == 11 and m["counts"]["Chinstrap"]["synthetic"] == 42


def test_a_gzipped_csv_file_streams(store: Path, tmp_path: Path) -> None:
    import gzip

    header, rows = penguin_lines()
    folder = store / "raw" / "pgz" / D1
    folder.mkdir(parents=True)
    (folder / "penguins.csv.gz").write_bytes(gzip.compress(("\n".join([header, *rows]) + "\n").encode(), mtime=0))
    path = config(tmp_path, "pgz", "csv", rows_per_task=200)
    cfg = yaml.safe_load(path.read_text())
    cfg["source"]["uri"] = "{store}/raw/pgz/{ds}/penguins.csv.gz"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path), "--date", D1]) == 0
    df, _, schema, m = published(store, "pgz", tmp_path)
    assert len(df) == 344 + 42 and schema.field("flipper_length_mm").type == pa.int64()
    assert main(["run", str(path), "--date", D1]) == 0  # a rerun finds the version published; nothing is read
    assert not (store / "published" / f"pgz-{tmp_path.name}" / "_staging" / m["version"]).exists()


@pytest.mark.parametrize("bad", ["missing_column", "short_row", "bad_json_line", "json_type_change"])
def test_bad_parts_exit_2_naming_file_and_line(store: Path, tmp_path: Path, bad: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    header, rows = penguin_lines()
    folder = store / "raw" / "pgbad" / D1
    folder.mkdir(parents=True)
    fmt = "jsonl" if "json" in bad else "csv"
    if fmt == "csv":
        (folder / "part-0.csv").write_text("\n".join([header, *rows[:150]]) + "\n")
        second = [header, *rows[150:]]
        if bad == "missing_column":
            second = [",".join(r.split(",")[:-1]) for r in second]  # no `year`
        else:
            second[41] = "Gentoo,Biscoe,46.1,13.2,211,4500"  # two fields short, on line 42
        (folder / "part-1.csv").write_text("\n".join(second) + "\n")
    else:
        lines = jsonl_lines(header, rows)
        (folder / "part-0.jsonl").write_text("\n".join(lines[:150]) + "\n")
        second = lines[150:]
        if bad == "bad_json_line":
            second[56] = second[56][:-3]  # cut short, on line 57
        else:
            second[56] = second[56].replace('"year": 2008', '"year": "2008"').replace('"year": 2009', '"year": "2009"')
        (folder / "part-1.jsonl").write_text("\n".join(second) + "\n")
    assert main(["run", str(config(tmp_path, "pgbad", fmt, rows_per_task=100)), "--date", D1]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1, err
    line = err[0]
    assert f"part-1.{fmt}" in line, line
    if bad == "missing_column":
        assert "part-0.csv" in line and "'year'" in line
    elif bad == "short_row":
        assert "line 42 has 6 fields where the header has 8" in line
    elif bad == "bad_json_line":
        assert "line 57 is not valid JSON" in line
    else:
        assert "line 57: column 'year' holds a JSON string where earlier lines hold a JSON number" in line
    assert not (store / "published" / f"pgbad-{tmp_path.name}" / "_latest").exists()


CONVERT = """
import json, sys
from augment_jobs.config import DatasetConfig
from augment_jobs.tabular.engine import Part
from augment_jobs.tabular import sources
path, fmt, staging = sys.argv[1:]
# small blocks and row groups: both files span many, so the fixed buffers are full in both
sources.BLOCK_BYTES, sources.ROW_GROUP = 1 << 18, 16_384
cfg = DatasetConfig(dataset="mem", modality="tabular", source={"uri": path, "format": fmt}, label="label",
                    augment=[{"method": "smote"}], publish={"uri": staging + "/out"})
[(rows, _)] = sources.scan(cfg, [{"uri": path, "etag": "-", "size": 0}], staging)
sources.stage(cfg, [Part(path, rows, 0)], staging)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]  # this program's peak (not the forked parent's)
print(json.dumps({"rows": rows, "peak": int(hwm[0].split()[1]) * 1024}))
"""


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_reading_and_staging_a_part_takes_memory_flat_in_its_size(tmp_path: Path, fmt: str) -> None:
    """Pass 1 and pass 2 on a file 16x larger: the peak of a fresh process barely moves."""
    import os
    import subprocess
    import sys

    import numpy as np

    rng = np.random.default_rng(0)
    peaks, sizes = [], []
    for rows in (150_000, 2_400_000):
        frame = pd.DataFrame({"id": np.arange(rows), **{f"f{i}": rng.normal(size=rows) for i in range(4)},
                              "city": rng.choice(["Oslo", "Lima", "Pune"], rows), "label": (rng.random(rows) < 0.1).astype(int)})
        frame.loc[::97, "f0"] = np.nan
        path = tmp_path / f"{rows}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_json(path, orient="records", lines=True)
        sizes.append(pa.Table.from_pandas(frame).nbytes)
        del frame
        out = subprocess.run([sys.executable, "-c", CONVERT, str(path), fmt, str(tmp_path / f"staging-{rows}")],
                             capture_output=True, text=True, check=True, env=os.environ.copy())
        result = json.loads(out.stdout)
        assert result["rows"] == rows
        peaks.append(result["peak"])
    grown = peaks[1] - peaks[0]
    # measured: 5-25 MB more (allocator noise) for 126 MB more data; loading it whole costs ~7x that
    assert grown < 0.35 * (sizes[1] - sizes[0]), (peaks, sizes)


def test_staged_parts_live_in_the_runs_staging_area_on_s3(s3_store: str, tmp_path: Path) -> None:
    """Mapped tasks may run on other workers: the Parquet copies are written to the store, beside the plan."""
    from augment_jobs import stages
    from augment_jobs.store import store_for

    header, rows = penguin_lines()
    raw = f"{s3_store}/raw/pgs3/{D1}"
    for i, part in enumerate([rows[:200], rows[200:]]):
        uri = f"{raw}/part-{i}.csv"
        store_for(uri).write_bytes(uri, ("\n".join([header, *part]) + "\n").encode())
    path = config(tmp_path, "pgs3", "csv", rows_per_task=150)
    snap = stages.snapshot(str(path), D1)
    plan = stages.load_plan(snap["run_uri"])
    staged = [o.uri for o in store_for(plan.staging_uri).list(f"{plan.staging_uri}/tabular/source/")]
    assert staged == [f"{plan.staging_uri}/tabular/source/0000{i}.parquet" for i in (0, 1)] and len(snap["shards"]) == 3
    assert main(["run", str(path), "--date", D1]) == 0  # the same version: the snapshot reuses what it staged
    ds = open_dataset(f"{s3_store}/published/pgs3-{tmp_path.name}")
    assert ds.version == snap["version"] and ds.manifest["rows"] == 344 + 42
