"""The streamed tabular path's planning: which runs stream, the memory plan, the task cut, targets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from augment_jobs.config import DatasetConfig
from augment_jobs.errors import ConfigError
from augment_jobs.sampling import class_targets
from augment_jobs.tabular.engine import State, check_memory, stream_blocker, streams
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
        check_memory(cfg("gaussian_copula"), 10_000_000, FLOATS, streams=True)
    check_memory(cfg("gaussian_copula", {"max_fit_rows": 200_000}), 10_000_000, FLOATS, streams=True)
    monkeypatch.setenv("AUGMENT_WORKER_MEMORY_GB", "400")  # a big enough worker fits it whole
    check_memory(cfg("gaussian_copula"), 10_000_000, FLOATS, streams=True)


def test_in_memory_plans_that_do_not_fit_say_what_to_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUGMENT_WORKER_MEMORY_GB", raising=False)
    with pytest.raises(ConfigError, match=r"borderline_smote on 20,000,000 rows .* it cannot stream because "
                                          r"params.missing is impute_median"):
        check_memory(cfg("borderline_smote", {"missing": "impute_median"}), 20_000_000, FLOATS, streams=False)
    with pytest.raises(ConfigError, match=r"set source\.rows_per_task"):
        check_memory(cfg("smote"), 20_000_000, FLOATS, streams=False)
    check_memory(cfg("smote"), 20_000_000, FLOATS, streams=True)  # streamed: one output file at a time
    check_memory(cfg("smote"), 1_000_000, FLOATS, streams=False)
    with pytest.raises(ConfigError, match=r"lower publish\.rows_per_file"):
        check_memory(cfg("smote", **{"publish.rows_per_file": 100_000_000}), 200_000_000, FLOATS, streams=True)


@pytest.mark.parametrize(("changes", "why"), [
    ({"augment": [{"method": "smote"}, {"method": "smote"}]}, "more than one augment step"),
    ({"augment": [{"method": "adasyn", "params": {"missing": "impute_median"}}]}, "impute_median"),
    ({"constraints": [{"type": "range", "column": "f00", "low": 0}]}, "constraints"),
    ({"augment": [{"method": "smote", "params": {"missing": "impute_median"}}]}, "impute_median"),
])
def test_runs_that_cannot_stream_say_why(changes: dict[str, Any], why: str) -> None:
    c = cfg(**changes)
    assert why in (stream_blocker(c, FLOATS) or "")
    assert not streams(c, 50_000_000, FLOATS)


def test_a_holdout_split_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUGMENT_WORKER_MEMORY_GB", raising=False)
    for method in ("smote", "gaussian_copula"):
        held = cfg(method, {"max_fit_rows": 200_000} if method != "smote" else {}, split={"holdout": 0.2})
        assert stream_blocker(held, FLOATS) is None
        assert streams(held, 20_000_000, FLOATS) and not streams(held, 1_000, FLOATS)
        check_memory(held, 20_000_000, FLOATS, streams=True)  # 20M rows with a holdout fit a 4 GB worker
    with pytest.raises(ConfigError, match=r"split over 200,000,000 rows needs ~5\.1 GB .* AUGMENT_WORKER_MEMORY_GB"):
        check_memory(cfg(split={"holdout": 0.2}), 200_000_000, FLOATS, streams=True)  # a hash per row at snapshot
    with pytest.raises(ConfigError, match=r"set source\.rows_per_task") as e:
        check_memory(cfg(split={"holdout": 0.2}), 20_000_000, FLOATS, streams=False)
    assert "cannot stream" not in str(e.value)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_csv_and_jsonl_sources_stream_as_parquet_does(fmt: str) -> None:
    c = cfg(**{"source.format": fmt})
    assert stream_blocker(c, FLOATS) is None and streams(c, 1_000_001, FLOATS)


def test_schema_blockers_dates_for_smote_and_float_ids() -> None:
    dated = FLOATS.append(pa.field("opened", pa.timestamp("ns")))
    for method in ("smote", "borderline_smote", "adasyn"):
        assert "'opened' is a date/time" in stream_blocker(cfg(method), dated)
        assert stream_blocker(cfg(method), FLOATS) is None
    assert stream_blocker(cfg("gaussian_copula"), dated) is None
    ids = FLOATS.append(pa.field("key", pa.float64()))
    assert "id column 'key'" in stream_blocker(cfg("smote", **{"source.id_column": "key"}), ids)


def test_small_sources_stream_only_when_rows_per_task_is_set() -> None:
    assert not streams(cfg(), 1_000_000, FLOATS)
    assert streams(cfg(), 1_000_001, FLOATS)
    assert streams(cfg(**{"source.rows_per_task": 500}), 3_000, FLOATS)


@pytest.mark.parametrize("tasks", [1, 2, 3, 7, 40])
def test_tasks_cover_every_output_file_once_in_order(tasks: int) -> None:
    state = State(method="smote", parts=[], schema="", n_real=10_000, classes=[{"synthetic": 2_345}], features=[],
                  categorical=[], k=5, dictionary=[], id_top=None, tasks=tasks, rows_per_file=1_000)
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
