"""The tabular engine's planning: the memory plan, the task cut, targets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from augment_jobs.config import DatasetConfig
from augment_jobs.errors import ConfigError
from augment_jobs.sampling import class_targets
from augment_jobs.tabular.engine import State, check_memory
from augment_jobs.tabular.plan import by_class_sizes

FLOATS = pa.schema([*(pa.field(f"f{i:02d}", pa.float64()) for i in range(20)), pa.field("label", pa.int64())])


def cfg(method: str = "smote", params: dict[str, Any] | None = None, **changes: Any) -> DatasetConfig:
    raw: dict[str, Any] = {
        "dataset": "unit", "modality": "tabular", "source": {"uri": "mem://", "format": "parquet"}, "label": "label",
        "augment": [{"method": method, "params": params or {}}], "publish": {"uri": "mem://out"},
    }
    for key, value in changes.items():
        target = raw
        *parents, last = key.split(".")
        for p in parents:
            target = target[p]
        target[last] = value
    return DatasetConfig(**raw)


def test_copula_on_10m_rows_without_a_bound_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUGMENT_WORKER_MEMORY_GB", raising=False)
    with pytest.raises(ConfigError, match=r"gaussian_copula would fit on up to 10,000,000 rows .* "
                                          r"set augment\[0\]\.params\.max_fit_rows"):
        check_memory(cfg("gaussian_copula"), 10_000_000, FLOATS)
    check_memory(cfg("gaussian_copula", {"max_fit_rows": 200_000}), 10_000_000, FLOATS)
    monkeypatch.setenv("AUGMENT_WORKER_MEMORY_GB", "400")  # a big enough worker fits it whole
    check_memory(cfg("gaussian_copula"), 10_000_000, FLOATS)


def test_every_plan_holds_one_output_file_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUGMENT_WORKER_MEMORY_GB", raising=False)
    for changes in ({}, {"augment": [{"method": "borderline_smote", "params": {"missing": "impute_median"}}]},
                    {"constraints": [{"type": "range", "column": "f00", "low": 0}]},
                    {"augment": [{"method": "smote"}, {"method": "smote"}]}):
        check_memory(cfg(**changes), 20_000_000, FLOATS)  # no size switch: every run streams its files
    with pytest.raises(ConfigError, match=r"lower publish\.rows_per_file"):
        check_memory(cfg("smote", **{"publish.rows_per_file": 100_000_000}), 200_000_000, FLOATS)


def test_a_holdout_split_fits_a_worker_up_to_its_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUGMENT_WORKER_MEMORY_GB", raising=False)
    for method in ("smote", "gaussian_copula"):
        held = cfg(method, {"max_fit_rows": 200_000} if method != "smote" else {}, split={"holdout": 0.2})
        check_memory(held, 20_000_000, FLOATS)  # 20M rows with a holdout fit a 4 GB worker
    with pytest.raises(ConfigError, match=r"split over 200,000,000 rows needs ~5\.1 GB .* AUGMENT_WORKER_MEMORY_GB"):
        check_memory(cfg(split={"holdout": 0.2}), 200_000_000, FLOATS)  # a hash per row at snapshot


@pytest.mark.parametrize("tasks", [1, 2, 3, 7, 40])
def test_tasks_cover_every_output_file_once_in_order(tasks: int) -> None:
    state = State(parts=[], schema="", n_real=10_000, classes=[], features=[], id_top=None, tasks=tasks,
                  rows_per_file=1_000, steps=[{"method": "smote", "classes": [{"synthetic": 2_345}], "fit": {}}])
    files = [j for t in range(tasks) for j in state.files_of(t)]
    assert files == list(range(13))


@pytest.mark.parametrize("strategy", [0.25, "auto", "minority", "not majority", {"b": 700, "c": 400}])
def test_targets_from_class_sizes_equal_imbalanced_learns(strategy: Any) -> None:
    values, counts = ["a", "b", "c"], [1000, 120, 300]
    if isinstance(strategy, float):
        values, counts = values[:2], counts[:2]
    y = np.repeat(np.array(values, dtype=object), counts)
    want = class_targets(strategy, y, method="smote", label="label")
    got = by_class_sizes(values, counts, strategy, lambda yy: class_targets(strategy, yy, method="smote", label="label"))
    assert got == want


def test_whole_number_floats_are_found_batch_by_batch_over_parts(tmp_path: Any) -> None:
    """`_whole_floats` reads in batches and drops a column at its first fraction: a fraction late in
    the second part's second batch still counts, a NaN-only column is not whole, ints are not asked."""
    import pyarrow.parquet as pq

    from augment_jobs.tabular.engine import Part
    from augment_jobs.tabular.plan import _whole_floats

    n = 100_000  # two batches of 65,536 rows per part
    late = np.arange(n, dtype=float)
    late[-3] += 0.5
    parts, offset = [], 0
    for i, frac in enumerate([np.arange(n, dtype=float), late]):
        t = pa.table({"whole": np.where(np.arange(n) % 7 == 0, np.nan, np.arange(n, dtype=float)),
                      "late": frac, "nan": np.full(n, np.nan), "f32": np.arange(n, dtype=np.float32) * 2,
                      "real": np.linspace(0, 1, n), "count": np.arange(n)})
        path = str(tmp_path / f"p{i}.parquet")
        pq.write_table(t, path)
        parts.append(Part(path, n, offset))
        offset += n
    schema = pq.read_schema(parts[0].uri)
    assert _whole_floats(parts, schema, schema.names) == ["whole", "f32"]
    assert _whole_floats(parts[:1], schema, schema.names) == ["whole", "late", "f32"]
