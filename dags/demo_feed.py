"""`demo_feed`: lands each day's demo raw partitions, so the demo's augment DAGs run on a schedule.

Loaded only when `AUGMENT_DEMO=1` (`make demo` and `make ui` set it). Every day it writes the raw
partition of each demo dataset for its logical date (the same deterministic writers as `make demo`)
and announces each dataset's raw Asset with `{"ds": ...}` in the event's extra. In demo mode the
`augment__<dataset>` DAGs of the demo configs are scheduled on that Asset instead of their cron
schedule, and take their logical date from the event: unpausing them in the UI works without
hand-made data.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import dag, task

from augment_jobs.config import load_configs
from augment_jobs.demo import raw_asset, writers

configs = [cfg for _path, cfg in load_configs()[0] if cfg.dataset in writers()] if os.environ.get("AUGMENT_DEMO") == "1" else []
if configs:
    assets = {cfg.dataset: raw_asset(cfg) for cfg in configs}

    @dag(
        dag_id="demo_feed",
        schedule="@daily",
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["demo"],
        description="Lands each day's demo raw partitions (the augment DAGs run on them)",
        doc_md=__doc__,
    )
    def demo_feed() -> None:
        @task(outlets=list(assets.values()))
        def land_raw(**context: Any) -> list[str]:
            from augment_jobs.demo import write_demo_raw

            run = context["dag_run"]
            ds = (run.logical_date or run.run_after).strftime("%Y-%m-%d")
            written = write_demo_raw(ds)
            for asset in assets.values():
                context["outlet_events"][asset].extra = {"ds": ds}
            return written

        land_raw()

    demo_feed()
