"""What a modality must provide to the shared stages (snapshot → augment → gate → publish → lineage).

The stages own versions, staging, quarantine, the GX suite, manifests and MLflow; a `Handler` owns
only what differs per modality: how source objects are grouped into shards (one Airflow task each),
how one shard is augmented into staged files, which table the gate reads, and how a published key
is traced back to its sources. A `ModalitySpec` registers a modality: its handler, source and
publish formats, config part, checks, frame hooks and demo writers, in one object.

Tabular, text and time series share `augment_jobs.frames.FrameHandler` (a pandas frame through the
registered methods); images have their own streaming handler.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.checks import Check
    from augment_jobs.config import DatasetConfig
    from augment_jobs.contract import Manifest
    from augment_jobs.store import ObjectInfo


@dataclass
class RunPlan:
    """Everything fixed at snapshot time; stored as `_staging/<version>/plan.json`."""

    dataset: str
    ds: str
    version: str
    fingerprint: str
    modality: str
    config_path: str
    config_sha256: str
    platform_version: str
    seed: int
    source_uri: str
    source: list[dict[str, Any]]  # [{uri, etag, size}]
    shards: list[list[int]]  # indices into `source`, one list per augment task
    publish_uri: str
    staging_uri: str
    force: bool = False

    @property
    def data_uri(self) -> str:
        return f"{self.staging_uri}/data"

    def shard_objects(self, shard: int) -> list[ObjectInfo]:
        from augment_jobs.store import ObjectInfo

        return [ObjectInfo(**self.source[i]) for i in self.shards[shard]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ShardResult:
    """What augmenting one shard staged; stored as `_staging/<version>/shards/<n>.json`.

    `files` are staged data files relative to `RunPlan.data_uri` ({path, rows}); publish gives them
    their final names in order. `counts` maps class -> {before, after, synthetic}.
    """

    shard: int
    files: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)  # inputs skipped: {key, reason}
    skipped: dict[str, int] = field(default_factory=dict)  # items published as real, not augmented, by reason
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Handler(ABC):
    """Per-modality part of the pipeline."""

    #: suffix of published data files, e.g. ".parquet" or ".tar"
    file_kind: str = "parquet"

    def shard_sources(self, cfg: DatasetConfig, objects: list[ObjectInfo], staging_uri: str | None = None) -> list[list[int]]:
        """Group source objects into augment tasks; default: one task over everything. `staging_uri`
        is the run's staging folder, where planning may record what it read (None when the version
        is published already and nothing will run)."""
        return [list(range(len(objects)))]

    def source_filter(self, cfg: DatasetConfig, obj: ObjectInfo) -> bool:
        """Whether a listed object belongs to the source (default: by file extension)."""
        ext = {"parquet": (".parquet",), "csv": (".csv",), "jsonl": (".jsonl", ".json"), "webdataset": (".tar",)}
        fmt = cfg.source.format
        name = obj.uri.rsplit("/", 1)[-1]
        if name.startswith((".", "_")):
            return False
        return fmt == "images" or name.endswith(ext[fmt])

    @abstractmethod
    def augment_shard(self, cfg: DatasetConfig, plan: RunPlan, shard: int) -> ShardResult:
        """Read the shard's sources, run the config's steps, write staged files under plan.data_uri."""

    @abstractmethod
    def gate_frame(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult]) -> pd.DataFrame:
        """The table the dataset's Great Expectations suite validates."""

    def artifacts(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult], out_dir: str) -> list[str]:
        """Extra local files to log to MLflow (e.g. an image grid, a fitted synthesizer)."""
        return []

    @abstractmethod
    def lineage(self, manifest: Manifest, version_uri: str, key: str) -> dict[str, Any]:
        """Trace one published `_id` / `__key__` back to its sources, method and params."""


@dataclass(frozen=True)
class FrameHooks:
    """What a frame modality (tabular, text, time series) adds to the shared frame pipeline."""

    #: validate and normalise the loaded source; raise InputError naming the column
    prepare: Callable[[pd.DataFrame, DatasetConfig], pd.DataFrame] | None = None
    #: the columns the similarity check compares (default: every feature column)
    compare_columns: Callable[[DatasetConfig, pd.DataFrame], list[str]] | None = None
    #: the column naming one item, counted per class and held out as a whole (default: `_id`, a row)
    unit_column: Callable[[DatasetConfig], str] | None = None
    #: whether the gate's table needs `_source_ids` (reading a million lists back costs seconds)
    gate_reads_lineage: bool = True


@dataclass(frozen=True)
class ModalitySpec:
    """Everything a modality registers, in one object (`augment_jobs.registry.register_modality`)."""

    name: str
    #: "module:Class" of its `Handler` (imported when a run needs it)
    handler: str
    #: `source.format` values it reads, and the `publish.format` it writes
    source_formats: tuple[str, ...]
    publish_format: str
    #: its platform gate checks, besides the common ones (see augment_jobs.checks)
    checks: tuple[Check, ...] = ()
    #: frame modalities only: hooks into the shared frame pipeline
    frame_hooks: FrameHooks | None = None
    #: its part of the config: raise ValueError with a one-line message when keys it needs are missing
    validate_config: Callable[[DatasetConfig], None] | None = None
    #: demo datasets: dataset name -> "module:function" writing that dataset's raw partition
    demo_writers: dict[str, str] = field(default_factory=dict)
    #: for the method-contract tests: "module:function" (method, params) -> (config, input batch) ...
    example: str | None = None
    #: ... and "module:function" (output batch, config) -> one `ProbeItem` per item
    probe: str | None = None
    #: "module:function" (GateInput) -> extra `evaluation.report.ReportInput` fields (real/synthetic
    #: rows, text pairs, series overlays, image samples) for the version's HTML report
    report_parts: str | None = None

    def make_handler(self) -> Handler:
        return resolve(self.handler)()


@dataclass(frozen=True)
class ProbeItem:
    """What the method-contract tests read of one output item, the same for every modality."""

    key: str
    synthetic: bool
    source_ids: tuple[str, ...]  # lineage: the items it was made from (empty: drawn from a model)
    label: str | None
    method: str | None


def resolve(ref: str) -> Any:
    """The object a "module:name" reference names."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def hooks_for(modality: str) -> FrameHooks:
    """The frame hooks a modality registered (defaults when it registered none)."""
    from augment_jobs.registry import modality_spec

    return modality_spec(modality).frame_hooks or FrameHooks()


def handler_for(modality: str) -> Handler:
    """The handler of a registered modality."""
    from augment_jobs.registry import modality_spec

    return modality_spec(modality).make_handler()
