"""The fit stage mapped over query blocks (`augment_jobs.tabular.fit`): the planned searches are
answered block by block, and any number of blocks publishes the same bytes as one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from augment_jobs import stages
from augment_jobs.cli import main
from augment_jobs.reader import open_dataset
from augment_jobs.store import store_for
from augment_jobs.tabular.fit import BLOCK_ALIGN, REQUESTS, block_range

DS = "2026-11-02"
ROWS = 12_000  # ~1,800 minority rows: three non-empty query blocks of 768
CLI_ROWS = 4_000  # ~600: blocks of 256, 256 and the rest


def frame(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    y = (rng.random(rows) < 0.15).astype(np.int64)
    return pd.DataFrame({**{f"f{j}": rng.normal(size=rows) + y * (j % 2) for j in range(6)}, "label": y})


def write_source(store: Path) -> None:
    folder = store / "raw" / "mapped" / DS
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame(CLI_ROWS), preserve_index=False)
    for i, (lo, hi) in enumerate(((0, 1500), (1500, CLI_ROWS))):
        pq.write_table(table.slice(lo, hi - lo), folder / f"part-{i}.parquet")


def config(tmp: Path, method: str, params: dict[str, Any], rows_per_task: int) -> Path:
    cfg = {"dataset": "mapped", "modality": "tabular", "seed": 2, "label": "label",
           "source": {"uri": "{store}/raw/mapped/{ds}/", "format": "parquet", "rows_per_task": rows_per_task},
           "augment": [{"method": method, "params": {"sampling_strategy": 0.3, **params}}],
           "publish": {"uri": f"{{store}}/published/mapped-{tmp.name}", "rows_per_file": 2000}}
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "mapped.yaml").write_text(yaml.safe_dump(cfg))
    return tmp / "mapped.yaml"


def test_block_ranges_cover_the_queries_in_aligned_blocks() -> None:
    for rows, blocks in [(0, 3), (1, 1), (255, 4), (1800, 3), (100_000, 7)]:
        ranges = [block_range(rows, blocks, b) for b in range(blocks)]
        assert ranges[0][0] == 0 and ranges[-1][1] == rows
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        assert all(lo % BLOCK_ALIGN == 0 or lo == rows for lo, _ in ranges)


FAMILY = [("smote", {}), ("smotenc", {"categorical_features": ["region"]}), ("adasyn", {}),
          ("borderline_smote", {}), ("borderline_smote", {"kind": "borderline-2", "neighbours": "approximate"}),
          ("adasyn", {"neighbours": "approximate"})]
PLANNED = {"smote": ["same-class"], "smotenc": ["same-class"], "adasyn": ["all-class", "same-class"],
           "borderline_smote": ["all-class"]}  # Borderline-SMOTE's same-class queries are its danger rows


@pytest.mark.parametrize(("method", "params"), FAMILY, ids=[f"{m}-{p.get('kind', '')}-{p.get('neighbours', 'exact')}"
                                                            for m, p in FAMILY])
def test_one_block_or_three_give_the_same_rows(method: str, params: dict[str, Any]) -> None:
    from augment_jobs.config import DatasetConfig
    from augment_jobs.tabular.engine import run_frame

    df = frame()
    if "categorical_features" in params:
        df.insert(0, "region", np.random.default_rng(1).choice(["north", "south", "east"], len(df)))
    cfg = DatasetConfig(dataset="mapped", modality="tabular", seed=2, source={"uri": "mem://"}, label="label",
                        augment=[{"method": method, "params": params}], publish={"uri": "mem://out"})
    one, three = (run_frame(df, cfg, DS, tasks=t) for t in (1, 3))
    same = [c for c in one.columns if c not in ("_id", "_source_ids")]  # real ids name the temporary part files
    assert one[same].equals(three[same]) and one["_synthetic"].sum() > 500


def test_snapshot_plans_the_searches_and_the_cli_publishes_the_same_bytes_for_any_block_count(
        store: Path, tmp_path: Path) -> None:
    write_source(store)
    digests = []
    for blocks, per in ((1, CLI_ROWS), (3, CLI_ROWS // 3 + 1)):
        for method in ("adasyn", "borderline_smote"):  # what the snapshot stages for the fit blocks
            snap = stages.snapshot(str(config(tmp_path / f"{method}{blocks}", method, {}, per)), DS)
            assert snap["fit_blocks"] == list(range(blocks))
            plan = stages.load_plan(snap["run_uri"])
            requests = store_for(plan.staging_uri).read_json(f"{plan.staging_uri}/tabular/{REQUESTS}")
            assert sorted(r["kind"] for r in requests.values()) == PLANNED[method]
            assert all(r["blocks"] == blocks and r["queries"] > 2 * BLOCK_ALIGN for r in requests.values())
        path = config(tmp_path / f"b{blocks}", "smote", {}, per)
        assert main(["run", str(path), "--date", DS]) == 0  # snapshot, fit blocks, merge, augment, ...
        m = open_dataset(str(store / "published" / f"mapped-b{blocks}")).manifest
        digests.append([(f["path"], f["sha256"]) for f in m["files"]])
    assert digests[0] == digests[1] and len(digests[0]) == 3


def test_workers_run_the_mapped_stages_at_once_and_publish_the_same_bytes(store: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    write_source(store)
    digests = []
    for workers in (1, 2):
        path = config(tmp_path / f"w{workers}", "adasyn", {}, CLI_ROWS // 3 + 1)  # 3 fit blocks, 3 shards
        assert main(["run", str(path), "--date", DS, "--workers", str(workers)]) == 0
        m = open_dataset(str(store / "published" / f"mapped-w{workers}")).manifest
        digests.append([(f["path"], f["sha256"]) for f in m["files"]])
    assert digests[0] == digests[1]
    assert capsys.readouterr().err.count("[2/5] augment   shard") == 6  # 3 shards, each run reported
    assert main(["run", str(path), "--date", DS, "--workers", "0"]) == 2
    assert "--workers 0: needs at least 1 process" in capsys.readouterr().err
