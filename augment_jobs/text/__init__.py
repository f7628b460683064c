"""Text modality: the `eda` method and the text frame hooks (registered on import)."""

from augment_jobs.frames import FrameHooks, register_frame_hooks
from augment_jobs.text import eda as _eda  # noqa: F401  (registers the method)
from augment_jobs.text.hooks import checks, compare_columns, prepare

register_frame_hooks("text", FrameHooks(prepare=prepare, checks=checks, compare_columns=compare_columns))
