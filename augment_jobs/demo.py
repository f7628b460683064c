"""`augment demo`: write realistic raw data into the store and run every demo config end to end.

Each demo config's dataset has a raw-data writer `write(source_uri, ds)`; writers are
deterministic, so running the demo twice for one date is a no-op the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from augment_jobs.config import config_files, configs_dir
from augment_jobs.errors import AugmentError


def writers() -> dict[str, str]:
    """dataset name → "module:function" writing that dataset's raw partition, from every modality."""
    from augment_jobs.registry import modalities

    return {name: fn for spec in modalities().values() for name, fn in spec.demo_writers.items()}


def demo_configs(folder: Path | None = None) -> list[Path]:
    """Config files in `folder` whose dataset has a demo writer."""
    import yaml

    out = []
    for path in config_files(folder):
        raw = yaml.safe_load(path.read_text()) or {}
        if isinstance(raw, dict) and raw.get("dataset") in writers():
            out.append(path)
    return out


def raw_asset(cfg: Any) -> Any:
    """The Airflow Asset `demo_feed` announces when it lands a dataset's raw partition (the source
    folder without the date)."""
    from airflow.sdk import Asset

    uri = cfg.source_uri("DS").split("DS")[0].rstrip("/")
    return Asset(uri if "://" in uri else Path(uri).as_uri())


def _writer(dataset: str) -> Callable[[str, str], None]:
    from augment_jobs.modality import resolve

    return resolve(writers()[dataset])


def write_demo_raw(ds: str, configs_dir: str | None = None) -> list[str]:
    """Write the raw partition of every demo config for `ds`; returns the source URIs."""
    from augment_jobs.config import load_config

    written: list[str] = []
    for path in demo_configs(Path(configs_dir) if configs_dir else None):
        cfg = load_config(path)
        uri = cfg.source_uri(ds)
        if uri not in written:
            _writer(cfg.dataset)(uri, ds)
            written.append(uri)
    return written


def run_demo(ds: str, *, only: list[str] | None = None, progress: Callable[[str], None] = print) -> int:
    """Write demo data and run each demo config; print what was published and where to look."""
    from augment_jobs import stages
    from augment_jobs.config import load_config, store_root
    from augment_jobs.lineage import tracking_uri

    paths = [p for p in demo_configs() if only is None or load_config(p).dataset in only]
    if not paths:
        raise AugmentError(f"no demo configs found in {configs_dir()}" + (f" for {only}" if only else ""))
    progress(f"store: {store_root()}   logical date: {ds}")
    written: set[str] = set()
    failures = 0
    published = []
    for path in paths:
        cfg = load_config(path)
        uri = cfg.source_uri(ds)
        if uri not in written:
            progress(f"\n== writing demo raw data → {uri}")
            _writer(cfg.dataset)(uri, ds)
            written.add(uri)
        progress(f"== {cfg.dataset} ({cfg.modality}: {', '.join(s.method for s in cfg.augment)})")
        try:
            result = stages.run(str(path), ds, progress=progress)
            published.append((cfg, result))
        except AugmentError as e:
            failures += 1
            progress(f"   FAILED (exit {e.exit_code}): {e}")
    print("\nPublished:")
    for cfg, result in published:
        print(f"  {cfg.dataset:<22} {result['version']:<22} {result['manifest_uri']}")
    if published:
        cfg, result = published[0]
        print("\nLook around:")
        print("\n".join(look_around(cfg, result["version"])))
        print(f"  mlflow ui --backend-store-uri {tracking_uri()}")
    return 1 if failures else 0


def look_around(cfg: Any, version: str) -> list[str]:
    """Commands that show a published version: its versions, manifest, a row's lineage, the data."""
    uri = cfg.publish_uri()
    return [
        f"  augment versions {uri}",
        f"  augment show {uri}",
        f"  augment lineage {uri} {version} {_example_key(cfg, version)}",
        f"  python -c \"from augment_jobs.reader import open_dataset; print(open_dataset('{uri}').to_pandas().head())\"",
    ]


def _example_key(cfg: Any, version: str) -> str:
    """A synthetic row's `_id` to try `augment lineage` on."""
    import pyarrow.dataset as pads

    from augment_jobs.reader import open_dataset

    if cfg.publish.format != "parquet":
        return "<__key__>"
    table = open_dataset(cfg.publish_uri(), version).to_arrow().to_table(
        columns=["_id"], filter=pads.field("_synthetic") == True  # noqa: E712
    )
    return table.column(0)[0].as_py() if table.num_rows else "<_id>"
