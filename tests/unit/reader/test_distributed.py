"""Two real torch.distributed (gloo, CPU) ranks over unequal shards: every step all-reduces, so a
rank with fewer batches would leave the other waiting forever; the run must finish."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from reader_helpers import free_port, publish_parquet, publish_tars

REPO = Path(__file__).resolve().parents[3]

RANK_SCRIPT = """
import json, sys, torch, torch.distributed as dist
from augment_jobs.reader import open_dataset
dist.init_process_group("gloo")
ds = open_dataset(sys.argv[1]).torch(batch_size=2, shuffle=True, seed=3)
steps, keys = 0, []
for batch in ds.loader(num_workers=int(sys.argv[2])):
    t = torch.ones(1)
    dist.all_reduce(t)  # a DDP step: blocks until every rank gets here
    steps += 1
    k = batch.get("_id", batch.get("__key__"))
    keys += [x for x, p in zip(k, batch["_pad"].tolist()) if not p]
dist.barrier()
print(json.dumps({"rank": dist.get_rank(), "steps": steps, "keys": keys}))
dist.destroy_process_group()
"""


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "workers"), [("parquet", 0), ("webdataset", 2)])
def test_two_gloo_ranks_finish_on_unequal_shards(tmp_path: Path, fmt: str, workers: int) -> None:
    uri = str(tmp_path / "ds")
    (publish_parquet if fmt == "parquet" else publish_tars)(uri, [13, 2])  # one shard each would be 13 vs 2
    port = str(free_port())
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        procs.append(subprocess.Popen([sys.executable, "-c", RANK_SCRIPT, uri, str(workers)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=120)  # a hang fails here instead of blocking the suite
            assert p.returncode == 0, err[-2000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert results[0]["steps"] == results[1]["steps"] == 4  # 15 samples, 8 per rank, batches of 2
    keys = results[0]["keys"] + results[1]["keys"]
    assert len(keys) == len(set(keys)) == 15
