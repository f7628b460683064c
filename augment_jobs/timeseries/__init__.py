"""Time-series modality: the `ts_policy` method and the time-series frame hooks (registered on import)."""

from augment_jobs.frames import frame_modality
from augment_jobs.modality import FrameHooks
from augment_jobs.registry import register_modality
from augment_jobs.timeseries import policy as _policy  # noqa: F401  (registers the method)
from augment_jobs.timeseries.checks import timeseries_checks
from augment_jobs.timeseries.hooks import compare_columns, prepare, unit_column

register_modality(frame_modality(
    "timeseries",
    requires=("series", "timeseries configs need series: {id_column, time_column, value_columns}"),
    checks=(timeseries_checks,),
    hooks=FrameHooks(prepare=prepare, compare_columns=compare_columns, unit_column=unit_column),
    demo_writers={"sensors": "augment_jobs.timeseries.demo:write_raw"},
    example="augment_jobs.timeseries.demo:example",
    report_parts="augment_jobs.timeseries.hooks:report_parts",
))
