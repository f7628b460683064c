"""`split` on the tabular engine: the frame modalities' `_split` (one `HoldoutRule`), in bounded memory.

Pass 1 (`plan_split`) hashes every real row's `_id` text (as `write.real_ids` writes it) part
by part, batch by batch, keeping a uint64 hash and a class code per row, and fits the
`HoldoutRule` of augment_jobs/evaluation/split.py on them: per class the rows held out and the
(hash, id text) threshold, which goes to the staged state. Methods learn from train rows only
(`train_select` in `plan.gather`); each augment task applies the rule to its real rows
(`split_column`); synthetic rows are train (docs/config.md, "The tabular engine").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from augment_jobs.tabular.engine import Part, json_value, open_parquet

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from augment_jobs.config import DatasetConfig

#: source rows hashed at a time (pass 1 and the train mask of a part)
BATCH = 64 * 1024


def plan_split(cfg: DatasetConfig, parts: list[Part], schema: pa.Schema, values: list[Any]
               ) -> tuple[dict[str, Any], list[int], int]:
    """The staged split (`State.split`) and the train rows per class of `values` and with a missing
    label: the counts the method's targets come from, the train rows."""
    import numpy as np

    from augment_jobs.evaluation.split import HoldoutRule

    assert cfg.split is not None
    split: dict[str, Any] = {"values": [json_value(v) for v in values]}
    total = sum(p.rows for p in parts)
    n_classes = len(values) + 1  # the last code: a missing label, a class of its own as in pandas
    hashes = np.empty(total, dtype=np.uint64)
    codes = np.empty(total, dtype=np.min_scalar_type(n_classes))
    first = np.full(n_classes, total, dtype=np.int64)  # first row of each class: the notes' order
    for p, a, t, ids in _batches(cfg, parts):
        lo, hi = p.offset + a, p.offset + a + t.num_rows
        hashes[lo:hi], c = _hashes(cfg, ids), class_codes(t.column(cfg.label), split)
        codes[lo:hi] = c
        u, at = np.unique(c, return_index=True)
        first[u] = np.minimum(first[u], lo + at)
    rule = HoldoutRule.fit(hashes, codes, n_classes, cfg.split.holdout, lambda pos: _texts_at(cfg, parts, pos))
    del hashes, codes
    names = [*_label_values(values, schema.field(cfg.label).type, missing=rule.sizes[-1] > 0), float("nan")]
    split["rule"] = vars(rule)
    split["notes"] = rule.notes(names, order=np.argsort(first, kind="stable").tolist())
    train = [n - k for n, k in zip(rule.sizes, rule.counts, strict=True)]
    return split, train[:-1], train[-1]


def split_column(cfg: DatasetConfig, split: dict[str, Any], table: pa.Table, ids: pa.Array) -> pa.Array:
    """`_split` of real rows (their source columns and `_id`): "holdout" or "train"."""
    import numpy as np
    import pyarrow as pa

    held = _held(cfg, split, table, ids)
    return pa.array(["train", "holdout"]).take(pa.array(held.astype(np.int8)))


def train_select(cfg: DatasetConfig, split: dict[str, Any], part: Part, labels: pa.ChunkedArray,
                 select: Callable[[pa.ChunkedArray], np.ndarray]) -> np.ndarray:
    """`select` (a `plan.gather` row picker) applied to the part's train rows only: it sees
    their labels, in source order, and holdout rows are never picked."""
    import numpy as np
    import pyarrow as pa

    train = np.concatenate([~_held(cfg, split, t, ids) for _, _, t, ids in _batches(cfg, [part])])
    picked = np.zeros(len(labels), dtype=bool)
    picked[train] = select(labels.filter(pa.array(train)))
    return picked


def held_rows(cfg: DatasetConfig, split: dict[str, Any], part: Part, first: int, batch: pa.RecordBatch) -> np.ndarray:
    """Which rows of a batch of a part's rows (from row `first` of the part, holding the label and
    id columns) are held out: searches over the whole table (`neighbours`) skip them."""
    import numpy as np
    import pyarrow as pa

    from augment_jobs.tabular.write import real_ids

    t = pa.Table.from_batches([batch])
    return _held(cfg, split, t, real_ids(cfg, part, t, np.arange(first, first + t.num_rows)))


def class_codes(labels: pa.ChunkedArray | pa.Array, split: dict[str, Any]) -> np.ndarray:
    """Per row the position of its label in `split["values"]`; missing labels get the last code."""
    import pyarrow as pa
    import pyarrow.compute as pc

    value_set = pa.array(split["values"]).cast(labels.type) if split["values"] else pa.array([], labels.type)
    return pc.index_in(labels, value_set=value_set).fill_null(len(split["values"])).to_numpy(zero_copy_only=False)


def _batches(cfg: DatasetConfig, parts: list[Part]) -> Iterator[tuple[Part, int, pa.Table, pa.Array]]:
    """(part, first row in the part, label (and id) columns, `_id`) per batch of source rows."""
    import numpy as np
    import pyarrow as pa

    from augment_jobs.tabular.write import real_ids

    columns = list(dict.fromkeys([cfg.label, *([cfg.source.id_column] if cfg.source.id_column else [])]))
    for p in parts:
        if not p.rows:
            continue
        a = 0
        for batch in open_parquet(p.read_uri).iter_batches(batch_size=BATCH, columns=columns):
            t = pa.Table.from_batches([batch])
            yield p, a, t, real_ids(cfg, p, t, np.arange(a, a + t.num_rows))
            a += t.num_rows


def _held(cfg: DatasetConfig, split: dict[str, Any], table: pa.Table, ids: pa.Array) -> np.ndarray:
    from augment_jobs.evaluation.split import HoldoutRule

    text = _text(ids)
    rule = HoldoutRule(**split["rule"])
    return rule.is_held(_hashes(cfg, text), class_codes(table.column(cfg.label), split),
                        lambda pos: text.iloc[pos].tolist())


def _text(ids: pa.Array) -> pd.Series:
    """Ids as text, as the frame modalities' `_id` reads them (pandas `astype(str)`)."""
    import pandas as pd

    return pd.Series(ids.to_numpy(zero_copy_only=False), dtype=object).astype(str)


def _hashes(cfg: DatasetConfig, ids: pa.Array | pd.Series) -> np.ndarray:
    import pyarrow as pa

    from augment_jobs.evaluation.split import id_hashes

    return id_hashes(_text(ids) if isinstance(ids, pa.Array) else ids, cfg.seed)


def _texts_at(cfg: DatasetConfig, parts: list[Part], positions: np.ndarray) -> list[str]:
    """The `_id` texts of a few rows by position in the whole source (the thresholds' rows)."""
    import numpy as np
    import pyarrow as pa

    from augment_jobs.tabular.write import real_ids

    out: dict[int, str] = {}
    for p in parts:
        mine = np.sort(positions[(positions >= p.offset) & (positions < p.offset + p.rows)]) - p.offset
        if not len(mine):
            continue
        t = open_parquet(p.read_uri).read(columns=[cfg.source.id_column]).take(pa.array(mine)) if cfg.source.id_column else None
        ids = real_ids(cfg, p, t, mine)
        out.update(zip((mine + p.offset).tolist(), _text(ids).tolist(), strict=True))
    return [out[int(i)] for i in positions]


def _label_values(values: list[Any], kind: pa.DataType, missing: bool) -> list[Any]:
    """Class values as a pandas frame holds them (integers become floats when a label is missing),
    so the notes name classes as the other frame modalities do; a missing label reads nan."""
    import pyarrow as pa

    return pa.array([*values, *([None] if missing else [])], type=kind).to_pandas().tolist()[:len(values)]
