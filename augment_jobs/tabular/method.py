"""The tabular method contract: what a method implements so that the one engine runs it at any size.

The engine (`augment_jobs.tabular.engine`) owns sources, counts, the split, ids, constraints,
output order, files and the gate's sample; it never names a method. A method is one class with
four hooks, registered with `register_tabular`:

- `targets(step)`: new rows per class, from the real class counts (`step.counts`);
- `learning_rows(step, targets)`: per class, the rows it learns from (all of them, or ranks);
- `fit(step, learn, targets)`: learn from those rows (an Arrow table of the features, the label
  and `_id`), stage what drawing needs through `step.save_*`; returns the final targets (a method
  may make fewer rows than asked, and says why in `step.ctx.notes`);
- `drawer(step)`: an object whose `draw(class_index, start, n, rng, seed, redraw)` returns n
  `Drawn` rows, the first at position `start` among the class's synthetic rows (`rng` and `seed` are
  private to the block and `redraw` round being drawn: round r > 0 replaces rows that broke a
  constraint).

Draws are keyed by (seed, date, step, method, class, block) only, so the bytes never depend on
the table's size, the task count or the file size. A new method is one file plus its test.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from augment_jobs.registry import MethodParams, register

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from augment_jobs.tabular.plan import Step

#: the hooks every tabular method implements (checked at registration)
HOOKS = ("targets", "learning_rows", "fit", "drawer")


@dataclass
class Drawn:
    """Synthetic rows of one class from `Drawer.draw`: feature columns (a method may leave some out:
    they are written null), each row's parents (`_source_ids`, list<string>: empty for rows drawn
    from a fitted model) and its drawn params (`_params`, JSON text or null)."""

    columns: dict[str, pa.Array]
    source_ids: pa.Array
    params: pa.Array


class Drawer(Protocol):
    def draw(self, class_index: int, start: int, n: int, rng: np.random.Generator, seed: int,
             redraw: int = 0) -> Drawn: ...


class TabularMethod(ABC):
    """Base of tabular methods: set `name`, `params` (a `MethodParams` model) and implement the hooks."""

    name: ClassVar[str]
    params: ClassVar[type[MethodParams]]
    #: small, fast params for the contract suite (defaults when empty)
    example: ClassVar[dict[str, Any]] = {}
    #: whether synthetic rows name the rows they were made from (False: drawn from a fitted model)
    lineage: ClassVar[bool] = True
    #: rows with a missing label: skipped and counted (True), or the run is refused (a model per class)
    skips_unlabelled: ClassVar[bool] = True
    #: whether the same config, date and source give the same rows (False: a differentially private
    #: fit, whose noise must not follow a public seed)
    reproducible: ClassVar[bool] = True
    #: whether `fit` runs neighbour searches (`neighbours.same_class`, `all_class_rows`), which the
    #: fit stage maps over query blocks (`augment_jobs.tabular.fit`)
    searches: ClassVar[bool] = False

    @abstractmethod
    def targets(self, step: Step) -> dict[Any, int]:
        """New rows per class, from the real class counts (`step.counts`)."""

    @abstractmethod
    def learning_rows(self, step: Step, targets: dict[Any, int]) -> dict[Any, np.ndarray | None]:
        """Per class, the rows learned from: None for all of them, or their ranks within the class."""

    @abstractmethod
    def fit(self, step: Step, learn: pa.Table, targets: dict[Any, int]) -> dict[Any, int]:
        """Learn from `learn` (features, label, `_id`); stage what drawing needs; return the final targets."""

    @abstractmethod
    def drawer(self, step: Step) -> Drawer:
        """The object drawing this step's rows in the augment tasks."""


_METHODS: dict[str, TabularMethod] = {}


def register_tabular(cls: type[TabularMethod]) -> type[TabularMethod]:
    """Class decorator: register a tabular method. A class missing a hook fails here, naming it."""
    for hook in HOOKS:
        impl = getattr(cls, hook, None)
        if impl is None or impl is getattr(TabularMethod, hook) or not callable(impl):
            raise TypeError(f"tabular method {getattr(cls, 'name', cls.__name__)!r} ({cls.__module__}.{cls.__name__}) "
                            f"does not implement the hook {hook!r}; every tabular method implements {', '.join(HOOKS)}")
    for attr in ("name", "params"):
        if not hasattr(cls, attr):
            raise TypeError(f"tabular method {cls.__module__}.{cls.__name__} does not set {attr!r}")
    method = cls()
    _METHODS[cls.name] = method

    def run(batch: Any, params: Any, ctx: Any) -> Any:
        """A frame through the one engine, this method its one step (method-contract tests); see
        `engine.run_frame`."""
        from augment_jobs.tabular.engine import run_frame

        step = {"method": cls.name, "params": params.model_dump(mode="json", exclude_unset=True)}
        cfg = ctx.cfg.model_copy(update={"augment": [type(ctx.cfg.augment[0])(**step)]})
        return run_frame(batch, cfg, ctx.ds, ctx=ctx)

    run.__doc__ = (inspect.getdoc(cls) or "").split("\n")[0]
    register(cls.name, modality="tabular", params=cls.params, example=cls.example, reproducible=cls.reproducible)(run)
    return cls


def tabular_method(name: str) -> TabularMethod:
    """The registered tabular method `name` (the registry validated the name already)."""
    from augment_jobs.registry import get_method

    get_method(name)  # loads the modality packages; ConfigError for an unknown name
    return _METHODS[name]
