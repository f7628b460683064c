"""`dp_synth` on the tabular engine: an (epsilon, delta)-differentially private synthesizer per
class (smartnoise-synth's MST or AIM on private-pgm; the accounting is the library's), through
`augment_jobs.privacy_dp` (docs/config.md, "Differential privacy").

Each class with new rows is fitted once, at snapshot, on its train rows, and its rows are drawn
there and staged: the fit's noise comes from fresh OS entropy by design (noise derived from the
public config seed could be subtracted), so the tasks read the staged rows instead of drawing
again, and the budget each fit spent is recorded for the gate (`limits.max_epsilon`). A rerun of
the same config and source fits anew: DP output is not byte-reproducible across runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from augment_jobs.privacy_dp import DpSynthParams
from augment_jobs.tabular.method import Drawn, TabularMethod, register_tabular

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from augment_jobs.tabular.plan import Step


@register_tabular
class DpSynth(TabularMethod):
    """Differentially private synthesis (MST / AIM): rows drawn from a noisy model of each class."""

    name = "dp_synth"
    params = DpSynthParams
    example: ClassVar[dict[str, Any]] = {"epsilon": 3.0, "bounds": {"limit_bal": [0, 1_000_000],
                                                                    "utilization": [0, 1], "late_payments": [0, 10]}}
    lineage = False
    skips_unlabelled = False
    reproducible = False
    #: rows drawn per class at fit, per target row: the spares replace rows breaking a constraint
    spare = 2

    def targets(self, step: Step) -> dict[Any, int]:
        from augment_jobs.privacy_dp import validate_against_limit
        from augment_jobs.tabular.methods.sdv import model_targets

        validate_against_limit(step.params, step.cfg.limits.max_epsilon, where=f"augment[{step.index}].params")
        return model_targets(step)

    def learning_rows(self, step: Step, targets: dict[Any, int]) -> dict[Any, np.ndarray | None]:
        return dict.fromkeys(targets)

    def fit(self, step: Step, learn: pa.Table, targets: dict[Any, int]) -> dict[Any, int]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import pyarrow as pa
        import pyarrow.compute as pc

        from augment_jobs.privacy_dp import fit_sample_dp, public_bounds

        params, ctx = step.params, step.ctx
        bounds = public_bounds(params, step.cfg.constraints)
        label_type = learn.schema.field(step.label).type
        # The fits run in a spawned process: JAX (under private-pgm) starts threads, after which a
        # fork of this process (a Celery worker's, a DataLoader's) is unsafe.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            for i, c in enumerate(step.classes):
                c["slot"] = i
                mine = pc.equal(learn.column(step.label), pa.scalar(c["value"]).cast(label_type))
                rows = learn.filter(mine).select(step.features).to_pandas()
                drawn, info = pool.submit(
                    fit_sample_dp, rows, self.spare * c["synthetic"] + 16, epsilon=params.epsilon, delta=params.delta,
                    bounds=bounds, seed=ctx.seed32("dp_synth", c["key"]), categories=params.categories,
                    mechanism=params.mechanism, bins=params.bins).result()
                ctx.record_dp(info, partition=c["key"])
                step.save_table(f"drawn-{i}.parquet", pa.Table.from_pandas(drawn, preserve_index=False))
                c["learn"] = len(rows)
        ctx.notes.append(f"dp_synth: ({params.epsilon:g}, {params.delta:g})-DP {params.mechanism} per class "
                         f"({len(step.classes)} classes on disjoint rows: epsilon {params.epsilon:g} in all)")
        return dict(targets)

    def drawer(self, step: Step) -> Any:
        return StagedDrawer(step)


class StagedDrawer:
    """The rows each class's DP fit drew at snapshot: row g of the class is drawn row g; a redraw
    takes seeded picks among the spare rows drawn after the class's target."""

    def __init__(self, step: Step) -> None:
        self.step = step
        self._rows: dict[int, pa.Table] = {}

    def draw(self, class_index: int, start: int, n: int, rng: np.random.Generator, seed: int,
             redraw: int = 0) -> Drawn:
        import numpy as np
        import pyarrow as pa

        c = self.step.classes[class_index]
        if c["slot"] not in self._rows:
            self._rows[c["slot"]] = self.step.open_table(f"drawn-{c['slot']}.parquet").read()
        table = self._rows[c["slot"]]
        if redraw:
            spares = np.arange(c["synthetic"], table.num_rows)
            take = pa.array(rng.choice(spares, size=n) if len(spares) else np.zeros(n, dtype=np.int64))
        else:
            take = pa.array(start + np.arange(n))
        cols = {name: table.column(name).take(take) for name in table.column_names}
        src = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))
        return Drawn(cols, src, pa.nulls(n, pa.string()))
