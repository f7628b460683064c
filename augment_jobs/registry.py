"""The method registry: every augmentation method is a plugin with one verb.

A method is a function `augment(batch, params, ctx) -> batch` registered with a name, a modality
and a pydantic params model. Adding a method touches one file (and its test):

    class SmoteParams(MethodParams):
        k_neighbors: int = 5

    @register("smote", modality="tabular", params=SmoteParams)
    def smote(batch: pd.DataFrame, params: SmoteParams, ctx: AugmentContext) -> pd.DataFrame: ...

For tabular, text and time series the batch is a pandas DataFrame that already carries the platform
columns (`_id`, `_synthetic`, `_source_ids`, `_method`, `_params`); a method returns the frame with
its synthetic rows appended (real rows untouched). For images the batch is an `ImageBatch`.
Method modules import heavy libraries inside the function, so `augment check` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from augment_jobs.errors import ConfigError
from augment_jobs.rng import rng_for, seed32

if TYPE_CHECKING:  # numpy only in annotations: DAG files import this module at parse time
    import numpy as np

    from augment_jobs.config import DatasetConfig
    from augment_jobs.modality import ModalitySpec

#: The modality packages: importing one registers its `ModalitySpec` and its methods.
#: Adding a modality is one new package plus one line here.
MODALITY_PACKAGES = (
    "augment_jobs.tabular",
    "augment_jobs.image",
    "augment_jobs.text",
    "augment_jobs.timeseries",
    "augment_jobs.audio",
)


class MethodParams(BaseModel):
    """Base for params models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class AugmentContext:
    """What a method may know about the run besides its batch and params."""

    cfg: DatasetConfig
    ds: str
    step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)  # logged to MLflow and the manifest
    notes: list[str] = field(default_factory=list)  # adaptations made (e.g. k_neighbors lowered)
    skipped: dict[str, int] = field(default_factory=dict)  # items not augmented, by reason (published as real)
    #: SDMetrics quality per class ({score, column_shapes, column_pair_trends, worst_columns}), SDV methods
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifact_uri: str | None = None  # staging folder for artifacts logged to MLflow by the lineage stage
    #: differential privacy: one record per DP fit (`record_dp`); the engine copies them into
    #: `ShardResult.extra["dp"]`, which the gate composes into the manifest's `privacy.epsilon`
    dp: list[dict[str, Any]] = field(default_factory=list)
    #: approximate neighbours: one record per search ({step, method, search, k, recall, min_recall, ...});
    #: the engine copies them into `ShardResult.extra["recall"]`, the gate into the manifest's `recall`
    recall: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seed(self) -> int:
        return self.cfg.seed

    @property
    def label(self) -> str | None:
        return self.cfg.label

    def skip(self, reason: str, n: int = 1) -> None:
        """Count `n` items this method cannot use: they stay in the output as real, not augmented.
        The reason names what the config or data has (the op, column, series), e.g.
        "series shorter than the 3 points time_warp needs"."""
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    def record_dp(self, info: dict[str, Any], partition: str) -> None:
        """Record the budget one DP fit spent (`privacy_dp.fit_sample_dp`'s record) on the rows of
        `partition` (a class, a source part): fits of one step on disjoint partitions compose in
        parallel, steps add up (`privacy_dp.epsilon_spent`)."""
        self.dp.append({**info, "step": self.step, "partition": partition})

    def rng(self, *keys: object) -> np.random.Generator:
        """A generator private to (seed, ds, step, *keys)."""
        return rng_for(self.cfg.seed, self.ds, self.step, *keys)

    def seed32(self, *keys: object) -> int:
        return seed32(self.cfg.seed, self.ds, self.step, *keys)

    def save_artifact(self, name: str, data: bytes) -> None:
        """Stage a file (e.g. a fitted synthesizer) to be logged to the run's MLflow artifacts."""
        if self.artifact_uri is None:
            return
        from augment_jobs.store import join, store_for

        store_for(self.artifact_uri).write_bytes(join(self.artifact_uri, name), data)


@dataclass(frozen=True)
class MethodSpec:
    name: str
    modality: str
    params_model: type[MethodParams]
    fn: Callable[[Any, Any, AugmentContext], Any]
    description: str = ""
    #: small, fast params the method-contract tests run it with (its defaults when empty)
    example: dict[str, Any] = field(default_factory=dict)
    #: the same input, config and date give the same output (False: differentially private fits)
    reproducible: bool = True

    def parse_params(self, params: dict[str, Any], *, where: str = "params") -> MethodParams:
        """Validate raw params; ConfigError names the key and the method."""
        try:
            return self.params_model(**params)
        except ValidationError as e:
            err = e.errors()[0]
            key = ".".join(str(p) for p in err["loc"]) or "(params)"
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(sorted(self.params_model.model_fields))
                raise ConfigError(f"{where}: unknown param {key!r} for method {self.name!r}; allowed: {allowed}") from None
            if not err["loc"]:  # a check across params (e.g. image_policy's restrict): its message names the value
                raise ConfigError(f"{where}: {err['msg'].removeprefix('Value error, ')} (method {self.name!r})") from None
            raise ConfigError(f"{where}.{key}: {err['msg']} (method {self.name!r}, got {err.get('input')!r})") from None

    def __call__(self, batch: Any, params: MethodParams, ctx: AugmentContext) -> Any:
        return self.fn(batch, params, ctx)


_REGISTRY: dict[str, MethodSpec] = {}
_MODALITIES: dict[str, ModalitySpec] = {}
_loaded = False


def register_modality(spec: ModalitySpec) -> ModalitySpec:
    """Register a modality (called once by its package's `__init__`)."""
    if spec.name in _MODALITIES and _MODALITIES[spec.name] != spec:
        raise RuntimeError(f"modality {spec.name!r} registered twice")
    _MODALITIES[spec.name] = spec
    return spec


def modalities() -> dict[str, ModalitySpec]:
    """Every registered modality, by name."""
    load_all()
    return dict(sorted(_MODALITIES.items()))


def modality_spec(name: str, *, where: str = "modality") -> ModalitySpec:
    """The registered modality `name`; ConfigError listing the registered ones."""
    registered = modalities()
    if name not in registered:
        raise ConfigError(f"{where}: unknown modality {name!r}; registered: {', '.join(registered)}")
    return registered[name]


def register(
    name: str, *, modality: str, params: type[MethodParams], example: dict[str, Any] | None = None,
    reproducible: bool = True,
) -> Callable[[Callable], Callable]:
    """Decorator registering `fn` as method `name` of `modality`; `example` params keep its contract
    test fast (e.g. few epochs)."""

    def wrap(fn: Callable) -> Callable:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise RuntimeError(f"method {name!r} registered twice")
        _REGISTRY[name] = MethodSpec(name, modality, params, fn, (fn.__doc__ or "").strip().split("\n")[0], example or {},
                                     reproducible)
        return fn

    return wrap


def load_all() -> None:
    """Import every modality package once (registration happens on import)."""
    global _loaded
    if _loaded:
        return
    _loaded = True  # set first: a package importing the registry must not recurse
    try:
        for pkg in MODALITY_PACKAGES:
            if importlib.util.find_spec(pkg) is not None:
                importlib.import_module(pkg)
    except BaseException:
        _loaded = False
        raise


def methods(modality: str | None = None) -> dict[str, MethodSpec]:
    load_all()
    return {n: s for n, s in sorted(_REGISTRY.items()) if modality is None or s.modality == modality}


def get_method(name: str, *, where: str = "method") -> MethodSpec:
    load_all()
    if name not in _REGISTRY:
        raise ConfigError(f"{where}: unknown method {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
