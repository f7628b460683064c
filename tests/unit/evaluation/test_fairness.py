"""Bias audit on the Palmer penguins: species by island, before and after oversampling."""

from __future__ import annotations

import pandas as pd
import pytest

from augment_jobs.evaluation.fairness import fairness


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    import palmerpenguins

    df = palmerpenguins.load_penguins()
    df["_synthetic"] = False
    return df


def test_real_rows_only_change_nothing(penguins):
    out = fairness(penguins, penguins, ["island", "sex"], "species")
    isl = out["island"]
    assert isl["change"] == 0 and isl["disparity_before"] == isl["disparity_after"]
    # Gentoo live only on Biscoe: their share there is 124/168, elsewhere 0
    assert isl["groups"]["Biscoe"]["labels_before"]["Gentoo"] == pytest.approx(124 / 168, abs=1e-6)
    assert isl["disparity_before"] == pytest.approx(124 / 168, abs=1e-6)  # the largest gap: Gentoo, Biscoe vs elsewhere
    assert set(out["sex"]["groups"]) == {"female", "male", "(missing)"}
    assert out["sex"]["groups"]["(missing)"]["rows_before"] == 11 and out["sex"]["groups"]["(missing)"]["compared"]


def test_oversampling_one_group_moves_the_disparity(penguins):
    chinstrap = penguins[penguins.species == "Chinstrap"].copy()  # all from Dream
    synthetic = pd.concat([chinstrap] * 2, ignore_index=True).assign(_synthetic=True)
    after = pd.concat([penguins, synthetic], ignore_index=True)
    out = fairness(penguins, after, ["island"], "species")["island"]
    dream = out["groups"]["Dream"]
    assert dream["synthetic"] == 2 * 68 and dream["synthetic_share"] == pytest.approx(136 / (124 + 136))
    assert out["groups"]["Biscoe"]["synthetic_share"] == 0
    assert out["change_class"] == "Chinstrap" and out["change"] > 0.2
    assert out["groups_apart"][0] == "Dream"  # the highest Chinstrap share after
    assert out["synthetic_share_range"] == [0.0, pytest.approx(136 / 260)]


def test_without_a_label_only_shares(penguins):
    out = fairness(penguins, penguins, ["island"], None)["island"]
    assert "change" not in out and out["groups"]["Torgersen"]["rows_after"] == 52


def test_missing_group_column_is_named(penguins):
    with pytest.raises(ValueError, match="column 'continent' is not in the source"):
        fairness(penguins, penguins, ["continent"], "species")
