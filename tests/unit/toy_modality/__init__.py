"""A fifth modality, in one package: `toy` rows from CSV, each copied once by the `duplicate` method.

It proves that adding a modality touches only its own package: it registers one `ModalitySpec`
and one method, and the shared stages, gate, CLI and contract tests pick it up.
"""

from __future__ import annotations

from typing import Any

from augment_jobs.checks import FRAME
from augment_jobs.modality import ModalitySpec
from augment_jobs.registry import AugmentContext, MethodParams, register, register_modality


class DuplicateParams(MethodParams):
    copies: int = 1


@register("duplicate", modality="toy", params=DuplicateParams)
def duplicate(df: Any, params: DuplicateParams, ctx: AugmentContext) -> Any:
    """Append `copies` exact copies of every real row."""
    import pandas as pd

    from augment_jobs.frames import synthetic_rows

    real = df[~df["_synthetic"]]
    values = pd.concat([real] * params.copies, ignore_index=True)
    ids = [f"{i}~dup{n}" for n in range(params.copies) for i in real["_id"]]
    parents = [[i] for _ in range(params.copies) for i in real["_id"]]
    return pd.concat([df, synthetic_rows(df, values, method="duplicate", ids=ids, source_ids=parents)], ignore_index=True)


def example(method: Any) -> tuple[Any, Any]:
    import pandas as pd

    from augment_jobs.config import DatasetConfig
    from augment_jobs.frames import example_frame

    cfg = DatasetConfig(dataset="example", modality="toy", source={"uri": "example/", "format": "csv"}, label="kind",
                        augment=[{"method": method.name}], publish={"uri": "example-out"})
    return cfg, example_frame(pd.DataFrame({"x": [1.0, 2.0, 3.0], "kind": ["a", "b", "a"]}))


def write_raw(source_uri: str, ds: str) -> None:
    from augment_jobs.store import join, store_for

    store_for(source_uri).write_bytes(join(source_uri, "toys.csv"), b"x,kind\n1.5,a\n2.5,b\n3.5,a\n")


register_modality(ModalitySpec(
    name="toy", handler="augment_jobs.frames:FrameHandler", source_formats=("csv",), publish_format="parquet",
    checks=FRAME, demo_writers={"toys": "toy_modality:write_raw"},
    example="toy_modality:example", probe="augment_jobs.frames:probe",
))
