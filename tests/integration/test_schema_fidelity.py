"""Real-data shapes the demo never had: integer id columns, nullable ints, short and gappy series,
partitions whose files disagree. Every source column keeps its name and Arrow type; per-item
problems are skipped and counted; whole-partition problems are exit 2 naming the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from augment_jobs.cli import main
from augment_jobs.reader import open_dataset

DS = "2026-03-01"
REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration]


def config(root: Path, name: str, **body: object) -> Path:
    (root / "configs").mkdir(exist_ok=True)
    path = root / "configs" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "dataset": name, "source": {"uri": f"{{store}}/raw/{name}/{{ds}}/"},
        "publish": {"uri": f"{{store}}/published/{name}"}, **body,
    }))
    return path


def raw(store: Path, name: str) -> Path:
    folder = store / "raw" / name / DS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def published_schema(store: Path, name: str) -> pa.Schema:
    ds = open_dataset(str(store / "published" / name))
    return pq.read_schema(store / "published" / name / "versions" / ds.version / ds.manifest.files[0].path)


def test_text_with_integer_id_column(store: Path, tmp_path: Path) -> None:
    from augment_jobs.text.demo import tickets

    rows = tickets(DS, rows=120)
    table = pa.table({
        "tweet_id": pa.array(np.arange(10_000, 10_120, dtype=np.int64)),
        "text": [r["text"] for r in rows] ,
        "intent": [r["intent"] for r in rows],
    })
    pq.write_table(table, raw(store, "tweets") / "tweets.parquet")
    path = config(tmp_path, "tweets", modality="text", label="intent", text_column="text",
                  source={"uri": "{store}/raw/tweets/{ds}/", "id_column": "tweet_id"},
                  augment=[{"method": "eda", "params": {"n_aug": 1, "thesaurus": str(REPO / "configs/thesauri/support.yaml")}}])
    assert main(["run", str(path), "--date", DS]) == 0
    schema = published_schema(store, "tweets")
    assert schema.field("tweet_id").type == pa.int64() and schema.field("text").type == pa.string()
    df = open_dataset(str(store / "published" / "tweets")).to_pandas()
    syn = df[df["_synthetic"]]
    assert len(syn) and syn["tweet_id"].min() > 10_119 and df["tweet_id"].is_unique
    assert set(df.loc[~df["_synthetic"], "tweet_id"]) == set(range(10_000, 10_120))


def test_timeseries_integer_series_ids_short_and_gappy_series(store: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    parts = []
    for sid, n in [(1, 60), (2, 60), (3, 2), (4, 1), (5, 60), (6, 60), (7, 60), (8, 60)]:  # 3: two points, 4: one
        parts.append(pd.DataFrame({"subject": np.int32(sid), "day": np.arange(n, dtype=np.int64) * 3,
                                   "weight": 50 + np.cumsum(rng.normal(1, 0.3, n))}))
    df = pd.concat(parts, ignore_index=True)
    df.loc[40, "weight"] = np.nan  # a gap in subject 2
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), raw(store, "growth") / "growth.parquet")
    path = config(tmp_path, "growth", modality="timeseries",
                  series={"id_column": "subject", "time_column": "day", "value_columns": ["weight"]},
                  augment=[{"method": "ts_policy", "params": {"copies": 1, "ops": [
                      {"op": "jitter", "sigma": 0.02}, {"op": "time_warp", "sigma": 0.1, "knots": 3}]}}])
    assert main(["run", str(path), "--date", DS]) == 0
    schema = published_schema(store, "growth")
    assert schema.field("subject").type == pa.int32() and schema.field("day").type == pa.int64()
    ds = open_dataset(str(store / "published" / "growth"))
    assert ds.manifest.skipped == {"ts_policy: series shorter than the 3 points time_warp needs": 2}
    out = ds.to_pandas()
    synthetic_subjects = set(out.loc[out["_synthetic"], "subject"])
    assert len(synthetic_subjects) == 6 and min(synthetic_subjects) > 8  # 1, 2, 5-8 copied, under new integer ids
    assert out["weight"].isna().sum() == 2  # the gap published as it is, and kept in subject 2's copy
    assert any(c.name == "skipped_share" and c.passed for c in ds.manifest.gate.checks)


def test_tabular_nullable_int_column_and_string_id(store: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 400
    y = (rng.random(n) < 0.2).astype(np.int64)
    table = pa.table({
        "customer": [f"C{i:05d}" for i in range(n)],
        "tenure": pa.array([None if i % 17 == 0 else int(v) for i, v in enumerate(rng.integers(1, 72, n))], pa.int64()),
        "charges": rng.normal(70, 20, n) + 15 * y,
        "churn": y,
    })
    pq.write_table(table, raw(store, "churn") / "churn.parquet")
    path = config(tmp_path, "churn", modality="tabular", label="churn",
                  source={"uri": "{store}/raw/churn/{ds}/", "id_column": "customer"},
                  augment=[{"method": "smote", "params": {"sampling_strategy": 0.5}}])
    assert main(["run", str(path), "--date", DS]) == 0
    schema = published_schema(store, "churn")
    assert [schema.field(c).type for c in ("customer", "tenure", "charges", "churn")] == [
        pa.string(), pa.int64(), pa.float64(), pa.int64()]
    ds = open_dataset(str(store / "published" / "churn"))
    gaps = int(((np.arange(n) % 17 == 0) & (y == 1)).sum())  # only the oversampled class's gaps are skipped
    assert 0 < gaps < 24
    assert ds.manifest.skipped == {"smote: row with a missing value in 'tenure' (params.missing: skip)": gaps}
    df = ds.to_pandas()
    assert df["customer"].is_unique and df.loc[df["_synthetic"], "customer"].str.startswith("syn-").all()


@pytest.mark.parametrize("case", ["type", "missing_column", "not_parquet"])
def test_partition_files_that_disagree_exit_2_naming_both(store: Path, tmp_path: Path, case: str, capsys) -> None:
    folder = raw(store, "parts")
    good = pd.DataFrame({"x": np.arange(60, dtype=np.int64), "f": np.linspace(0, 1, 60), "y": [0] * 50 + [1] * 10})
    pq.write_table(pa.Table.from_pandas(good, preserve_index=False), folder / "a.parquet")
    pq.write_table(pa.Table.from_pandas(good.iloc[:0], preserve_index=False), folder / "b-empty.parquet")  # fine
    if case == "type":
        pq.write_table(pa.Table.from_pandas(good.assign(x=good["x"].astype(str)), preserve_index=False), folder / "c.parquet")
    elif case == "missing_column":
        pq.write_table(pa.Table.from_pandas(good.drop(columns="f"), preserve_index=False), folder / "c.parquet")
    else:
        (folder / "c.parquet").write_text("id,x\n1,2\n")
    path = config(tmp_path, "parts", modality="tabular", label="y", augment=[{"method": "smote"}])
    assert main(["run", str(path), "--date", DS]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "c.parquet" in err[0], err
    if case != "not_parquet":
        assert "a.parquet" in err[0] and ("'x'" in err[0] or "'f'" in err[0])
    assert not (store / "published" / "parts" / "_latest").exists()


@pytest.mark.parametrize("rows_per_task", [None, 70])
def test_dates_and_times_of_every_kind_are_smote_features_kept_in_their_type(store: Path, tmp_path: Path,
                                                                            rows_per_task: int | None) -> None:
    """date32, date64, timestamps with and without a time zone, in any unit: interpolated in their own
    unit, published in their source type, inside the real range; midnights stay midnights."""
    import datetime as dt

    rng = np.random.default_rng(3)
    n = 240
    y = rng.random(n) < 0.2
    base = dt.datetime(2023, 1, 1)
    moments = [base + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 200 * 86400, n)]
    days = [base + dt.timedelta(days=int(d)) for d in rng.integers(0, 300, n)]
    table = pa.table({
        "x": rng.normal(0, 1, n) + y,
        "d32": pa.array([m.date() for m in days], pa.date32()),
        "d64": pa.array([m.date() for m in days], pa.date64()),
        "ts_ms_tz": pa.array(moments, pa.timestamp("ms")).cast(pa.timestamp("ms", tz="UTC"))
                      .cast(pa.timestamp("ms", tz="Europe/Berlin")),
        "ts_s_days": pa.array(days, pa.timestamp("s")),
        "ts_us": pa.array(moments, pa.timestamp("us")),
        "label": np.where(y, "yes", "no"),
    })
    pq.write_table(table, raw(store, "dated") / "dated.parquet")
    table = pq.read_table(raw(store, "dated") / "dated.parquet")  # as readers see it: Parquet has no date64 nor seconds
    source = {"uri": "{store}/raw/dated/{ds}/", **({"rows_per_task": rows_per_task} if rows_per_task else {})}
    path = config(tmp_path, "dated", modality="tabular", label="label", source=source,
                  augment=[{"method": "smote", "params": {"sampling_strategy": 0.5}}])
    assert main(["run", str(path), "--date", DS]) == 0
    schema = published_schema(store, "dated")
    for name in ("d32", "d64", "ts_ms_tz", "ts_s_days", "ts_us"):
        assert schema.field(name).type == table.schema.field(name).type, name
    ds = open_dataset(str(store / "published" / "dated"))
    published = ds.to_arrow().to_table()
    syn = published.filter(published.column("_synthetic"))
    assert syn.num_rows == int(0.5 * (~y).sum()) - y.sum()
    for name in ("d32", "d64", "ts_ms_tz", "ts_s_days", "ts_us"):
        real, got = table.column(name), syn.column(name)
        assert got.null_count == 0, name
        lo, hi = pc.min_max(real).values()
        assert pc.all(pc.and_(pc.greater_equal(got, lo), pc.less_equal(got, hi))).as_py(), name
        assert pc.count_distinct(got).as_py() > 5, name
    stamps = pd.Series(syn.column("ts_s_days").to_pandas())
    assert (stamps == stamps.dt.normalize()).all(), "a timestamp column of midnights stays on midnights"
