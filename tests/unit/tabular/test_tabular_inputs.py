"""Bad inputs: one clear InputError line naming the column or value and what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from augment_jobs.errors import ConfigError, InputError
from augment_jobs.registry import methods

SMOTE_FAMILY = ["smote", "borderline_smote", "adasyn"]


def run(name, df, raw, ctx):
    spec = methods("tabular")[name]
    return spec(df, spec.parse_params(raw), ctx)


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("name", [*SMOTE_FAMILY, "smotenc", "gaussian_copula"])
def test_single_class_label(name, make_frame, make_ctx):
    df = make_frame()
    df["label"] = 0
    raw = {"categorical_features": ["country"]} if name == "smotenc" else {}
    with pytest.raises(InputError) as e:
        run(name, df, raw, make_ctx())
    assert "'label'" in one_line(e) and "2+ classes" in str(e.value)


@pytest.mark.parametrize("name", SMOTE_FAMILY)
def test_non_numeric_column_suggests_smotenc(name, make_frame, make_ctx):
    with pytest.raises(InputError) as e:
        run(name, make_frame(), {}, make_ctx())
    msg = one_line(e)
    assert "'country'" in msg and "smotenc" in msg and "categorical_features" in msg


def test_smotenc_continuous_column_not_numeric(make_frame, make_ctx):
    with pytest.raises(InputError) as e:
        run("smotenc", make_frame(), {"categorical_features": ["country"]}, make_ctx())
    assert "'currency'" in one_line(e) and "categorical_features" in str(e.value)


@pytest.mark.parametrize("name", [*SMOTE_FAMILY, "smotenc"])
def test_missing_features_skip_or_impute(name, make_frame, make_ctx):
    df = make_frame(categorical=name == "smotenc")
    minority, majority = np.flatnonzero(df["label"] == 1), np.flatnonzero(df["label"] == 0)
    gaps = [*minority[:3]]
    df.loc[gaps, "score"] = np.nan
    df.loc[majority[:2], "score"] = np.nan  # majority rows are not interpolated from: never counted as skipped
    df.loc[[majority[2]], "label"] = None  # a missing label: never interpolated
    df["empty"] = np.nan  # a column missing everywhere: left out, missing in synthetic rows too
    raw = {"categorical_features": ["country", "currency"]} if name == "smotenc" else {}
    ctx = make_ctx()
    out = run(name, df, raw, ctx)
    assert ctx.skipped == {"row with a missing label 'label'": 1,
                           "row with a missing value in 'score' (params.missing: skip)": 3}
    syn = out[out["_synthetic"]]
    skipped_ids = set(df.loc[[*gaps, majority[2]], "_id"])
    assert len(syn) and not any(set(p) & skipped_ids for p in syn["_source_ids"])
    assert out.loc[:len(df) - 1, "score"].isna().sum() == 5  # real rows published as they are
    assert syn["score"].notna().all() and syn["empty"].isna().all()
    ctx = make_ctx()
    out = run(name, df, {**raw, "missing": "impute_median"}, ctx)
    assert ctx.skipped == {"row with a missing label 'label'": 1}
    assert any("3 missing values in 'score' filled" in n for n in ctx.notes), ctx.notes
    assert out[out["_synthetic"]]["score"].notna().all()


@pytest.mark.parametrize("name", SMOTE_FAMILY)
def test_small_class_lowers_k(name, make_frame, make_ctx):
    df = make_frame(categorical=False)
    # keep 4 minority rows, close to majority rows so borderline/adasyn have neighbours of both classes
    keep = np.flatnonzero(df["label"] == 1)[:4]
    df = pd.concat([df[df["label"] == 0], df.iloc[keep]], ignore_index=True)
    ctx = make_ctx()
    out = run(name, df, {"sampling_strategy": 0.1}, ctx)
    assert ctx.metrics[f"{name}_k_neighbors"] == 3
    assert any("lowered from 5 to 3" in n for n in ctx.notes)
    assert len(out) >= len(df)


@pytest.mark.parametrize("name", [*SMOTE_FAMILY, "gaussian_copula"])
def test_single_row_class(name, make_frame, make_ctx):
    df = make_frame(categorical=name == "gaussian_copula")
    keep = np.flatnonzero(df["label"] == 1)[:1]
    df = pd.concat([df[df["label"] == 0], df.iloc[keep]], ignore_index=True)
    with pytest.raises(InputError) as e:
        run(name, df, {"sampling_strategy": 0.1}, make_ctx())
    msg = one_line(e)
    assert "class 1" in msg and ("single usable row" in msg or "has 1 rows" in msg)


def test_categorical_features_missing_column(make_frame, make_ctx):
    with pytest.raises(InputError) as e:
        run("smotenc", make_frame(), {"categorical_features": ["country", "colour"]}, make_ctx())
    assert "'colour'" in one_line(e) and "not a column" in str(e.value)


@pytest.mark.parametrize("name", ["smote", "gaussian_copula"])
def test_constraint_missing_column(name, make_frame, make_ctx):
    df = make_frame(categorical=name != "smote")
    ctx = make_ctx([{"type": "range", "column": "balance", "low": 0}])
    with pytest.raises(InputError) as e:
        run(name, df, {}, ctx)
    assert "'balance'" in one_line(e) and "range(0 <= balance)" in str(e.value)


def test_float_strategy_on_multiclass(make_frame, make_ctx):
    df = make_frame(categorical=False)
    df.loc[:20, "label"] = 2
    with pytest.raises(InputError) as e:
        run("smote", df, {"sampling_strategy": 0.5}, make_ctx())
    assert "sampling_strategy" in one_line(e)


def test_strategy_names_unknown_class(make_frame, make_ctx):
    with pytest.raises(InputError) as e:
        run("smote", make_frame(categorical=False), {"sampling_strategy": {"fraud": 100}}, make_ctx())
    assert "'fraud'" in one_line(e)


def test_params_are_strict():
    spec = methods("tabular")["smote"]
    with pytest.raises(ConfigError, match="unknown param 'k'"):
        spec.parse_params({"k": 3})
    with pytest.raises(ConfigError):
        spec.parse_params({"k_neighbors": 0})
    with pytest.raises(ConfigError):
        spec.parse_params({"sampling_strategy": "most"})
    with pytest.raises(ConfigError):
        methods("tabular")["borderline_smote"].parse_params({"kind": "borderline-3"})


def test_adasyn_without_mixed_neighbourhoods(make_ctx):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": np.r_[rng.normal(0, 1, 200), rng.normal(100, 1, 20)], "label": [0] * 200 + [1] * 20})
    df["_id"] = [str(i) for i in range(len(df))]
    df["_synthetic"], df["_source_ids"], df["_method"], df["_params"] = False, [[i] for i in df["_id"]], "source", None
    with pytest.raises(InputError) as e:
        run("adasyn", df, {}, make_ctx())
    assert "use smote" in one_line(e)


# --- source checks of the engine ------------------------------------------------------------------

def test_missing_label_is_named_with_the_columns(make_frame, make_ctx):
    df = make_frame().drop(columns=["label"])
    with pytest.raises(InputError) as e:
        run("smote", df, {}, make_ctx())
    msg = one_line(e)
    assert "'label'" in msg and "amount" in msg and "_id" not in msg


def test_single_class_says_only(make_frame, make_ctx):
    df = make_frame(categorical=False)
    df["label"] = 1
    with pytest.raises(InputError, match="only 1"):
        run("smote", df, {}, make_ctx())


def test_constraint_naming_a_missing_column(make_frame, make_ctx):
    with pytest.raises(InputError, match="'nope'"):
        run("smote", make_frame(categorical=False), {},
            make_ctx([{"type": "inequality", "low": "opened_at", "high": "nope"}]))
