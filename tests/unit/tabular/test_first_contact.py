"""First-contact defects on real tables (issue: synthetic rows a domain expert would accept, part 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from test_column_roles import DS, _write, breast_cancer, la_riots

from augment_jobs.errors import InputError
from augment_jobs.stages import run


def test_smote_names_every_non_numeric_column_in_one_line(store: Path) -> None:
    cfg = _write(store, la_riots().drop(columns=["death_date"]), label="gender",
                 augment=[{"method": "smote", "params": {"sampling_strategy": "minority"}}])
    with pytest.raises(InputError) as e:
        run(str(cfg), DS)
    msg = str(e.value)
    assert "\n" not in msg
    for col in ("first_name", "last_name", "race", "address", "neighborhood", "type"):
        assert repr(col) in msg, msg
    assert "categorical_features: [first_name, last_name, race, address, neighborhood, type]" in msg


def test_manifest_goes_through_json_dumps_via_to_dict(store: Path) -> None:
    from augment_jobs.reader import open_dataset

    cfg = _write(store, breast_cancer(), label="target", columns={"patient_id": {"role": "id"}},
                 augment=[{"method": "smote", "params": {"sampling_strategy": "minority"}}])
    run(str(cfg), DS)
    m = open_dataset(str(store / "published" / "t")).manifest
    text = json.dumps(m.to_dict())
    assert json.loads(text)["files"][0]["sha256"] == m["files"][0]["sha256"]


def test_whole_numbers_read_as_float_stay_whole(store: Path) -> None:
    """palmerpenguins: body mass and flipper length are integers, float in the file for their NaNs."""
    import numpy as np
    import palmerpenguins
    from test_column_roles import _read

    src = palmerpenguins.load_penguins().drop(columns=["island", "sex"])
    assert src["body_mass_g"].dtype == float and src["body_mass_g"].isna().any()
    cfg = _write(store, src, label="species", augment=[{"method": "smote", "params": {"sampling_strategy": "minority"}}])
    assert run(str(cfg), DS)["created"]
    syn = _read(store).query("_synthetic")
    assert len(syn) > 50
    for col in ("body_mass_g", "flipper_length_mm", "year"):
        v = syn[col].dropna().to_numpy(float)
        assert np.all(v == np.round(v)), col
    bill = syn["bill_length_mm"].dropna().to_numpy(float)
    assert not np.all(bill * 10 == np.round(bill * 10))  # a real-valued column is still interpolated


def _mislabelled(store: Path, fmt: str, name: str, write: str) -> Path:
    from test_column_roles import seattle

    raw = store / "raw" / "t" / DS
    raw.mkdir(parents=True)
    df = seattle()
    df.to_parquet(raw / name, index=False) if write == "parquet" else df.to_csv(raw / name, index=False)
    body = {"dataset": "t", "modality": "tabular", "schedule": None, "label": "weather",
            "source": {"uri": "{store}/raw/t/{ds}/", "format": fmt}, "publish": {"uri": "{store}/published/t"},
            "augment": [{"method": "gaussian_copula"}]}
    path = store.parent / "configs" / "t.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.mark.parametrize(("fmt", "name", "write", "found"), [
    ("csv", "weather.csv", "parquet", "parquet"),  # a Parquet file named .csv
    ("parquet", "weather.parquet", "csv", "csv"),  # a CSV under format: parquet
])
def test_format_mismatch_says_what_was_found(store: Path, fmt: str, name: str, write: str, found: str) -> None:
    with pytest.raises(InputError) as e:
        run(str(_mislabelled(store, fmt, name, write)), DS)
    msg = str(e.value)
    assert f"source.format is {fmt} but the file is {found}: set source.format: {found}" in msg and name in msg
    assert "\n" not in msg


def test_smotenc_keeps_a_missing_category_as_its_own_value(store: Path) -> None:
    """palmerpenguins: `sex` is missing on 11 rows; `missing: category` keeps them and draws it."""
    import palmerpenguins
    from test_column_roles import _read

    src = palmerpenguins.load_penguins().dropna(subset=["bill_length_mm"])
    assert src.query("species == 'Gentoo'")["sex"].isna().sum() >= 4  # `skip` would leave these rows out
    params = {"sampling_strategy": {"Gentoo": 200}, "categorical_features": ["island", "sex"], "missing": "category"}
    cfg = _write(store, src, label="species", augment=[{"method": "smotenc", "params": params}])
    assert run(str(cfg), DS)["created"]
    from augment_jobs.reader import open_dataset

    notes = " ".join(open_dataset(str(store / "published" / "t")).manifest.get("notes", []))
    syn = _read(store).query("_synthetic")
    assert len(syn) == 200 - (src["species"] == "Gentoo").sum()
    assert set(syn["sex"].dropna()) <= {"male", "female"}
    skipped = open_dataset(str(store / "published" / "t")).manifest.get("skipped", {})
    assert not any("sex" in k for k in skipped), (skipped, notes)  # no row left out for a missing sex


def test_a_float_label_is_named_in_sampling_strategy_as_written(store: Path) -> None:
    """statsmodels' fair: `religious` is 1.0-4.0 in the file; `{4: n}` and `{"2.0": n}` name its
    classes (pydantic had turned 4.0 into 4, which then matched no class)."""
    import pyarrow.parquet as pq
    import statsmodels.api as sm

    from augment_jobs.reader import open_dataset

    fair = sm.datasets.fair.load_pandas().data.sample(600, random_state=0).reset_index(drop=True)
    counts = fair["religious"].value_counts()
    assert fair["religious"].dtype == "float64"
    cfg = _write(store, fair, label="religious",
                 augment=[{"method": "smote", "params": {"sampling_strategy": {4.0: int(counts[4.0]) + 30,
                                                                               "2.0": int(counts[2.0]) + 20}}}])
    run(str(cfg), DS)
    files = open_dataset(str(store / "published" / "t")).files
    out = pq.read_table(files[0]).to_pandas()
    syn = out[out["_synthetic"]]
    assert syn["religious"].value_counts().to_dict() == {4.0: 30, 2.0: 20}
