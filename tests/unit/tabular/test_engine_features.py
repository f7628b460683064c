"""The one engine's features at any size: several augment steps, and the method contract enforced at
registration (dates and times as SMOTE features: tests/integration/test_schema_fidelity.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from augment_jobs.config import DatasetConfig
from augment_jobs.registry import AugmentContext, MethodParams
from augment_jobs.tabular.engine import run_frame

DS = "2026-05-01"


def table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.2
    return pd.DataFrame({"x": rng.normal(0, 1, n) + y, "z": rng.integers(0, 50, n).astype("int64"),
                         "label": np.where(y, "yes", "no")})


def config(steps: list[dict], **extra: object) -> DatasetConfig:
    return DatasetConfig(dataset="steps", modality="tabular", seed=5, source={"uri": "mem://"}, label="label",
                         augment=steps, publish={"uri": "mem://out"}, limits={"max_synthetic_ratio": 0.9}, **extra)


def test_two_steps_chain_counts_and_ids_and_do_not_depend_on_tasks() -> None:
    df = table()
    n_no, n_yes = (df["label"] == "no").sum(), (df["label"] == "yes").sum()
    steps = [{"method": "smote", "params": {"sampling_strategy": 0.5}},
             {"method": "gaussian_copula", "params": {"sampling_strategy": {"yes": int(0.8 * n_no)}, "quality_rows": 0}}]
    cfg = config(steps)
    ctx = AugmentContext(cfg=cfg, ds=DS)
    one = run_frame(df, cfg, DS, ctx=ctx)
    three = run_frame(df, cfg, DS, tasks=3)
    pd.testing.assert_frame_equal(one.drop(columns=["_id", "_source_ids"]), three.drop(columns=["_id", "_source_ids"]))
    first = one[one["_method"] == "smote"]
    second = one[one["_method"] == "gaussian_copula"]
    assert len(first) == int(0.5 * n_no) - n_yes  # step 0's target from the real counts
    assert len(second) == int(0.8 * n_no) - int(0.5 * n_no)  # step 1's target counts step 0's rows
    assert list(second["_id"][:2]) == ["syn-1-gaussian_copula-0000000", "syn-1-gaussian_copula-0000001"]
    assert (one["label"] == "yes").sum() == int(0.8 * n_no)
    assert list(one["_method"]) == ["source"] * len(df) + ["smote"] * len(first) + ["gaussian_copula"] * len(second)


def test_a_later_smote_step_may_interpolate_from_earlier_synthetic_rows() -> None:
    df = table()
    n_no = (df["label"] == "no").sum()
    steps = [{"method": "gaussian_copula", "params": {"sampling_strategy": 0.4, "quality_rows": 0}},
             {"method": "smote", "params": {"sampling_strategy": 0.6}}]
    out = run_frame(df, config(steps), DS)
    second = out[out["_method"] == "smote"]
    assert len(second) == int(0.6 * n_no) - int(0.4 * n_no)
    parents = {p for ps in second["_source_ids"] for p in ps}
    assert parents <= set(out["_id"]) and any(p.startswith("syn-0-") for p in parents)


def test_a_method_without_a_hook_fails_at_registration_naming_it() -> None:
    from augment_jobs.tabular.method import TabularMethod, register_tabular

    class NoDraw(TabularMethod):
        name = "no_draw"
        params = MethodParams

        def targets(self, step):  # noqa: ANN001, ANN201
            return {}

        def learning_rows(self, step, targets):  # noqa: ANN001, ANN201
            return {}

        def fit(self, step, learn, targets):  # noqa: ANN001, ANN201
            return targets

    with pytest.raises(TypeError) as e:
        register_tabular(NoDraw)
    assert "\n" not in str(e.value) and "'no_draw'" in str(e.value) and "hook 'drawer'" in str(e.value)
