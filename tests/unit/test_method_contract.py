"""The method contract, over every registered method of every registered modality (picked up from
the registry, in imbalanced-learn's `estimator_checks` style): a new method or modality is tested by
registering it, with no list to update here.

Each modality registers an `example` (a small input and a config running one method) and a `probe`
(its output as `ProbeItem`s), so these checks read every modality the same way.
"""

from __future__ import annotations

import pytest

from augment_jobs.errors import ConfigError
from augment_jobs.modality import ProbeItem, resolve
from augment_jobs.registry import AugmentContext, MethodSpec, methods, modality_spec

METHODS = sorted(methods().values(), key=lambda m: (m.modality, m.name))


def run(spec: MethodSpec, *, seed: int = 0) -> tuple[list[str], list[ProbeItem]]:
    """Run `spec` on its modality's example; (input keys, probed output)."""
    modality = modality_spec(spec.modality)
    assert modality.example and modality.probe, f"modality {spec.modality!r} registers no example/probe"
    cfg, batch = resolve(modality.example)(spec)
    cfg = cfg.model_copy(update={"seed": seed})
    keys = list(batch["_id"]) if hasattr(batch, "columns") else [f"{k}" for k in batch.keys]
    out = spec(batch, spec.parse_params(cfg.augment[0].params), AugmentContext(cfg=cfg, ds="2026-01-01"))
    return keys, resolve(modality.probe)(out, cfg)


@pytest.fixture(params=METHODS, ids=[f"{m.modality}:{m.name}" for m in METHODS])
def method(request: pytest.FixtureRequest) -> MethodSpec:
    return request.param


def test_every_modality_registers_methods_and_contract_parts() -> None:
    for name in ("tabular", "image", "text", "timeseries", "audio"):
        spec = modality_spec(name)
        assert spec.example and spec.probe and any(m.modality == name for m in METHODS)


def test_params_model_rejects_unknown_keys(method: MethodSpec) -> None:
    with pytest.raises(ConfigError, match=r"unknown param 'not_a_param'.*" + method.name):
        method.parse_params({**method.example, "not_a_param": 1})
    method.parse_params(method.example)  # its example params are valid


def test_deterministic(method: MethodSpec) -> None:
    _, a = run(method, seed=1)
    _, b = run(method, seed=1)
    assert any(p.synthetic for p in a), "the example must make new items"
    if method.reproducible:
        assert a == b, "same seed, same input: the output must be identical"
    else:  # differentially private: fresh noise per fit, by design; the same rows and lineage all the same
        assert [(p.key, p.synthetic, p.label) for p in a] == [(p.key, p.synthetic, p.label) for p in b]


def test_lineage_and_labels(method: MethodSpec) -> None:
    keys, out = run(method)
    inputs = set(keys)
    synthetic = [p for p in out if p.synthetic]
    real = [p for p in out if not p.synthetic]
    assert {p.key for p in real} <= inputs, "a method returns its input items unchanged, under their keys"
    assert len({p.key for p in out}) == len(out), "keys are unique"
    for p in synthetic:
        assert p.method == method.name, f"{p.key}: _method must name the method"
        assert set(p.source_ids) <= inputs, f"{p.key}: lineage names items that are not in the input: {p.source_ids}"
    # Only a fitted generative model may leave lineage empty (its lineage is the model).
    if method.reproducible and not _from_a_model(method):
        assert all(p.source_ids for p in synthetic), "every synthetic item names the items it came from"
    in_labels = {p.label for p in real} or None
    out_labels = {p.label for p in synthetic if p.label}
    if in_labels is not None:
        assert out_labels <= in_labels, f"labels invented: {out_labels - in_labels}"


def _from_a_model(method: MethodSpec) -> bool:
    """A tabular method drawing from a fitted model (its rows name no parents)."""
    from augment_jobs.tabular.method import tabular_method

    return method.modality == "tabular" and not tabular_method(method.name).lineage
