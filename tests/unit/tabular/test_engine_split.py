"""The streamed path's split (augment_jobs/tabular/split.py) on real Parquet parts: pass 1's
rule and the tasks' `_split` equal the in-memory `assign_split` on the same rows and seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_wine

from augment_jobs.config import DatasetConfig
from augment_jobs.evaluation.split import assign_split
from augment_jobs.tabular import split as tabular_split
from augment_jobs.tabular.engine import Part, read_parts
from augment_jobs.tabular.plan import label_counts
from augment_jobs.tabular.write import real_ids


def config(**source: object) -> DatasetConfig:
    return DatasetConfig(
        dataset="wine", modality="tabular", label="label", seed=9, split={"holdout": 0.3},
        source={"uri": "mem://", "format": "parquet", **source}, augment=[{"method": "smote"}],
        publish={"uri": "mem://out"},
    )


@pytest.fixture
def parts(tmp_path: Path) -> tuple[list[Part], pa.Schema, pd.DataFrame]:
    """Wine in three parts, with a two-row class, two missing labels and string ids."""
    df = load_wine(as_frame=True).frame.rename(columns={"target": "label"})
    df["label"] = df["label"].map({0: "a", 1: "b", 2: "c"})
    df.loc[[5, 90], "label"] = "tiny"
    df.loc[[3, 140], "label"] = None  # first: the notes follow first appearance, not the sorted values
    df["key"] = [f"w{i:04d}" for i in range(len(df))]
    cuts = [0, 60, 61, len(df)]
    for i in range(3):
        pq.write_table(pa.Table.from_pandas(df.iloc[cuts[i]:cuts[i + 1]], preserve_index=False),
                       tmp_path / f"part-{i}.parquet", row_group_size=16)
    parts, schema = read_parts(config(), [{"uri": str(tmp_path / f"part-{i}.parquet")} for i in range(3)])
    return parts, schema, df


@pytest.mark.parametrize("id_column", [None, "key"])
def test_pass_one_and_the_tasks_split_as_in_memory(parts, id_column: str | None) -> None:
    parts_, schema, df = parts
    cfg = config(id_column=id_column)
    ids = df["key"] if id_column else pd.Series([f"part-{i}.parquet#{r}" for i, n in enumerate((60, 1, 117))
                                                 for r in range(n)])
    want, notes = assign_split(ids, df["label"], 0.3, seed=9)
    values = label_counts(parts_, "label")[0]
    split, train, train_missing = tabular_split.plan_split(cfg, parts_, schema, values)
    assert split["notes"] == notes == [  # in order of first appearance, a missing label as pandas names it
        f"split: class {c} has 2 rows, too few to hold out 0.3 of them; all stay train" for c in ("nan", "'tiny'")]
    held = pd.Series(want == "holdout")
    assert train == [int((~held[df["label"] == v]).sum()) for v in values] and train_missing == 2
    got = []
    for p in parts_:  # as the tasks write them: any slice of a part
        t = pq.read_table(p.uri)
        for a, b in ((0, p.rows // 2), (p.rows // 2, p.rows)):
            got += tabular_split.split_column(cfg, split, t.slice(a, b - a), real_ids(cfg, p, t.slice(a, b - a),
                                                                                    np.arange(a, b))).to_pylist()
    assert got == list(want)
    # the learning rows: a picker sees the train rows only
    p = parts_[2]
    labels = pq.read_table(p.uri, columns=["label"]).column(0)
    picked = tabular_split.train_select(cfg, split, p, labels, lambda col: np.ones(len(col), dtype=bool))
    assert (picked == (want[p.offset:p.offset + p.rows] == "train")).all()
