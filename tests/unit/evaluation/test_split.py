"""The holdout split: deterministic, independent of row order, stratified, small classes kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from augment_jobs.evaluation.split import assign_split


@pytest.fixture
def wine() -> pd.DataFrame:
    df = load_wine(as_frame=True).frame
    df["_id"] = [f"w{i:04d}" for i in range(len(df))]
    return df


def test_deterministic_and_independent_of_row_order(wine):
    split, notes = assign_split(wine["_id"], wine["target"], 0.2, seed=7)
    again, _ = assign_split(wine["_id"], wine["target"], 0.2, seed=7)
    assert notes == [] and (split == again).all()
    shuffled = wine.sample(frac=1.0, random_state=3)
    split_shuffled, _ = assign_split(shuffled["_id"], shuffled["target"], 0.2, seed=7)
    by_id = dict(zip(wine["_id"], split, strict=True))
    assert [by_id[i] for i in shuffled["_id"]] == list(split_shuffled)
    other_seed, _ = assign_split(wine["_id"], wine["target"], 0.2, seed=8)
    assert (other_seed != split).any()


def test_holdout_share_per_class_matches_request(wine):
    split, _ = assign_split(wine["_id"], wine["target"], 0.25, seed=1)
    for cls, group in wine.groupby("target"):
        held = int((split[group.index] == "holdout").sum())
        assert held == round(0.25 * len(group)), cls
    big = pd.Series(np.arange(20_000))
    labels = pd.Series(np.where(np.arange(20_000) % 10 == 0, "rare", "common"))
    split, _ = assign_split(big, labels, 0.2, seed=0)
    for cls in ("rare", "common"):
        assert (split[labels == cls] == "holdout").mean() == pytest.approx(0.2, abs=1e-3)


def test_class_too_small_stays_train_and_is_noted(wine):
    tiny = pd.concat([wine, pd.DataFrame({"_id": ["t1", "t2"], "target": [9, 9]})], ignore_index=True)
    split, notes = assign_split(tiny["_id"], tiny["target"], 0.2, seed=1)
    assert list(split[-2:]) == ["train", "train"]
    assert notes == ["split: class 9 has 2 rows, too few to hold out 0.2 of them; all stay train"]
    assert (split[: len(wine)] == "holdout").sum() > 0


def test_series_ids_repeat_in_long_format():
    ids = pd.Series(np.repeat([f"s{i}" for i in range(50)], 30))
    labels = pd.Series(np.repeat(["up"] * 40 + ["down"] * 10, 30))
    split, notes = assign_split(ids, labels, 0.2, seed=3)
    per_series = pd.Series(split).groupby(ids.to_numpy()).nunique()
    assert (per_series == 1).all() and notes == []
    held = set(ids[split == "holdout"])
    assert len(held) == 10 and sum(s in held for s in {f"s{i}" for i in range(40, 50)}) == 2


def test_no_labels_and_bad_share():
    split, _ = assign_split(pd.Series(range(100)), None, 0.1, seed=0)
    assert (split == "holdout").sum() == 10
    with pytest.raises(ValueError, match="split.holdout"):
        assign_split(pd.Series(range(10)), None, 1.5, seed=0)


def test_one_rule_fitted_on_all_ids_splits_any_slice_alike(wine):
    """The streamed path fits the rule once and applies it task by task: the same split as in memory."""
    from augment_jobs.evaluation.split import HoldoutRule, id_hashes

    split, _ = assign_split(wine["_id"], wine["target"], 0.2, seed=4)
    hashes, codes = id_hashes(wine["_id"], 4), wine["target"].to_numpy()
    text = wine["_id"].to_numpy()
    rule = HoldoutRule.fit(hashes, codes, 3, 0.2, lambda pos: text[pos].tolist())
    assert rule.counts == [round(0.2 * n) for n in rule.sizes]
    parts = [rule.is_held(hashes[a:b], codes[a:b], lambda pos, a=a: text[a + pos].tolist())
             for a, b in ((0, 50), (50, 51), (51, 178))]
    assert (np.where(np.concatenate(parts), "holdout", "train") == split).all()


def test_equal_hashes_fall_back_to_the_id_text():
    from augment_jobs.evaluation.split import HoldoutRule

    hashes = np.array([5, 1, 5, 5, 9, 5], dtype=np.uint64)  # 64-bit collisions, forced
    codes = np.zeros(6, dtype=np.int64)
    text = np.array(["f", "a", "d", "b", "z", "e"], dtype=object)
    rule = HoldoutRule.fit(hashes, codes, 1, 0.5, lambda pos: text[pos].tolist())
    assert (rule.counts, rule.hashes, rule.texts) == ([3], [5], ["d"])  # hash 1, then "b" and "d" of the hash-5 ids
    assert list(text[rule.is_held(hashes, codes, lambda pos: text[pos].tolist())]) == ["a", "d", "b"]
