"""`ts_policy` kernels and the method through `fn(df, params, ctx)`, the hooks and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augment_jobs.checks import GateInput
from augment_jobs.config import DatasetConfig, load_config
from augment_jobs.errors import ConfigError, InputError
from augment_jobs.modality import hooks_for
from augment_jobs.registry import AugmentContext, get_method, modality_spec
from augment_jobs.timeseries import ops as K
from augment_jobs.timeseries.checks import timeseries_checks
from augment_jobs.timeseries.demo import readings
from augment_jobs.timeseries.hooks import prepare

REPO = Path(__file__).resolve().parents[3]
SPEC_OPS = [
    {"op": "jitter", "sigma": 0.03}, {"op": "scaling", "sigma": 0.1},
    {"op": "magnitude_warp", "sigma": 0.2, "knots": 4}, {"op": "time_warp", "sigma": 0.2, "knots": 4},
    {"op": "window_slice", "ratio": 0.9},
]


def cfg_for(copies: object = 2, ops: list | None = None, label: str | None = "status", **quality: object) -> DatasetConfig:
    return DatasetConfig(
        dataset="sensors", modality="timeseries", source={"uri": "raw/"}, label=label,
        series={"id_column": "machine_id", "time_column": "ts", "value_columns": ["temperature", "vibration"]},
        augment=[{"method": "ts_policy", "params": {"copies": copies, "ops": ops or SPEC_OPS}}],
        quality=quality, publish={"uri": "pub"},
    )


def frame(n_series: int = 12, points: int = 50) -> pd.DataFrame:
    df = readings("2026-01-01", n_series=n_series, points=points)
    df["_id"] = [f"r.parquet#{i}" for i in range(len(df))]
    df["_synthetic"], df["_source_ids"] = False, [[i] for i in df["_id"]]
    df["_method"], df["_params"] = "source", None
    return df


def run(cfg: DatasetConfig, df: pd.DataFrame) -> tuple[pd.DataFrame, AugmentContext]:
    spec = get_method("ts_policy")
    ctx = AugmentContext(cfg=cfg, ds="2026-01-01")
    return spec(df, spec.parse_params(cfg.augment[0].params), ctx), ctx


# --- kernels --------------------------------------------------------------------------------------
def test_time_warp_is_monotonic_with_endpoints_kept() -> None:
    rng = np.random.default_rng(0)
    speeds = rng.normal(1.0, 0.5, (200, 6))
    path = K.warp_path(speeds, 300)
    assert (np.diff(path, axis=1) > 0).all()
    np.testing.assert_allclose(path[:, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(path[:, -1], 299.0, atol=1e-9)
    x = np.cumsum(rng.normal(size=(200, 300, 2)), axis=1)
    y = K.time_warp(x, speeds)
    assert y.shape == x.shape
    np.testing.assert_allclose(y[:, [0, -1]], x[:, [0, -1]], atol=1e-9)
    # A ramp stays a monotonic ramp under any monotonic warp.
    ramp = np.broadcast_to(np.arange(300.0)[None, :, None], (200, 300, 1))
    assert (np.diff(K.time_warp(ramp, speeds)[..., 0], axis=1) > 0).all()
    np.testing.assert_allclose(K.time_warp(x, np.ones((200, 6))), x, atol=1e-9)  # unit speed = identity


def test_window_slice_preserves_length_and_takes_the_window() -> None:
    x = np.broadcast_to(np.arange(100.0)[None, :, None], (3, 100, 1)).copy()
    y = K.window_slice(x, np.array([0.0, 10.0, 20.0]), np.array([100.0, 80.0, 50.0]))
    assert y.shape == x.shape
    np.testing.assert_allclose(y[:, 0, 0], [0, 10, 20])
    np.testing.assert_allclose(y[:, -1, 0], [99, 89, 69])


def test_jitter_scaling_magnitude_warp_shapes_and_identity() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 40, 2))
    std = x.std(axis=1)
    np.testing.assert_allclose(K.jitter(x, rng.normal(size=x.shape), np.zeros(5), std), x)
    np.testing.assert_allclose(K.scaling(x, np.ones((5, 2))), x)
    np.testing.assert_allclose(K.magnitude_warp(x, np.ones((5, 6, 2))), x)
    noisy = K.jitter(x, rng.normal(size=(5, 40, 2)), np.full(5, 0.1), std)
    assert 0.05 < float(((noisy - x).std(axis=1) / std).mean()) < 0.15


def test_lag1_acf_matches_numpy() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=50).cumsum(), rng.normal(size=30)
    acf = K.lag1_acf(np.r_[a, b], np.r_[np.zeros(50, int), np.ones(30, int)], 2)
    for got, s in zip(acf, [a, b], strict=True):
        d = s - s.mean()
        assert got == pytest.approx((d[1:] * d[:-1]).sum() / (d * d).sum())


# --- the method -----------------------------------------------------------------------------------
def test_appends_series_copies_with_lineage() -> None:
    df = prepare(frame(), cfg_for())
    out, ctx = run(cfg_for(), df)
    assert out.iloc[: len(df)].equals(df)
    syn = out.iloc[len(df):]
    assert len(syn) == 2 * len(df) and syn["_synthetic"].all() and (syn["_method"] == "ts_policy").all()
    assert syn["_id"].is_unique and set(syn["machine_id"]) == {f"M{m:03d}~aug0.{k}" for m in range(12) for k in (0, 1)}
    first = syn[syn["machine_id"] == "M000~aug0.1"]
    src = df[df["machine_id"] == "M000"]
    assert (first["ts"].to_numpy() == src["ts"].to_numpy()).all()  # original timestamps
    assert first["_source_ids"].tolist() == [[i] for i in src["_id"]]  # the source row at the same position
    rec = json.loads(first["_params"].iloc[0])
    assert rec["copy"] == 1 and [o["op"] for o in rec["ops"]] == [o["op"] for o in SPEC_OPS]
    assert ctx.metrics["ts_policy.synthetic_series"] == 24


def test_per_class_copies() -> None:
    df = prepare(frame(), cfg_for())
    out, ctx = run(cfg_for(copies={"per_class": {"failure": 3, "normal": 0, "absent": 1}}), df)
    syn = out[out["_synthetic"]]
    assert set(syn["status"]) == {"failure"} and syn["machine_id"].nunique() == 3 * 1  # M005 only in 12 machines
    assert any("absent" in n for n in ctx.notes)
    with pytest.raises(InputError, match="per_class needs a label"):
        run(cfg_for(copies={"per_class": {"failure": 1}}, label=None), df.drop(columns="status"))


def test_deterministic_across_row_order_and_batches() -> None:
    raw = frame()
    a, _ = run(cfg_for(), prepare(raw, cfg_for()))
    b, _ = run(cfg_for(), prepare(raw.sample(frac=1.0, random_state=3), cfg_for()))
    few = raw[raw["machine_id"].isin(["M001", "M007"])]
    c, _ = run(cfg_for(), prepare(few, cfg_for()))
    cols = ["temperature", "vibration", "_params", "_source_ids"]
    sa, sb, sc = (x[x["_synthetic"]].set_index("_id")[cols] for x in (a, b, c))
    pd.testing.assert_frame_equal(sa, sb)
    pd.testing.assert_frame_equal(sa.loc[sc.index], sc)


def test_unequal_lengths_are_grouped_and_unsorted_input_sorted() -> None:
    df = frame(6, 40)
    df = df[~((df["machine_id"] == "M002") & (df["ts"] > df["ts"].min() + pd.Timedelta(minutes=24)))]
    prepared = prepare(df.sample(frac=1.0, random_state=1), cfg_for())
    assert prepared.groupby("machine_id")["ts"].apply(lambda s: s.is_monotonic_increasing).all()
    out, _ = run(cfg_for(copies=1), prepared)
    assert (out[out["machine_id"] == "M002~aug0.0"].shape[0]) == 25
    assert all(c.passed for c in checks(cfg_for(), prepared, out) if c.name == "ts.time_order")


def test_spec_example_and_demo_config_load() -> None:
    get_method("ts_policy").parse_params({"copies": {"per_class": {"failure": 10, "normal": 0}}, "ops": SPEC_OPS})
    load_config(REPO / "configs" / "sensors.yaml")
    with pytest.raises(ConfigError, match="ops"):
        get_method("ts_policy").parse_params({"copies": 1, "ops": [{"op": "twist"}]})


# --- hooks and bad inputs -------------------------------------------------------------------------
def test_hooks_registered_and_compare_columns() -> None:
    h = hooks_for("timeseries")
    assert h.prepare is prepare and timeseries_checks in modality_spec("timeseries").checks
    assert h.compare_columns(cfg_for(), frame(2, 5)) == ["temperature", "vibration"]


def test_gate_checks_pass_and_catch_damage() -> None:
    cfg = cfg_for(value_bounds={"temperature": (-40, 150), "vibration": (0, 10)})
    df = prepare(frame(), cfg)
    out, _ = run(cfg, df)
    res = {c.name: c for c in checks(cfg, df, out)}
    assert all(c.passed for c in res.values()), res
    bad = out.copy()
    syn = bad.index[bad["_synthetic"]]
    bad.loc[syn[5], "ts"] = bad.loc[syn[4], "ts"]  # a repeated timestamp
    bad.loc[syn[10], "temperature"] = 400.0
    noisy = bad["_synthetic"] & bad["machine_id"].str.endswith("aug0.0")
    bad.loc[noisy, "vibration"] = np.abs(np.random.default_rng(0).normal(0.5, 0.2, int(noisy.sum())))  # white noise
    res = {c.name: c for c in checks(cfg, df, bad)}
    assert not res["ts.time_order"].passed and "aug0" in res["ts.time_order"].detail
    assert not res["ts.value_bounds[temperature]"].passed and res["ts.value_bounds[vibration]"].passed
    assert not res["ts.acf_lag1[vibration]"].passed and res["ts.acf_lag1[temperature]"].passed


def test_duplicate_timestamp_names_series_and_time() -> None:
    df = frame(3, 10)
    dup = df[df["machine_id"] == "M001"].iloc[[0]].assign(_id="extra")
    with pytest.raises(InputError, match=r"series 'M001' has duplicate timestamp 2026-01-01 00:0\d:00"):
        prepare(pd.concat([df, dup], ignore_index=True), cfg_for())


def test_short_series_skipped_and_counted_naming_the_op() -> None:
    df = frame(3, 10)
    df = df[~((df["machine_id"] == "M002") & (df["ts"] > df["ts"].min() + pd.Timedelta(minutes=3)))]
    cfg = cfg_for(ops=[{"op": "window_slice", "size": 8}], copies=1)
    out, ctx = run(cfg, prepare(df, cfg))
    assert ctx.skipped == {"series shorter than the 8 points window_slice needs": 1}
    assert set(out.loc[out["_synthetic"], "machine_id"].str[:4]) == {"M000", "M001"}  # M002 kept, not augmented
    one = frame(3, 10)
    one = one[~((one["machine_id"] == "M001") & (one["ts"] > one["ts"].min()))]  # a series of one point
    cfg = cfg_for(ops=[{"op": "jitter", "sigma": 0.03}, {"op": "time_warp", "sigma": 0.2, "knots": 4}], copies=1)
    out, ctx = run(cfg, prepare(one, cfg))
    assert ctx.skipped == {"series shorter than the 3 points time_warp needs": 1}
    assert (out["machine_id"] == "M001").sum() == 1


def test_gaps_stay_gaps_in_the_copies_and_empty_series_are_skipped() -> None:
    df = prepare(frame(3, 10), cfg_for())
    gap = df.index[(df["machine_id"] == "M001").to_numpy()][2]
    df.loc[gap, "vibration"] = float("nan")
    df.loc[df["machine_id"] == "M002", "temperature"] = float("nan")  # no value at all
    cfg = cfg_for(copies=1, ops=[{"op": "jitter", "sigma": 0.03}, {"op": "magnitude_warp", "sigma": 0.2, "knots": 4}])
    out, ctx = run(cfg, df)
    assert ctx.skipped == {"series with no values in 'temperature'": 1}
    copy = out[out["machine_id"] == "M001~aug0.0"].reset_index(drop=True)
    assert copy["vibration"].isna().tolist() == [i == 2 for i in range(10)]  # the gap, at the same step
    assert copy["temperature"].notna().all() and not (out["machine_id"] == "M002~aug0.0").any()


def test_non_numeric_values_name_the_column() -> None:
    df = frame(2, 5)
    df["vibration"] = df["vibration"].astype(object)
    df.loc[3, "vibration"] = "n/a"
    with pytest.raises(InputError, match=r"value column 'vibration' must be numeric; row r.parquet#3 has 'n/a'"):
        prepare(df, cfg_for())
    df.loc[3, "vibration"] = "0.5"  # numeric strings are accepted and cast
    assert prepare(df, cfg_for())["vibration"].dtype == float


@pytest.mark.parametrize("col", ["machine_id", "ts"])
def test_missing_id_or_time_column(col: str) -> None:
    with pytest.raises(InputError, match=rf"series\.\w+_column '{col}' is not in the source"):
        prepare(frame(2, 5).drop(columns=col), cfg_for())


def test_more_than_one_label_per_series() -> None:
    df = frame(2, 5)
    df.loc[df.index[df["machine_id"] == "M000"][0], "status"] = "failure"
    with pytest.raises(InputError, match="series 'M000' has more than one 'status'"):
        prepare(df, cfg_for())


def checks(cfg, src, out):
    """The time-series checks on `out` (whose real rows are `src`)."""
    return timeseries_checks(GateInput(cfg, None, [], out))
