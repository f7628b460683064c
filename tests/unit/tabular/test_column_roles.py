"""Column roles and derived columns (`columns:`, docs/config.md "Column roles") on real tables, end
to end through `stages.run`: ids get fresh values, names are never copied, derived parts of a date
and an HHMM clock hold on every published row, and the bad inputs give one line naming the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from augment_jobs.config import load_config
from augment_jobs.errors import ConfigError, InputError
from augment_jobs.stages import run

DS = "2026-03-01"


def _write(store: Path, df: pd.DataFrame, **cfg: object) -> Path:
    raw = store / "raw" / "t" / DS
    raw.mkdir(parents=True)
    df.to_parquet(raw / "part.parquet", index=False)
    body = {"dataset": "t", "modality": "tabular", "schedule": None, "seed": 3,
            "source": {"uri": "{store}/raw/t/{ds}/"}, "publish": {"uri": "{store}/published/t"}, **cfg}
    path = store.parent / "configs" / "t.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def _read(store: Path) -> pd.DataFrame:
    from augment_jobs.reader import open_dataset

    ds = open_dataset(str(store / "published" / "t"))
    return pd.concat([pq.read_table(f).to_pandas() for f in ds.files], ignore_index=True)


def seattle() -> pd.DataFrame:
    """vega seattle-weather with the date's parts as columns, as exports often carry them."""
    from vega_datasets import local_data

    df = local_data.seattle_weather()
    d = pd.to_datetime(df["date"])
    return df.assign(year=d.dt.year.astype("int64"), month=d.dt.month.astype("int64"), day=d.dt.day.astype("int64"))


def la_riots() -> pd.DataFrame:
    """vega la-riots: real names and addresses (pii), a death date, 56 men and 7 women."""
    from vega_datasets import local_data

    return local_data.la_riots()


def sf_clock() -> pd.DataFrame:
    """vega sf-temps at hourly times with the HHMM clock integer beside the hour (nycflights' shape)."""
    from vega_datasets import local_data

    df = local_data.sf_temps().iloc[::6].reset_index(drop=True)
    d = pd.to_datetime(df["date"]) + pd.to_timedelta(np.arange(len(df)) * 7 % 60, unit="min")
    df["hour"] = d.dt.hour.astype("int64")
    df["minute"] = d.dt.minute.astype("int64")
    df["dep_time"] = df["hour"] * 100 + df["minute"]
    df["warm"] = np.where(df["temp"] > 62, "yes", "no")
    return df.drop(columns=["date"])


def breast_cancer() -> pd.DataFrame:
    """scikit-learn breast cancer with an integer patient id, as a database exports it (MASS biopsy's shape)."""
    from sklearn.datasets import load_breast_cancer

    df = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, 30]]
    df.columns = ["radius", "texture", "perimeter", "area", "target"]
    df.insert(0, "patient_id", np.arange(842_302, 842_302 + len(df)) * 3)
    return df


@pytest.mark.parametrize("method", ["gaussian_copula", "smote"])
def test_derived_date_parts_hold_on_every_row(store: Path, method: str) -> None:
    src = seattle()
    if method == "smote":  # numeric features only: a spread derived from two modelled columns
        src = src.drop(columns=["date", "year", "month", "day"]).assign(spread=lambda d: d["temp_max"] - d["temp_min"])
        columns = {"spread": {"derived": "temp_max - temp_min"}}
        params = {"sampling_strategy": {"snow": 60}}
    else:
        columns = {"year": {"derived": "year(date)"}, "month": {"derived": "month(date)"},
                   "day": {"derived": "day(date)"}}
        params = {"sampling_strategy": {"snow": 60, "drizzle": 100}}
    result = run(str(_write(store, src, label="weather", columns=columns, augment=[{"method": method, "params": params}])), DS)
    assert result["created"], result
    out = _read(store)
    syn = out[out["_synthetic"]]
    assert len(syn) > 30
    if method == "gaussian_copula":
        d = pd.to_datetime(syn["date"])
        assert (syn["year"].to_numpy() == d.dt.year.to_numpy()).all()
        assert (syn["month"].to_numpy() == d.dt.month.to_numpy()).all()
        assert (syn["day"].to_numpy() == d.dt.day.to_numpy()).all()
        assert out["year"].dtype == np.int64  # the source column's type
    else:
        assert np.allclose(syn["spread"], syn["temp_max"] - syn["temp_min"])
        assert syn["spread"].std() > 0.5  # interpolated parents give varied spreads
    assert _checks(store)["derived_held"]["passed"]


def test_hhmm_clock_derived_from_hour_and_minute(store: Path) -> None:
    cfg = _write(store, sf_clock(), label="warm", columns={"dep_time": {"derived": "hour * 100 + minute"}},
                 augment=[{"method": "gaussian_copula", "params": {"sampling_strategy": "minority"}}])
    assert run(str(cfg), DS)["created"]
    syn = _read(store).query("_synthetic")
    assert len(syn) > 100
    assert (syn["dep_time"] == syn["hour"] * 100 + syn["minute"]).all()
    assert (syn["dep_time"] % 100 < 60).all()  # no clock with 60+ minutes


def test_id_role_gets_fresh_unique_values_never_a_real_one(store: Path) -> None:
    src = breast_cancer()
    cfg = _write(store, src, label="target", columns={"patient_id": {"role": "id"}},
                 augment=[{"method": "smote", "params": {"sampling_strategy": "minority"}}])
    result = run(str(cfg), DS)
    out = _read(store)
    syn = out[out["_synthetic"]]
    assert len(syn) > 100
    assert not set(syn["patient_id"]) & set(src["patient_id"])
    assert syn["patient_id"].is_unique and out["patient_id"].is_unique
    assert out["patient_id"].dtype == np.int64
    checks = _checks(store)
    assert "identifier_columns" not in checks  # the id is exempted
    assert any("patient_id (id)" in n for n in result_notes(store)), result


def test_identifier_looking_column_is_warned_not_exempted(store: Path) -> None:
    cfg = _write(store, breast_cancer(), label="target",
                 augment=[{"method": "smote", "params": {"sampling_strategy": "minority"}}])
    run(str(cfg), DS)
    checks = _checks(store)
    warn = checks["identifier_columns"]
    assert warn["passed"] and "columns: {patient_id: {role: id}}" in warn["detail"], warn
    assert "patient_id" in _read(store).columns  # still modelled: nothing changes silently


def test_pii_names_are_never_copied_and_left_out_of_the_checks(store: Path) -> None:
    src = la_riots()
    cfg = _write(store, src, label="gender",
                 columns={"first_name": {"role": "pii"}, "last_name": {"role": "pii"}, "address": {"role": "ignore"}},
                 augment=[{"method": "gaussian_copula", "params": {"sampling_strategy": "minority"}}])
    assert run(str(cfg), DS)["created"]
    out = _read(store)
    syn, real = out[out["_synthetic"]], out[~out["_synthetic"]]
    assert len(syn) >= 40
    assert syn[["first_name", "last_name", "address"]].isna().all().all()
    assert real["last_name"].notna().all()  # real rows keep them
    checks = _checks(store)
    compared = " ".join(str(c.to_dict()) for n, c in checks.items() if n in ("similarity", "missing_share"))
    assert "longitude" in compared  # the modelled columns are compared
    assert "last_name" not in compared and "address" not in compared


def _checks(store: Path) -> dict[str, dict[str, object]]:
    from augment_jobs.reader import open_dataset

    m = open_dataset(str(store / "published" / "t")).manifest
    return {c["name"]: c for c in m["gate"]["checks"]}


def result_notes(store: Path) -> list[str]:
    from augment_jobs.reader import open_dataset

    return list(open_dataset(str(store / "published" / "t")).manifest.get("notes", []))


# --- bad inputs: one line naming the key, exit 2 ------------------------------------------------------
def test_derived_with_bad_syntax_is_a_config_error(store: Path) -> None:
    cfg = _write(store, seattle(), label="weather", columns={"year": {"derived": "year(date"}},
                 augment=[{"method": "gaussian_copula"}])
    with pytest.raises(ConfigError, match=r"columns\.year\.derived: 'year\(date' is not a DuckDB SQL expression") as e:
        load_config(cfg)
    assert e.value.exit_code == 2 and "\n" not in str(e.value)


def test_derived_naming_a_missing_column_is_refused_before_anything_runs(store: Path) -> None:
    cfg = _write(store, seattle(), label="weather", columns={"year": {"derived": "year(dat)"}},
                 augment=[{"method": "gaussian_copula"}])
    with pytest.raises(InputError, match=r"columns\.year\.derived: 'year\(dat\)' fails on the source .*\"dat\"") as e:
        run(str(cfg), DS)
    assert "\n" not in str(e.value)
    assert not (store / "published" / "t" / "_latest").exists()


def test_role_on_a_missing_column_is_refused(store: Path) -> None:
    cfg = _write(store, seattle(), label="weather", columns={"station": {"role": "id"}},
                 augment=[{"method": "gaussian_copula"}])
    with pytest.raises(InputError, match=r"columns\.station: the source has no column 'station'"):
        run(str(cfg), DS)


def test_id_role_on_the_label_is_a_config_error(store: Path) -> None:
    cfg = _write(store, seattle(), label="weather", columns={"weather": {"role": "id"}},
                 augment=[{"method": "gaussian_copula"}])
    with pytest.raises(ConfigError, match=r"columns\.weather: role: id on the label 'weather'"):
        load_config(cfg)
