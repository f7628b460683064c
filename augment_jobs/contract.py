"""The published contract, typed: the manifest and the gate report (docs/manifest.md, docs/gate.md).

Training jobs depend on these files, so every writer builds them through these models and every
reader parses them through `Manifest.parse` / `GateReport.parse`:

- new files carry `schema_version` (`SCHEMA_VERSION`, 1 for this release);
- a file without `schema_version` was written before it existed and is read as version 1;
- a file with another major version is refused with one line naming the version;
- fields added by a later minor release are kept (`extra="allow"`), so an older reader still works.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from augment_jobs.errors import ContractError

SCHEMA_VERSION = 1


@dataclass
class CheckResult:
    """One gate check: a name, pass/fail, a one-line human detail and the observed value."""

    name: str
    passed: bool
    detail: str = ""
    observed: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __getitem__(self, key: str) -> Any:  # read like the JSON object it is published as
        return getattr(self, key)


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")

    @classmethod
    def parse(cls, raw: Any, *, where: str) -> Any:
        """Validate a JSON object read from `where`; ContractError with one line on any problem."""
        kind = cls.__name__
        if not isinstance(raw, dict):
            raise ContractError(f"{where}: not a {kind} (expected a JSON object, got {type(raw).__name__})")
        version = raw.get("schema_version", SCHEMA_VERSION)
        try:
            major = int(str(version).split(".")[0])
        except ValueError:
            major = -1
        if major != SCHEMA_VERSION:
            raise ContractError(
                f"{where}: {kind} schema_version {version!r} is not supported (this reader supports "
                f"{SCHEMA_VERSION}); upgrade augment-jobs to read it"
            )
        try:
            return cls.model_validate({**raw, "schema_version": SCHEMA_VERSION})
        except ValidationError as e:
            err = e.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            what = "is missing required field" if err["type"] == "missing" else "has an invalid field"
            raise ContractError(f"{where}: {kind} {what} {key!r} ({err['msg']}); the file is damaged or not a {kind}") from None

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to the store (field order as declared: the verdict first)."""
        return self.model_dump(mode="json")

    def to_dict(self) -> dict[str, Any]:
        """The manifest (or report) as plain JSON types, for `json.dumps` and notebooks."""
        return self.to_json()

    def to_bytes(self) -> bytes:
        """The file's bytes, in declared field order."""
        from augment_jobs.store import dumps

        return dumps(self.to_json(), sort_keys=False)

    # Training jobs written against the first release index the manifest like the JSON object it
    # is (`ds.manifest["files"][0]["sha256"]`); keep that working, read-only.
    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields or key in (self.model_extra or {}):
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in type(self).model_fields or key in (self.model_extra or {})

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


class SourceObject(_Model):
    uri: str
    etag: str | None = None
    size: int = 0


class FileEntry(_Model):
    """A published data file; `path` is relative to the version's folder."""

    path: str
    sha256: str
    bytes: int
    rows: int


class ClassCount(_Model):
    before: int = 0
    after: int = 0
    synthetic: int = 0


class StepRecord(_Model):
    method: str
    params: dict[str, Any] = Field(default_factory=dict)


class Rejected(_Model):
    key: str
    reason: str


class MlflowRef(_Model):
    tracking_uri: str | None = None
    experiment_id: str | None = None
    run_id: str | None = None


class GateSummary(_Model):
    """The gate as recorded in the manifest; the whole report is `report_uri`."""

    passed: bool
    summary: str = ""
    checks: list[CheckResult] = Field(default_factory=list)
    report_uri: str | None = None


class GateReport(_Model):
    """`versions/<v>/_gate_report.json` (or `quarantine/<v>/gate/report.json`): verdict first."""

    schema_version: int = SCHEMA_VERSION
    passed: bool
    summary: str
    failed_checks: list[str] = Field(default_factory=list)
    dataset: str
    version: str
    logical_date: str
    counts: dict[str, ClassCount] = Field(default_factory=dict)
    skipped: dict[str, int] = Field(default_factory=dict)
    #: SDMetrics quality of SDV methods' output: {score, worst_class, worst_columns, by_class}; {} if none
    quality: dict[str, Any] = Field(default_factory=dict)
    #: train-only vs train + synthetic on the holdout: {model, metric, baseline, augmented, uplift, ...}
    efficacy: dict[str, Any] = Field(default_factory=dict)
    #: distance to closest record: {exact_copies, close_share, close_threshold, baseline, index, ...};
    #: with a differentially private step also {epsilon, delta, dp}
    privacy: dict[str, Any] = Field(default_factory=dict)
    #: bias audit per group column: {column: {disparity_before, disparity_after, change, groups}}; {} if not asked
    fairness: dict[str, Any] = Field(default_factory=dict)
    #: approximate neighbours' recall@k: {recall (worst search), min_recall, searches}; {} when exact
    recall: dict[str, Any] = Field(default_factory=dict)
    checks: list[CheckResult] = Field(default_factory=list)

    @classmethod
    def build(cls, *, checks: list[CheckResult], summary: str, **fields: Any) -> GateReport:
        passed = all(c.passed for c in checks)
        failed = [c.name for c in checks if not c.passed]
        return cls(passed=passed, summary=summary, failed_checks=failed, checks=checks, **fields)


class Manifest(_Model):
    """`versions/<v>/_manifest.json`: written last, exclusively; the commit point of a version."""

    schema_version: int = SCHEMA_VERSION
    dataset: str
    version: str
    logical_date: str
    created_at: str
    modality: str
    format: str
    rows: int
    files: list[FileEntry]
    counts: dict[str, ClassCount] = Field(default_factory=dict)
    #: items published as real because a method could not use them, by reason ("<method>: <reason>")
    skipped: dict[str, int] = Field(default_factory=dict)
    #: SDMetrics quality of SDV methods' output (as in the gate report); {} when no SDV method ran
    quality: dict[str, Any] = Field(default_factory=dict)
    #: as in the gate report; {} when not measured
    efficacy: dict[str, Any] = Field(default_factory=dict)
    privacy: dict[str, Any] = Field(default_factory=dict)
    fairness: dict[str, Any] = Field(default_factory=dict)
    #: approximate neighbours' recall (as in the gate report); {} when every search was exact
    recall: dict[str, Any] = Field(default_factory=dict)
    #: governance (docs/governance.md): the policy fingerprint (config_sha256), its newest approval
    #: {policy, by, note, at, entry, hash} or None, and the config's limitations
    policy: str = ""
    approval: dict[str, Any] | None = None
    limitations: list[str] = Field(default_factory=list)
    report_uri: str | None = None  # versions/<version>/_report.html
    gate: GateSummary
    mlflow: MlflowRef = Field(default_factory=MlflowRef)
    fingerprint: str = ""
    config_sha256: str = ""
    config_path: str | None = None
    seed: int = 0
    platform_version: str = ""
    source_uri: str | None = None
    source: list[SourceObject] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    rejected: list[Rejected] = Field(default_factory=list)
    manifest_uri: str | None = None

    @property
    def synthetic_rows(self) -> int:
        return sum(c.synthetic for c in self.counts.values())

    def step_params(self, method: str) -> dict[str, Any] | None:
        """The configured params of the first step running `method` (None if no step does)."""
        return next((s.params for s in self.steps if s.method == method), None)
