"""Time-series modality: the `ts_policy` method and the time-series frame hooks (registered on import)."""

from augment_jobs.frames import FrameHooks, register_frame_hooks
from augment_jobs.timeseries import policy as _policy  # noqa: F401  (registers the method)
from augment_jobs.timeseries.hooks import checks, compare_columns, prepare

register_frame_hooks("timeseries", FrameHooks(prepare=prepare, checks=checks, compare_columns=compare_columns))
