"""The fit stage of the tabular engine, mapped over query blocks (docs/config.md, "The fit, mapped").

The neighbour searches of the SMOTE family are the heavy part of a fit, and each query row's
answer depends on that row alone (`neighbours.Search`). So the fit runs in three parts:

- `plan_fits` (snapshot, after pass 1): the steps run in planning mode, up to the first step that
  searches. A search is staged as a request (its inputs, under `tabular/fit/`; an approximate
  same-class search also its HNSW graph, built once) and answered with a placeholder; what the
  steps make of placeholders is thrown away.
- `fit_block(b)` (one mapped task each): the answer for query block b of every request.
- `finish` (one task): the steps run for real. A search that was requested is answered by its
  blocks, concatenated in order (the same arrays as one process computes); any other search (one
  whose queries depend on another's answer, as Borderline-SMOTE's danger rows, or a later step's)
  runs in process. Then the state the augment tasks read is staged.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from augment_jobs.config import DatasetConfig
    from augment_jobs.modality import RunPlan
    from augment_jobs.tabular.engine import State
    from augment_jobs.tabular.neighbours import Search
    from augment_jobs.tabular.plan import Step

#: query blocks start at multiples of this many rows (round blocks; any alignment gives the same
#: neighbours: each query row's answer depends on that row alone)
BLOCK_ALIGN = 256
REQUESTS = "fit/requests.json"


class Searcher:
    """Answers a step's searches: with placeholders while planning (recording requests), from the
    fit blocks for requested searches when serving, in process otherwise."""

    def __init__(self, plan: RunPlan, *, planning: bool = False, requests: dict[str, Any] | None = None) -> None:
        self.plan, self.planning = plan, planning
        self.requests: dict[str, Any] = requests or {}

    def answer(self, step: Step, search: Search) -> dict[str, np.ndarray]:
        import numpy as np

        key = search.key(step)
        if self.planning:
            self.requests[key] = {"step": step.index, "kind": search.kind, "queries": len(search.queries)}
            if search.kind == "same-class" and step.params.neighbours == "approximate":
                from augment_jobs.tabular.neighbours import hnsw_graph

                search.index = hnsw_graph(step, search.X)  # built once here, not once per block
            _save(self.plan, f"fit/{key}-search.npz", _search_arrays(search))
            nq, n = len(search.queries), search.n
            if search.kind == "same-class":  # placeholder: no neighbour search, so nothing depends on it
                return {"nns": np.zeros((nq, n), dtype=np.int64)}
            none = np.full((nq, n), -1, dtype=np.int64)  # placeholder: no neighbour of any class
            return {"pos": none, "tag": none.copy(), "seen": np.array([step.n_real])}
        if key not in self.requests:
            return search.answer(step)
        blocks = [self._block(key, b) for b in range(self.requests[key]["blocks"])]
        out = {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0] if name != "seen"}
        if "seen" in blocks[0]:  # rows searched: every block with queries streams the whole table
            out["seen"] = max((b["seen"] for b in blocks), key=lambda s: int(s[0]))
        return out


    def _block(self, key: str, block: int) -> dict[str, np.ndarray]:
        from augment_jobs.errors import AugmentError

        try:
            return _load(self.plan, f"fit/{key}-block-{block:05d}.npz")
        except FileNotFoundError:
            raise AugmentError(f"{self.plan.staging_uri}: fit block {block} has not run; run the fit stage for it "
                               "before fit_merge") from None


def block_range(rows: int, blocks: int, block: int) -> tuple[int, int]:
    """Query rows [lo, hi) of block `block` of `blocks` (aligned to `BLOCK_ALIGN`; late blocks may be empty)."""
    size = max(1, math.ceil(rows / blocks / BLOCK_ALIGN)) * BLOCK_ALIGN
    lo = min(rows, block * size)
    return lo, min(rows, lo + size)


def plan_fits(cfg: DatasetConfig, plan: RunPlan, state: State) -> None:
    """Stage the requests of the steps up to the first that searches (on a copy of the state:
    nothing planned here reaches the augment tasks)."""
    from augment_jobs.errors import AugmentError
    from augment_jobs.tabular.method import tabular_method
    from augment_jobs.tabular.plan import run_steps

    searcher = Searcher(plan, planning=True)

    def until_searched(index: int) -> bool:  # stop before a step that cannot search, or after one that did
        return bool(searcher.requests) or not tabular_method(cfg.augment[index].method).searches

    try:
        run_steps(cfg, plan, copy.deepcopy(state), searcher, stop=until_searched)
    except AugmentError:
        if not searcher.requests:
            raise  # a real problem of the data or config: say so at snapshot
        # else: a placeholder's consequence; `finish` runs the steps for real
    requests = {k: {**r, "blocks": state.fit_blocks} for k, r in searcher.requests.items()}
    _store(plan).write_json(_uri(plan, REQUESTS), requests)


def fit_block(cfg: DatasetConfig, plan: RunPlan, state: State, block: int) -> None:
    """Answer query block `block` of every requested search; stage each under `tabular/fit/`."""
    from augment_jobs.tabular.neighbours import Search

    for key, req in _store(plan).read_json(_uri(plan, REQUESTS)).items():
        arrays = _load(plan, f"fit/{key}-search.npz")
        search = Search(req["kind"], str(arrays["cls"]), int(arrays["n"]), arrays["queries"],
                        X=arrays.get("X"), numeric=[str(c) for c in arrays["numeric"]], index=arrays.get("index"))
        step = _step(cfg, plan, state, req["step"])
        lo, hi = block_range(len(search.queries), req["blocks"], block)
        _save(plan, f"fit/{key}-block-{block:05d}.npz", search.answer(step, lo, hi))


def finish(cfg: DatasetConfig, plan: RunPlan, state: State) -> State:
    """Run every step for real, requested searches answered by their blocks; returns the state."""
    from augment_jobs.tabular.plan import run_steps

    requests = _store(plan).read_json(_uri(plan, REQUESTS))
    run_steps(cfg, plan, state, Searcher(plan, requests=requests))
    return state


def _step(cfg: DatasetConfig, plan: RunPlan, state: State, index: int) -> Step:
    """Step `index` as far as a search needs it (params, the run's facts; no fit)."""
    from augment_jobs.registry import AugmentContext, get_method
    from augment_jobs.tabular.engine import decode_schema
    from augment_jobs.tabular.plan import Step

    conf = cfg.augment[index]
    params = get_method(conf.method).parse_params(conf.params)
    ctx = AugmentContext(cfg=cfg, ds=plan.ds, step=index)
    return Step(cfg, plan, index, conf.method, params, ctx, state, decode_schema(state.source_schema), {})


def _search_arrays(search: Search) -> dict[str, np.ndarray]:
    import numpy as np

    out = {"queries": search.queries, "n": np.array(search.n), "cls": np.array(search.cls),
           "numeric": np.array(search.numeric, dtype=str)}
    for name in ("X", "index"):
        if getattr(search, name) is not None:
            out[name] = getattr(search, name)
    return out


def _store(plan: RunPlan) -> Any:
    from augment_jobs.store import store_for

    return store_for(plan.staging_uri)


def _uri(plan: RunPlan, name: str) -> str:
    from augment_jobs.tabular.engine import state_uri

    return state_uri(plan, name)


def _save(plan: RunPlan, name: str, arrays: dict[str, np.ndarray]) -> None:
    from augment_jobs.tabular.engine import save_arrays

    save_arrays(plan, name, arrays, narrow=False)  # exact dtypes: the merged answer must equal one process's


def _load(plan: RunPlan, name: str) -> dict[str, np.ndarray]:
    from augment_jobs.tabular.engine import load_arrays

    return load_arrays(plan, name)
