"""Dataset configs (docs/config.md): pydantic models, strict about unknown keys.

`load_config(path)` is the only entry point: it parses YAML, validates, resolves the paths inside
the config (suite, thesaurus) against the parent of the config's folder, validates every step's
params against its registered method, and raises `ConfigError` with one line naming the file and
the key at fault.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from augment_jobs.errors import ConfigError

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SourceFormat = Literal["parquet", "csv", "jsonl", "webdataset", "images", "audio"]
PublishFormat = Literal["parquet", "webdataset"]

DEFAULT_STORE = ".augment-store"
SCHEDULE_PRESETS = {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    uri: str
    format: SourceFormat = "parquet"
    id_column: str | None = None
    csv_delimiter: str = ","
    max_corrupt_share: float = Field(0.05, ge=0, le=1)  # images: share of undecodable inputs tolerated
    files_per_shard: int = Field(256, ge=1)  # images folder: images per augment task (Airflow maps over them)
    # images: the class ids a mask may hold ([0, 1, 2] or {0: background, 1: coin}); none = any id
    mask_classes: list[int] | dict[int, str] | None = None
    # tabular: source rows per augment task, the parallelism only (docs/config.md, "The tabular engine")
    rows_per_task: int | None = Field(None, ge=1)


class Step(Strict):
    method: str
    params: dict[str, Any] = Field(default_factory=dict)


class Limits(Strict):
    max_synthetic_ratio: float = Field(0.5, ge=0, le=1)
    max_skipped_share: float = Field(0.5, ge=0, le=1)  # items a method could not use / source items
    max_rows: int | None = Field(None, ge=1)
    #: differential privacy: the gate fails when a step spent more (manifest `privacy.epsilon`)
    max_epsilon: float | None = Field(None, gt=0)


class Similarity(Strict):
    max_ks: float = Field(0.2, gt=0, le=1)  # numeric columns, per class, real vs synthetic
    max_tvd: float = Field(0.2, gt=0, le=1)  # categorical columns
    min_rows: int = Field(20, ge=2)  # classes with fewer real or synthetic rows are not compared
    max_acf_diff: float = Field(0.3, gt=0, le=2)  # time series: lag-1 autocorrelation difference


class Split(Strict):
    """A leak-free holdout of real rows (real series for time series), by a hash of `_id` and the seed."""

    holdout: float = Field(gt=0, lt=1)


class Efficacy(Strict):
    """Train the same model on train rows and on train + synthetic rows; score both on the holdout."""

    model: Literal["logistic", "hist_gbm"] = "logistic"
    metric: Literal["f1_minority", "recall_minority", "balanced_accuracy", "roc_auc"] = "f1_minority"
    min_uplift: float | None = None  # the gate fails below it (augmented - baseline)


class Privacy(Strict):
    """Gates on the distance-to-closest-record figures, which are always reported."""

    max_exact_copies: int | None = Field(None, ge=0)
    max_close_share: float | None = Field(None, ge=0, le=1)


class Fairness(Strict):
    """Bias audit: per group, label distribution and synthetic share before and after augmenting."""

    groups: list[str] = Field(min_length=1)  # source columns whose values are the groups
    #: the gate fails when a group column's disparity (largest gap between its groups' share of a
    #: class) moves by more than this; None reports without gating
    max_disparity_change: float | None = Field(None, ge=0, le=1)
    min_rows: int = Field(10, ge=1)  # groups with fewer real rows are reported, not compared


class Governance(Strict):
    """Approvals of policies (docs/governance.md)."""

    require_approval: bool = False  # or AUGMENT_REQUIRE_APPROVAL=1


class AudioQuality(Strict):
    """Audio gate limits, per class, augmented clips against real ones (docs/gate.md, audio)."""

    max_clipped_share: float = Field(0.01, ge=0, le=1)  # samples beyond full scale / all augmented samples
    max_loudness_change_db: float = Field(10.0, gt=0)  # |median RMS dBFS change| per class
    max_duration_change: float = Field(0.25, gt=0)  # |median duration change| per class, relative


class ImageArtifacts(Strict):
    """Image artifact limits (docs/gate.md): each copy against its own source image."""

    max_clipping_increase: float = Field(0.5, ge=0, le=1)  # share of pixels pure black or white, above the source's
    min_sharpness_ratio: float = Field(0.0005, ge=0, le=1)  # Laplacian variance, copy / source (blur, pixelation)
    min_pixel_std: float = Field(2.0, ge=0, le=128)  # below it an image is near-constant (any sample)
    max_mask_class_loss_share: float = Field(0.5, ge=0, le=1)  # copies whose mask lost a class of its source's
    # share of copies that may break one of the per-copy limits above (a bright sky tile blown out by
    # an ordinary brightness jitter is real, and rare): the gate fails above it
    max_artifact_share: float = Field(0.05, ge=0, le=1)


class Quality(Strict):
    suite: str | None = None
    artifacts: ImageArtifacts = ImageArtifacts()  # images only
    min_score: float | None = Field(None, ge=0, le=1)  # SDMetrics quality score of SDV methods' output, per class
    efficacy: Efficacy | None = None
    fairness: Fairness | None = None
    privacy: Privacy = Privacy()
    similarity: Similarity = Similarity()
    value_bounds: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)
    audio: AudioQuality = AudioQuality()


class Retention(Strict):
    keep_last: int = Field(30, ge=1)
    pinned: list[str] = Field(default_factory=list)


class Publish(Strict):
    uri: str
    format: PublishFormat = "parquet"
    retention: Retention = Retention()
    shard_max_samples: int = Field(1000, ge=1)
    rows_per_file: int = Field(1_000_000, ge=1)


class RangeConstraint(Strict):
    type: Literal["range"]
    column: str
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> RangeConstraint:
        if self.low is None and self.high is None:
            raise ValueError("a range constraint needs low and/or high")
        return self


class InequalityConstraint(Strict):
    type: Literal["inequality"]
    low: str
    high: str
    strict: bool = False


class FixedCombinations(Strict):
    type: Literal["fixed_combinations"]
    columns: list[str] = Field(min_length=2)


Constraint = RangeConstraint | InequalityConstraint | FixedCombinations


class ColumnSpec(Strict):
    """What the tabular engine does with one source column (docs/config.md, "Column roles").

    `role`: `id` (fresh values on synthetic rows, never a real one), `pii` (null on synthetic rows)
    or `ignore` (null on synthetic rows); `derived`: a DuckDB SQL expression over the row's other
    columns, computed for synthetic rows. Either way the column is not modelled."""

    role: Literal["id", "pii", "ignore"] | None = None
    derived: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ColumnSpec:
        if (self.role is None) == (self.derived is None):
            raise ValueError("give a column either role (id, pii, ignore) or derived, not both or neither")
        return self


class Series(Strict):
    id_column: str
    time_column: str
    value_columns: list[str] = Field(min_length=1)


class Airflow(Strict):
    """Orchestration settings read by the DAG factory only."""

    max_active_runs: int = Field(1, ge=1)
    catchup: bool = False
    retries: int = Field(3, ge=0)
    retry_delay_seconds: int = Field(30, ge=1)
    queue: str | None = None  # e.g. "gpu" for image work
    pool: str | None = None
    tags: list[str] = Field(default_factory=list)
    start_date: str = "2026-01-01"


class DatasetConfig(Strict):
    dataset: str
    modality: str  # a registered modality (augment_jobs.registry.MODALITY_PACKAGES)
    schedule: str | None = "@daily"
    seed: int = 0
    description: str | None = None
    #: what the policy must not be used for, free text (manifest, MLflow, report, DAG docs; approved with it)
    limitations: list[str] = Field(default_factory=list)
    governance: Governance = Governance()
    source: Source
    label: str | None = None
    text_column: str | None = None
    series: Series | None = None
    augment: list[Step] = Field(min_length=1)
    constraints: list[Constraint] = Field(default_factory=list)
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)  # tabular: column roles, derived columns
    split: Split | None = None
    limits: Limits = Limits()
    quality: Quality = Quality()
    publish: Publish
    airflow: Airflow = Airflow()
    # Set by load_config, not by users: where the file lives, and file digests for fingerprinting.
    config_path: str | None = Field(None, exclude=True)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        if v is None or v in SCHEDULE_PRESETS:
            return v
        from croniter import croniter  # Airflow's own cron parser

        if not croniter.is_valid(v):
            raise ValueError(
                f"{v!r} is not a cron expression or one of {', '.join(sorted(SCHEDULE_PRESETS))}; use null for manual only"
            )
        return v

    @field_validator("dataset")
    @classmethod
    def _name(cls, v: str) -> str:
        if not DATASET_NAME.match(v):
            raise ValueError(f"{v!r} must match [a-z][a-z0-9_]* (no paths, dots or capitals)")
        return v

    @field_validator("modality")
    @classmethod
    def _modality(cls, v: str) -> str:
        from augment_jobs.registry import modalities

        if v not in modalities():
            raise ValueError(f"unknown modality {v!r}; registered: {', '.join(modalities())}")
        return v

    @model_validator(mode="after")
    def _modality_parts(self) -> DatasetConfig:
        """The registered modality's formats and its own part of the config."""
        from augment_jobs.registry import modality_spec

        spec = modality_spec(self.modality)
        if self.source.format not in spec.source_formats:
            raise ValueError(f"{self.modality} sources must have format {' or '.join(spec.source_formats)}")
        if self.publish.format != spec.publish_format:
            raise ValueError(f"{self.modality} datasets publish as {spec.publish_format}")
        if spec.validate_config:
            spec.validate_config(self)
        if self.columns:
            self._check_columns()
        if self.quality.efficacy is not None and self.split is None:
            raise ValueError("quality.efficacy needs a holdout to score on: add split: {holdout: 0.2}")
        if (self.split is not None or self.quality.efficacy is not None) and not spec.frame_hooks:
            raise ValueError(f"split and quality.efficacy apply to tabular, text and time series, not {self.modality}")
        fairness = self.quality.fairness
        if fairness is not None:
            if not spec.frame_hooks:
                raise ValueError(f"quality.fairness applies to tabular, text and time series, not {self.modality}")
            bad = [g for g in fairness.groups if g == self.label or g.startswith("_")]
            if bad:
                raise ValueError(f"quality.fairness.groups: {bad[0]!r} is the label or a platform column; "
                                 "name source columns whose values are the groups")
        return self

    def _check_columns(self) -> None:
        """`columns`: tabular only, never the label (the tabular modality parses the expressions)."""
        if self.modality != "tabular":
            raise ValueError(f"columns (roles, derived) apply to tabular configs, not {self.modality}")
        for name, spec in self.columns.items():
            if name == self.label:
                what = f"role: {spec.role}" if spec.role else "derived"
                raise ValueError(f"columns.{name}: {what} on the label {name!r}; the label is what is modelled, "
                                 f"remove it from columns")

    def modelled_columns(self, names: list[str]) -> list[str]:
        """Of these source columns, the ones a method models: not the label, the id column, a role or
        a derived column."""
        skip = {self.label, self.source.id_column, *self.columns}
        return [n for n in names if n not in skip]

    def role_columns(self, *roles: str) -> list[str]:
        """Columns with one of these roles (every role when none is given)."""
        return [n for n, c in self.columns.items() if c.role is not None and (not roles or c.role in roles)]

    def derived_columns(self) -> dict[str, str]:
        """{column: DuckDB expression} of the derived columns, in config order."""
        return {n: c.derived for n, c in self.columns.items() if c.derived is not None}

    # --- resolved views -------------------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        """Paths inside a config are relative to the parent of the config's folder."""
        return Path(self.config_path).resolve().parent.parent if self.config_path else Path.cwd()

    def resolve_path(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p

    def source_uri(self, ds: str) -> str:
        return expand_uri(self.source.uri, ds=ds)

    def publish_uri(self) -> str:
        return expand_uri(self.publish.uri, ds=None).rstrip("/")

    def asset_uri(self) -> str:
        """The Airflow Asset announcing new versions: the publish URI (`file://` for a folder)."""
        uri = self.publish_uri()
        return uri if "://" in uri else Path(uri).as_uri()

    def referenced_files(self) -> dict[str, Path]:
        """Files the config points at (suite, thesauri): part of the fingerprint."""
        files: dict[str, Path] = {}
        if self.quality.suite:
            files["quality.suite"] = self.resolve_path(self.quality.suite)
        for i, step in enumerate(self.augment):
            thesaurus = step.params.get("thesaurus")
            if isinstance(thesaurus, str):
                files[f"augment[{i}].params.thesaurus"] = self.resolve_path(thesaurus)
            # an op reading a folder of clips (audio background, impulse responses): every file in it
            ops = step.params.get("ops")
            for k, op in enumerate(ops if isinstance(ops, list) else []):
                folder = op.get("folder") if isinstance(op, dict) else None
                if isinstance(folder, str) and self.resolve_path(folder).is_dir():
                    root = self.resolve_path(folder)
                    for f in sorted(p for p in root.rglob("*") if p.is_file()):
                        files[f"augment[{i}].params.ops[{k}].folder/{f.relative_to(root).as_posix()}"] = f
        return files

    def sha256(self) -> str:
        """Digest of the validated config and the content of every file it references."""
        h = hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode())
        for key, path in sorted(self.referenced_files().items()):
            h.update(key.encode())
            h.update(path.read_bytes() if path.is_file() else b"<missing>")
        return h.hexdigest()


def store_root() -> str:
    """`AUGMENT_STORE`, or the embedded default: a local folder in the working directory."""
    from augment_jobs.store import is_file_uri, local_path_of

    root = os.environ.get("AUGMENT_STORE") or DEFAULT_STORE
    if is_file_uri(root):  # file:///data/lake is the folder /data/lake (MLflow's default lives beside it)
        root = local_path_of(root)
    if "://" not in root:
        root = str(Path(root).resolve())
    return root.rstrip("/")


def expand_uri(template: str, *, ds: str | None) -> str:
    """Fill `{store}` and `{ds}` in a URI template."""
    values = {"store": store_root(), "ds": ds if ds is not None else "{ds}"}
    try:
        uri = template.format(**values)
    except (KeyError, IndexError) as e:
        raise ConfigError(f"URI {template!r} uses unknown placeholder {e}; allowed: {{store}}, {{ds}}") from e
    if "://" not in uri:
        uri = str(Path(uri).resolve()) if not uri.endswith("/") else str(Path(uri).resolve()) + "/"
    return uri


def configs_dir() -> Path:
    """`AUGMENT_CONFIGS`, or the repository's `configs/`."""
    env = os.environ.get("AUGMENT_CONFIGS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "configs"


def config_files(folder: Path | None = None) -> list[Path]:
    """The dataset config files of a folder (default: `configs_dir()`), sorted."""
    folder = folder or configs_dir()
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []


def load_configs(folder: Path | None = None) -> tuple[list[tuple[Path, DatasetConfig]], dict[str, str]]:
    """Every config of the folder that validates, and {file: one-line error} for the others."""
    good: list[tuple[Path, DatasetConfig]] = []
    bad: dict[str, str] = {}
    for path in config_files(folder):
        try:
            good.append((path, load_config(path)))
        except ConfigError as e:
            bad[str(path)] = str(e)
    return good, bad


def _loc(err: dict[str, Any]) -> str:
    parts = [str(p) for p in err["loc"] if not str(p).startswith(("RangeConstraint", "InequalityConstraint", "FixedCombinations"))]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "(top level)"


def _format_validation(path: str, e: ValidationError) -> str:
    errors = e.errors()
    # Union members each report; keep the most specific one.
    err = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
    key = _loc(err)
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key {key!r}; remove it or check its spelling (see docs/config.md)"
    if err["type"] == "literal_error":
        return f"{path}: {key} = {err.get('input')!r} is not allowed; {err['msg'].replace('Input should be', 'use')}"
    if key == "(top level)":
        return f"{path}: {err['msg'].removeprefix('Value error, ')}"
    if err["type"] == "missing":
        return f"{path}: missing required key {key!r}"
    return f"{path}: {key}: {err['msg'].removeprefix('Value error, ')}"


def load_config(path: str | os.PathLike[str]) -> DatasetConfig:
    """Load and fully validate one dataset config; raise ConfigError naming the file and key."""
    path = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: config file not found") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        cfg = DatasetConfig(**raw, config_path=str(Path(path).resolve()))
    except ValidationError as e:
        raise ConfigError(_format_validation(path, e)) from None
    except TypeError as e:  # e.g. a non-string key
        raise ConfigError(f"{path}: {e}") from None
    validate_steps(cfg)
    return cfg


def validate_steps(cfg: DatasetConfig) -> None:
    """Check every step names a registered method of the config's modality with valid params."""
    from augment_jobs.registry import get_method

    where = cfg.config_path or "<config>"
    for i, step in enumerate(cfg.augment):
        spec = get_method(step.method, where=f"{where}: augment[{i}].method")
        if spec.modality != cfg.modality:
            raise ConfigError(
                f"{where}: augment[{i}].method {step.method!r} is a {spec.modality} method, "
                f"but the dataset is {cfg.modality}"
            )
        spec.parse_params(step.params, where=f"{where}: augment[{i}].params")
