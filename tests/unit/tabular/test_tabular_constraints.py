"""Constraint checks shared by the methods and the gate, and their SDV translation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from augment_jobs.checks import GateInput
from augment_jobs.tabular.checks import constraints_held
from augment_jobs.tabular.constraints import violations


def test_violations_per_constraint(make_ctx, constraints):
    cfg = make_ctx(constraints + [{"type": "range", "column": "amount", "high": 10, "low": None}]).cfg
    real = pd.DataFrame({
        "amount": [1.0, 5.0, 2.0], "opened_at": [1.0, 2.0, 3.0], "closed_at": [2.0, 2.0, 4.0],
        "country": ["DE", "IT", "DE"], "currency": ["EUR", "EUR2", "EUR"],
    })
    out = pd.concat([real, pd.DataFrame({
        "amount": [-1.0, 11.0, np.nan], "opened_at": [5.0, 1.0, 2.0], "closed_at": [4.0, 1.0, np.nan],
        "country": ["DE", "IT", "DE"], "currency": ["EUR2", "EUR2", "EUR"],
    })], ignore_index=True)
    masks = violations(out, cfg.constraints, reference=real)
    got = {k: list(np.flatnonzero(v)) for k, v in masks.items()}
    assert got == {
        "range(0 <= amount)": [3],
        "inequality(opened_at <= closed_at)": [3],
        "fixed_combinations(country, currency)": [3],
        "range(amount <= 10)": [4],
    }


def test_datetime_columns(make_ctx):
    cfg = make_ctx([{"type": "inequality", "low": "a", "high": "b", "strict": True}]).cfg
    df = pd.DataFrame({"a": pd.to_datetime(["2026-01-01", "2026-01-02", None]),
                       "b": pd.to_datetime(["2026-01-02", "2026-01-02", "2026-01-01"])})
    assert list(violations(df, cfg.constraints)["inequality(a < b)"]) == [False, True, False]


def test_gate_check_names_constraint_and_count(make_frame, make_ctx, constraints):
    cfg = make_ctx(constraints).cfg
    src = make_frame()
    out = src.copy()
    assert checks(cfg, src, out)[0].passed
    out.loc[[1, 2], "amount"] = -5
    res = checks(cfg, src, out)[0]
    assert res.name == "constraints_held" and not res.passed
    assert "range(0 <= amount) broken by 2 of 300 rows" in res.detail
    assert res.observed["range(0 <= amount)"] == 2
    assert checks(make_ctx().cfg, src, out)[0].passed


@pytest.mark.slow
def test_scalar_range_in_sdv_holds_bounds(make_frame, make_ctx):
    from augment_jobs.registry import methods

    df = make_frame()
    ctx = make_ctx([{"type": "range", "column": "score", "low": -0.5, "high": 1.5},
                    {"type": "range", "column": "age", "low": 30}])
    df = df[(df["score"].between(-0.5, 1.5)) & (df["age"] >= 30)].reset_index(drop=True)
    spec = methods("tabular")["gaussian_copula"]
    out = spec(df, spec.parse_params({"sampling_strategy": None, "num_rows": 300}), ctx)
    syn = out.iloc[len(df):]
    assert syn["score"].between(-0.5, 1.5).all() and (syn["age"] >= 30).all()
    assert ctx.metrics["constraint_redrawn_rows"] == 0
    assert syn["score"].std() > 0.2  # the transform keeps the spread, not a pile at the bounds


def checks(cfg, src, out):
    """The constraints check on `out` (whose real rows are `src`)."""
    return constraints_held(GateInput(cfg, None, [], out.assign(_synthetic=False) if "_synthetic" not in out else out))
