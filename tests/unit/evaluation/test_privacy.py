"""Privacy: DCR against a real baseline, exact copies found exactly, the gate checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTEN
from sklearn.datasets import load_wine

from augment_jobs.evaluation import privacy as privacy_mod
from augment_jobs.evaluation.privacy import RowEncoder, check_privacy, privacy


def _stable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "seconds"}


def test_smote_rows_against_holdout(cancer_split, smote_rows):
    train, holdout = cancer_split
    synthetic = smote_rows(train.drop(columns=["size_band"]), "target")
    synthetic["size_band"] = "m"
    out = privacy(train, synthetic, holdout, label="target")
    assert out["exact_copies"] == 0 and out["baseline"] == "holdout"
    assert 0.0 <= out["close_share"] <= 1.0 and out["close_threshold"] > 0
    assert out["index"].startswith("faiss-cpu ") and "IndexFlatL2 (exact)" in out["index"]
    # The baseline covers the classes that have synthetic rows.
    assert out["sampled"]["synthetic"] == len(synthetic)
    assert out["sampled"]["baseline"] == (holdout.target == 0).sum()
    minority = out["per_class"]["0"]
    assert minority["synthetic"] == len(synthetic) and out["per_class"]["1"]["synthetic"] == 0
    # Interpolated rows sit between real rows: closer to train than unseen real rows are.
    assert minority["dcr_synthetic_median"] < minority["dcr_baseline_median"]
    assert _stable(out) == _stable(privacy(train, synthetic, holdout, label="target"))
    assert [c[1] for c in check_privacy(out, 0, 1.0)] == [True, True]


def test_duplicated_source_rows_make_smote_copy_them(cancer_split, smote_rows):
    train, holdout = cancer_split
    numeric = train.drop(columns=["size_band"])
    minority = numeric[numeric.target == 0]
    # Every minority row six times: all 5 neighbours of a row are itself, so SMOTE returns it as is.
    dup = pd.concat([numeric[numeric.target == 1], *[minority] * 6], ignore_index=True)
    synthetic = smote_rows(dup, "target", ratio=1.0, k=5)
    out = privacy(dup, synthetic, holdout.drop(columns=["size_band"]), label="target")
    assert out["exact_copies"] == len(synthetic) > 0
    assert out["per_class"]["0"]["exact_copies"] == len(synthetic)
    assert out["per_class"]["0"]["close_share"] == 1.0
    checks = check_privacy(out, max_exact_copies=0, max_close_share=0.05)
    assert [(name, ok) for name, ok, _ in checks] == [("privacy_exact_copies", False), ("privacy_close_share", False)]
    assert checks[0][2] == (
        f"{len(synthetic)} synthetic row(s) identical to a train row (limit quality.privacy.max_exact_copies = 0)"
    )
    assert check_privacy(out, None, None) == []


def test_categorical_only_table():
    wine = load_wine(as_frame=True).frame
    cats = pd.DataFrame({c: pd.qcut(wine[c], 3, labels=["low", "mid", "high"]).astype(str)
                         for c in ["alcohol", "malic_acid", "ash", "flavanoids", "hue"]})
    cats["label"] = wine["target"].map({0: "a", 1: "b", 2: "c"})
    train, holdout = cats.iloc[::2].reset_index(drop=True), cats.iloc[1::2].reset_index(drop=True)
    features = [c for c in cats.columns if c != "label"]
    x, y = SMOTEN(sampling_strategy={"a": 60, "c": 60}, random_state=0).fit_resample(train[features], train["label"])
    synthetic = x.iloc[len(train):].assign(label=y.iloc[len(train):].to_numpy()).reset_index(drop=True)
    out = privacy(train, synthetic, holdout, label="label")
    assert out["encoding"]["numeric"] == 0 and out["encoding"]["categorical"] == 5
    # With categories only, a distance is sqrt(number of mismatching columns): min and max are such.
    q = np.array(out["dcr_quantiles"]["synthetic"])[[0, -1]]
    assert np.allclose(q**2, np.round(q**2)) and q[-1] > 0
    assert out["exact_copies"] == int(synthetic.merge(train.drop_duplicates(), on=[*features, "label"]).shape[0])
    assert set(out["per_class"]) == {"a", "b", "c"}


def test_without_holdout_a_train_sample_is_left_out_of_its_own_search(cancer):
    data = cancer.drop(columns=["_id"])
    out = privacy(data, data.iloc[:5], None, label="target")
    assert out["baseline"] == "train sample, leave-one-out"
    # The sample is measured against the other train rows: its distances are not all zero.
    assert out["dcr_quantiles"]["baseline"][1] > 0
    # The synthetic rows are train rows: copies, at distance 0.
    assert out["exact_copies"] == 5 and out["dcr_quantiles"]["synthetic"][-1] == 0.0


def test_approximate_index_reports_agreement(cancer, monkeypatch):
    monkeypatch.setattr(privacy_mod, "EXACT_PAIRS", 0)
    monkeypatch.setattr(privacy_mod, "MIN_APPROX_ROWS", 0)
    data = cancer.drop(columns=["_id"])
    noisy = data.copy()
    noisy["mean_radius"] += 0.01
    out = privacy(data, noisy, None, label="target", max_query_rows=300)
    assert _stable(out) == _stable(privacy(data, noisy, None, label="target", max_query_rows=300))
    assert "IndexIVFFlat" in out["index"] and "approximate DCRs matched exhaustive search" in out["index"]
    # 300 shared in proportion, but no class below 200 rows (or all it has).
    assert out["per_class"]["0"]["synthetic_sampled"] == 40
    assert out["per_class"]["1"]["synthetic_sampled"] == int(300 * 357 / 397)


def test_encoding_costs():
    train = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "a", "b", "a"]})
    rows = pd.DataFrame({"x": [2.0, 2.0, np.nan], "c": ["a", "b", "zzz"]})
    enc = RowEncoder.fit(train, ["x", "c"], [rows])
    e = enc.transform(rows).astype(float)
    assert np.linalg.norm(e[0] - e[1]) == pytest.approx(1.0)  # one category mismatch costs 1
    assert np.linalg.norm(e[0] - e[2]) == pytest.approx(np.sqrt(1 + 1))  # missing flag + unknown category
    assert enc.with_missing == ["x"] and enc.scale[0] == 2.0  # IQR of 0..4


def test_bad_input_names_the_columns(cancer):
    with pytest.raises(ValueError, match="the synthetic rows lack column"):
        privacy(cancer, cancer[["target"]], None, label="target", columns=["mean_radius"])


def _fair() -> pd.DataFrame:
    """statsmodels' fair (the Affairs survey): 1,039 of 6,366 rows duplicate another row."""
    import statsmodels.api as sm

    return sm.datasets.fair.load_pandas().data.drop(columns=["affairs"]).assign(religious=lambda d: d["religious"].astype(int))


def test_duplicate_real_rows_do_not_blind_the_threshold_and_copies_count_as_close() -> None:
    from augment_jobs.evaluation.privacy import privacy

    real = _fair()
    assert real.duplicated().sum() > 1000
    rng = np.random.default_rng(0)
    train = real.sample(2000, random_state=0)
    copies = train.sample(40, random_state=1)  # exact copies of real rows
    fresh = train.sample(360, random_state=2).copy()
    fresh["age"] = fresh["age"] + rng.uniform(0.3, 3.0, len(fresh))  # near, never equal
    synthetic = pd.concat([copies, fresh], ignore_index=True)
    r = privacy(train, synthetic, label="religious", seed=0)
    assert r["exact_copies"] == 40
    assert r["close_threshold"] > 0  # from distinct rows: duplicates are not each other's neighbours
    assert r["close_share"] >= 40 / len(synthetic)
    assert all(c["train_distinct"] < c["train"] for c in r["per_class"].values() if c["train"] > 100)


def test_a_class_with_one_distinct_train_row_has_no_baseline_and_no_nan(cancer) -> None:
    import json
    import warnings

    data = cancer.drop(columns=["_id"])
    lone = pd.concat([data.iloc[[0]]] * 3).assign(target="lone")  # one real row, three times
    train = pd.concat([data, lone], ignore_index=True)
    synthetic = pd.concat([data.iloc[:4], lone.iloc[:1]], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's "Mean of empty slice" was one
        out = privacy(train, synthetic, None, label="target")
    info = out["per_class"]["lone"]
    assert info["train_distinct"] == 1 and "dcr_baseline_median" not in info
    assert "no leave-one-out baseline" in info["note"]
    assert out["close_threshold"] is not None  # the other classes still give the baseline
    assert "NaN" not in json.dumps(out)
