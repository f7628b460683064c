"""How many new items per class: one vocabulary for every modality (docs/config.md, "Sampling").

Two ways to say it, the same in every method's params:

- `sampling_strategy`: imbalanced-learn's over-sampling semantics, computed by imbalanced-learn
  itself: a float (minority / majority after resampling, binary labels only), a {class: target
  count} mapping, or one of "auto", "minority", "not majority", "not minority", "all". Used by the
  SMOTE family and SDV synthesizers (rows) and by `eda` (texts).
- copies per item (`copies`, `copies_per_image`, `n_aug`): an int for every item, or
  `{per_class: {class: n}, default: 0}`. Used by image, text and time-series policies.

`spread` turns per-class targets into per-item copies, deterministically and independent of order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from augment_jobs.errors import InputError
from augment_jobs.registry import MethodParams

if TYPE_CHECKING:
    import numpy as np

StrategyName = Literal["auto", "minority", "not majority", "not minority", "all"]

#: imbalanced-learn's over-sampling `sampling_strategy`.
SamplingStrategy = (
    Annotated[float, Field(gt=0, le=1)] | dict[str | int, Annotated[int, Field(ge=0)]] | StrategyName
)


class PerClass(MethodParams):
    """Copies per item by class; classes not named get `default`."""

    per_class: dict[str | int, Annotated[int, Field(ge=0, le=1000)]]
    default: int = Field(0, ge=0, le=1000)


#: copies of every item, or per class
Copies = Annotated[int, Field(ge=0, le=1000)] | PerClass


def class_text(value: Any) -> str:
    """A class value as text for matching config keys to label values: `4`, `4.0` and `"4.0"` name
    the same class of a float label (YAML keys arrive as text or numbers; pydantic may turn 4.0 into 4)."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return str(int(number)) if number.is_integer() else value
    return str(value)


def copies_for(copies: Copies, label: Any) -> int:
    """Copies of one item of class `label`."""
    if isinstance(copies, int):
        return copies
    by_text = {class_text(k): v for k, v in copies.per_class.items()}
    return by_text.get(class_text(label), copies.default)


def class_targets(strategy: Any, y: Sequence[Any] | np.ndarray, *, method: str, label: str | None) -> dict[Any, int]:
    """{class value: new items to make} for `strategy` over labels `y`, by imbalanced-learn's own
    `check_sampling_strategy`; InputError naming the method, the label column and the class."""
    import numpy as np
    import pandas as pd
    from imblearn.utils import check_sampling_strategy

    if strategy is None:
        return {}
    y = np.asarray(y)
    classes = list(pd.unique(y))
    if isinstance(strategy, dict):
        # Config keys arrive as strings (YAML/JSON) or ints; match them to the label values by text.
        by_text = {class_text(c): c for c in classes}
        unknown = [k for k in strategy if class_text(k) not in by_text]
        if unknown:
            raise InputError(
                f"{method}: sampling_strategy names class {unknown[0]!r}, which column {label!r} does not have; "
                f"classes: {', '.join(sorted(by_text))}"
            )
        strategy = {by_text[class_text(k)]: int(v) for k, v in strategy.items()}
        counts = pd.Series(y).value_counts()
        for cls, target in strategy.items():
            if target < counts[cls]:
                raise InputError(
                    f"{method}: sampling_strategy target {target} for class {cls!r} is below its {counts[cls]} "
                    f"source rows; over-sampling cannot remove rows: raise the target or leave the class out"
                )
    if isinstance(strategy, float) and len(classes) != 2:
        raise InputError(
            f"{method}: a float sampling_strategy needs a binary label; column {label!r} has {len(classes)} classes: "
            "use a {class: target} mapping"
        )
    try:
        out = check_sampling_strategy(strategy, y, "over-sampling")
    except ValueError as e:
        msg = str(e).strip().splitlines()[0]
        raise InputError(f"{method}: sampling_strategy {strategy!r} does not fit column {label!r}: {msg}") from None
    return {k: int(v) for k, v in out.items() if int(v) > 0}


def spread(extra: dict[Any, int], labels: Sequence[Any], usable: Sequence[bool], keys: Sequence[Any],
           rank: Callable[[Any], int]) -> tuple[list[int], list[Any]]:
    """Per-item copies meeting per-class targets `extra`: each usable item of a class gets an equal
    share, the remainder goes to the items with the smallest `rank(key)` (random, order-independent).
    Returns (copies per item, classes that had a target but no usable item)."""
    out = [0] * len(labels)
    starved = []
    by_text = {class_text(k): v for k, v in extra.items()}
    members: dict[str, list[int]] = {}
    for i, (lab, ok) in enumerate(zip(labels, usable, strict=True)):
        if ok:
            members.setdefault(class_text(lab), []).append(i)
    for cls, need in by_text.items():
        rows = members.get(cls, [])
        if need <= 0:
            continue
        if not rows:
            starved.append(cls)
            continue
        base, rem = divmod(need, len(rows))
        for i in rows:
            out[i] = base
        for i in sorted(rows, key=lambda i: rank(keys[i]))[:rem]:
            out[i] += 1
    return out, starved
