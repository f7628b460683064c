"""OpenLineage events for data platforms (docs/lineage.md): what a run read, what it published, and
how the gate judged it, in the form Marquez, DataHub and Airflow's own OpenLineage provider collect.

- From the CLI (`augment run`), `RunEmitter` sends START, then COMPLETE or FAIL, through the
  `openlineage-python` client. From Airflow, the OpenLineage provider sends its own task and DAG run
  events; the DAG only hands it the datasets below (`annotate_task`), so both paths describe a run
  with the same datasets and facets.
- The transport is configured the standard way: `OPENLINEAGE_URL` (with `OPENLINEAGE_ENDPOINT`,
  `OPENLINEAGE_API_KEY`), or an `openlineage.yml` (`OPENLINEAGE_CONFIG`, else `./openlineage.yml`,
  else `~/.openlineage/openlineage.yml`), or `OPENLINEAGE__TRANSPORT__*` variables.
  Nothing is emitted when none is set, or when `OPENLINEAGE_DISABLED=true`.
- A malformed `openlineage.yml` is a `ConfigError` naming the file (the snapshot stage checks it, so
  the CLI and the DAG refuse it alike). A lineage backend that cannot be reached never fails a run:
  the first failed send logs one warning line and the run's later events are dropped, so the run
  waits at most one HTTP timeout for lineage (retries are off unless `openlineage.yml` sets them).

Datasets (OpenLineage naming: a local path is namespace `file`, name the absolute path; `s3://b/k`
is namespace `s3://b`, name `k`):

- input: the source partition (`source.uri` for the logical date), with the real rows read
  (`dataQualityMetrics.rowCount`) once known;
- output: the publish URI, with the published version (`version`), its `schema`, row count, bytes
  and files (`outputStatistics`), the gate's results (`dataQualityAssertions`, one assertion per
  check) and an `augment` facet: version, fingerprint, logical date, manifest URI, synthetic rows.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from augment_jobs import __version__
from augment_jobs.errors import ConfigError

log = logging.getLogger("augment.openlineage")

#: `producer` / `_producer` of everything emitted here (a URI, as the spec asks)
PRODUCER = f"urn:augment-jobs:{__version__}"
#: the `_schemaURL` of the `augment` facets (described in docs/lineage.md)
AUGMENT_FACET_SCHEMA = "urn:augment-jobs:openlineage:AugmentFacet:1"
INTEGRATION = "AUGMENT_JOBS"
DAG_PREFIX = "augment__"  # the job name is the DAG id, so CLI runs and DAG runs are one job
DEFAULT_ENDPOINT = "api/v1/lineage"
#: sends are attempted once: a lineage backend that is down must not hold a data run
NO_RETRY = {"total": 0}


# --- configuration -------------------------------------------------------------------------------
def config_file() -> Path | None:
    """The `openlineage.yml` the client would read, in its order of lookup (None when there is none)."""
    env = os.environ.get("OPENLINEAGE_CONFIG")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd() / "openlineage.yml", Path.home() / ".openlineage" / "openlineage.yml"]
    return next((p for p in candidates if p.is_file()), None)


def _read_config_file(path: Path) -> dict[str, Any]:
    """The parsed file, checked as the client will use it; `ConfigError` naming the file otherwise."""
    import yaml
    from openlineage.client.client import OpenLineageConfig
    from openlineage.client.transport import get_default_factory

    where = f"{path} (OpenLineage config"
    where += ", from OPENLINEAGE_CONFIG)" if os.environ.get("OPENLINEAGE_CONFIG") else ")"
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        reason = str(e).strip().splitlines()[0]
        raise ConfigError(f"{where}: not readable YAML ({reason}); fix the file or remove it") from None
    if not isinstance(data, dict) or not isinstance(data.get("transport"), dict):
        raise ConfigError(
            f"{where}: expected a mapping with a `transport:` mapping (e.g. transport: {{type: http, "
            "url: http://host:5000}}); fix the file or remove it"
        )
    transport = data["transport"]
    if not transport.get("type"):
        raise ConfigError(f"{where}: transport.type is missing (http, console, file, kafka, ...); fix the file")
    try:
        OpenLineageConfig.from_dict(data)
        get_default_factory().create(transport)
    except Exception as e:  # noqa: BLE001 - the client's own checks raise many types; all mean "bad file"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{where}: transport {transport.get('type')!r} is not usable: {reason}; fix the file") from None
    return data


def client_config() -> dict[str, Any] | None:
    """The client config when OpenLineage is configured, else None (emit nothing).

    Raises `ConfigError` naming the file when an `openlineage.yml` is malformed.
    """
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return None
    path = config_file()
    if path is not None:
        data = _read_config_file(path)
        if data["transport"].get("type") == "http":
            data["transport"].setdefault("retry", NO_RETRY)
        return data
    if url := os.environ.get("OPENLINEAGE_URL"):
        transport: dict[str, Any] = {
            "type": "http", "url": url, "endpoint": os.environ.get("OPENLINEAGE_ENDPOINT", DEFAULT_ENDPOINT),
            "retry": NO_RETRY,
        }
        if key := os.environ.get("OPENLINEAGE_API_KEY"):
            transport["auth"] = {"type": "api_key", "apiKey": key}
        return {"transport": transport}
    if any(k.startswith("OPENLINEAGE__TRANSPORT") and v for k, v in os.environ.items()):
        return {}  # the client reads these variables itself
    return None


def check_config() -> None:
    """Refuse a malformed `openlineage.yml` (called by the snapshot stage, for the CLI and the DAG)."""
    client_config()


def namespace() -> str:
    """The job namespace: `OPENLINEAGE_NAMESPACE`, as Airflow's provider reads it (default `default`)."""
    return os.environ.get("OPENLINEAGE_NAMESPACE") or "default"


# --- datasets and facets -------------------------------------------------------------------------
def dataset_id(uri: str) -> tuple[str, str]:
    """(namespace, name) of a store URI by OpenLineage's naming: `file` + absolute path, or the bucket."""
    uri = uri.rstrip("/")
    if uri.startswith("file://"):
        uri = urllib.parse.urlsplit(uri).path
    if "://" not in uri:
        return "file", str(Path(uri).resolve())
    parts = urllib.parse.urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def _augment_facet(base: type, **fields: Any) -> Any:
    """Our `augment` facet (version, fingerprint, ...), on the facet base class that fits where it goes."""
    facet = base(producer=PRODUCER).with_additional_properties(**{k: v for k, v in fields.items() if v is not None})
    facet._schemaURL = AUGMENT_FACET_SCHEMA
    return facet


def source_dataset(source_uri: str, *, real_rows: int | None = None) -> Any:
    """The input: the source partition of the run's logical date."""
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.generated.data_quality_metrics_input_dataset import (
        DataQualityMetricsInputDatasetFacet,
    )

    ns, name = dataset_id(source_uri)
    input_facets = {}
    if real_rows is not None:
        input_facets["dataQualityMetrics"] = DataQualityMetricsInputDatasetFacet(
            rowCount=real_rows, columnMetrics={}, producer=PRODUCER
        )
    return InputDataset(namespace=ns, name=name, facets={}, inputFacets=input_facets)


def gate_assertions(report: Any) -> Any:
    """The gate's checks as a `dataQualityAssertions` facet (one assertion per check, in report order)."""
    from openlineage.client.generated.data_quality_assertions_dataset import (
        Assertion,
        DataQualityAssertionsDatasetFacet,
    )

    assertions = [
        Assertion(assertion=c.name, success=bool(c.passed), description=c.detail or None,
                  actual=None if c.observed is None else json.dumps(c.observed, sort_keys=True, default=str),
                  severity="error")
        for c in report.checks
    ]
    return DataQualityAssertionsDatasetFacet(assertions=assertions, producer=PRODUCER)


def _schema_facet(publish_uri: str, manifest: Any) -> Any | None:
    """Column names and Arrow types of the published Parquet files (None for WebDataset shards)."""
    if manifest.format != "parquet" or not manifest.files:
        return None
    import pyarrow.parquet as pq
    from openlineage.client.generated.schema_dataset import SchemaDatasetFacet, SchemaDatasetFacetFields

    from augment_jobs.publish import version_uri
    from augment_jobs.store import join, store_for

    # every file of a version has the same schema (docs/manifest.md): the first one's footer is enough
    uri = join(version_uri(publish_uri, manifest.version), manifest.files[0].path)
    store = store_for(uri)
    fs, _ = store.arrow_fs()
    with fs.open_input_file(store.arrow_path(uri)) as f:
        schema = pq.read_schema(f)
    return SchemaDatasetFacet(
        fields=[SchemaDatasetFacetFields(name=field.name, type=str(field.type)) for field in schema],
        producer=PRODUCER,
    )


def published_dataset(publish_uri: str, *, manifest: Any = None, report: Any = None, version: str | None = None,
                      ds: str | None = None, quarantine_uri: str | None = None) -> Any:
    """The output: the dataset at `publish.uri`; with a manifest, the version it published, its
    schema, row counts and the gate's results; with only a (failed) gate report, those results."""
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.generated.base import DatasetFacet
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
    from openlineage.client.generated.output_statistics_output_dataset import (
        OutputStatisticsOutputDatasetFacet,
    )

    ns, name = dataset_id(publish_uri)
    facets: dict[str, Any] = {}
    output_facets: dict[str, Any] = {}
    fingerprint = None
    if manifest is not None:
        version, fingerprint, ds = manifest.version, manifest.fingerprint, manifest.logical_date
        if (schema := _schema_facet(publish_uri, manifest)) is not None:
            facets["schema"] = schema
        output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
            rowCount=manifest.rows, size=sum(f.bytes for f in manifest.files), fileCount=len(manifest.files),
            producer=PRODUCER,
        )
    if version:
        facets["version"] = DatasetVersionDatasetFacet(datasetVersion=version, producer=PRODUCER)
    if report is not None:
        facets["dataQualityAssertions"] = gate_assertions(report)
    if version or fingerprint:
        facets["augment"] = _augment_facet(
            DatasetFacet, version=version, fingerprint=fingerprint, logical_date=ds,
            manifest_uri=getattr(manifest, "manifest_uri", None),
            rows=getattr(manifest, "rows", None),
            synthetic_rows=manifest.synthetic_rows if manifest is not None else None,
            gate="passed" if report is not None and report.passed else ("failed" if report is not None else None),
            quarantine_uri=quarantine_uri,
        )
    return OutputDataset(namespace=ns, name=name, facets=facets, outputFacets=output_facets)


Datasets = tuple[list[Any], list[Any]]  # (inputs, outputs) of an event


def published_datasets(publish_uri: str, version: str) -> Datasets:
    """The datasets of a committed version, from its manifest and gate report."""
    from augment_jobs.publish import read_gate_report, read_manifest, version_uri
    from augment_jobs.store import join

    manifest = read_manifest(publish_uri, version)
    report = read_gate_report(join(version_uri(publish_uri, version), "_gate_report.json"))
    real = sum(c.before for c in manifest.counts.values()) if manifest.counts else None
    return ([source_dataset(manifest.source_uri or "", real_rows=real)],
            [published_dataset(publish_uri, manifest=manifest, report=report)])


def quarantined_datasets(source_uri: str, publish_uri: str, version: str) -> Datasets:
    """The datasets of a version that failed the gate: the output carries the gate's results."""
    from augment_jobs.publish import quarantine_uri, read_gate_report
    from augment_jobs.store import join

    where = quarantine_uri(publish_uri, version)
    report = read_gate_report(join(where, "gate", "report.json"))
    return [source_dataset(source_uri)], [
        published_dataset(publish_uri, report=report, version=version, ds=report.logical_date, quarantine_uri=where)
    ]


# --- Airflow: hand the datasets to the OpenLineage provider -------------------------------------
def annotate_task(task: Any, datasets: Callable[[], Datasets]) -> None:
    """Add the OpenLineage datasets `datasets()` returns (inputs, outputs) to a running task's inlets /
    outlets, where Airflow's OpenLineage provider reads them for the task's COMPLETE event (it passes
    OpenLineage datasets through with their facets; Airflow itself acts only on the Assets among
    them). A no-op when OpenLineage is not configured; a failure here only logs a warning."""
    try:
        if client_config() is None:
            return
        inputs, outputs = datasets()
    except Exception as e:  # noqa: BLE001 - lineage never fails a task, nor hides why it failed
        log.warning("OpenLineage: no datasets for task %s (%s)", getattr(task, "task_id", task), e)
        return
    task.inlets = [*task.inlets, *inputs]
    task.outlets = [*task.outlets, *outputs]


# --- CLI: one OpenLineage run per `augment run` -------------------------------------------------
class RunEmitter:
    """START, then COMPLETE or FAIL, for one run of one dataset and logical date (CLI path).

    Every send is best-effort: the first failure logs one warning line and turns the emitter off.
    """

    def __init__(self, dataset: str, ds: str, source_uri: str, publish_uri: str) -> None:
        self.dataset, self.ds, self.source_uri, self.publish_uri = dataset, ds, source_uri, publish_uri
        config = client_config()
        self.client: Any = None
        if config is not None:
            from openlineage.client import OpenLineageClient
            from openlineage.client.uuid import generate_new_uuid

            self.client = OpenLineageClient(config=config or None)
            self.run_id = str(generate_new_uuid())
            self.where = (config.get("transport") or {}).get("url") or (config.get("transport") or {}).get("type", "")

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def _planned(self) -> Datasets:
        """What the run reads and writes, before anything is known of the version."""
        return [source_dataset(self.source_uri)], [published_dataset(self.publish_uri)]

    def start(self) -> None:
        self._emit("START", self._planned)

    def complete(self, version: str) -> None:
        """COMPLETE with the published version's datasets and facets."""
        self._emit("COMPLETE", lambda: published_datasets(self.publish_uri, version), version=version)

    def fail(self, error: BaseException) -> None:
        """FAIL with the error; for a failed gate, with the gate's results on the output."""
        from augment_jobs.errors import GateFailed

        if isinstance(error, GateFailed) and error.report_uri:
            # the report is at quarantine/<version>/gate/report.json
            version = error.report_uri.rsplit("/gate/", 1)[0].rsplit("/", 1)[-1]
            self._emit("FAIL", lambda: quarantined_datasets(self.source_uri, self.publish_uri, version),
                       version=version, error=error)
        else:
            self._emit("FAIL", self._planned, error=error)

    def _emit(self, state: str, datasets: Callable[[], Datasets], *, version: str | None = None,
              error: BaseException | None = None) -> None:
        if not self.enabled:
            return
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import error_message_run, job_type_job, nominal_time_run
        from openlineage.client.generated.base import RunFacet

        start = datetime.fromisoformat(self.ds).replace(tzinfo=UTC)
        run_facets: dict[str, Any] = {
            "nominalTime": nominal_time_run.NominalTimeRunFacet(
                nominalStartTime=start.isoformat().replace("+00:00", "Z"), producer=PRODUCER
            ),
            "augment": _augment_facet(RunFacet, dataset=self.dataset, logical_date=self.ds, version=version,
                                      platform_version=__version__),
        }
        if error is not None:
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
                programmingLanguage="python", producer=PRODUCER,
            )
        try:
            inputs, outputs = datasets()
        except Exception as e:  # noqa: BLE001 - lineage must not hide the run's own outcome
            log.warning("OpenLineage: the %s event of %s %s lacks its datasets (%s)", state, self.dataset, self.ds, e)
            inputs, outputs = [], []
        event = RunEvent(
            eventType=getattr(RunState, state),
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=self.run_id, facets=run_facets),
            job=Job(namespace=namespace(), name=f"{DAG_PREFIX}{self.dataset}", facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration=INTEGRATION, jobType="JOB", producer=PRODUCER
                ),
            }),
            inputs=inputs, outputs=outputs, producer=PRODUCER,
        )
        try:
            self.client.emit(event)
        except Exception as e:  # noqa: BLE001 - any transport failure: lineage never fails the run
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            log.warning(
                "OpenLineage: the %s event of %s %s was not delivered to %s (%s); the run goes on and sends "
                "no more lineage events (check OPENLINEAGE_URL / openlineage.yml)",
                state, self.dataset, self.ds, self.where, reason[:200],
            )
            self.client = None
