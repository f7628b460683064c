"""Text modality: the `eda` method and the text frame hooks (registered on import)."""

from augment_jobs.frames import frame_modality
from augment_jobs.modality import FrameHooks
from augment_jobs.registry import register_modality
from augment_jobs.text import eda as _eda  # noqa: F401  (registers the method)
from augment_jobs.text.checks import text_checks
from augment_jobs.text.hooks import compare_columns, prepare

register_modality(frame_modality(
    "text",
    requires=("text_column", "text configs need text_column (the column holding the texts)"),
    checks=(text_checks,),
    hooks=FrameHooks(prepare=prepare, compare_columns=compare_columns),
    demo_writers={"support_tickets": "augment_jobs.text.demo:write_raw"},
    example="augment_jobs.text.demo:example",
    report_parts="augment_jobs.text.hooks:report_parts",
))
