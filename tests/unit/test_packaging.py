"""Static checks of how users install the project: pyproject's extras, the Dockerfile, Python range."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_dockerfile_installs_the_production_extras_from_pyproject() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install [^\n]*?\"?\.\[([a-z,]+)\]\"?", dockerfile)
    assert installs, "the Dockerfile must install the project with its production extras"
    extras = set(installs[0].split(","))
    assert extras <= set(PROJECT["optional-dependencies"]) and "dev" not in extras
    assert {"celery", "postgres"} <= extras
    # no hand-written package list next to it that could drift from pyproject
    for name in _names(PROJECT["optional-dependencies"]["celery"] + PROJECT["optional-dependencies"]["postgres"]):
        assert f" {name}" not in dockerfile.split("pip install", 1)[1].split("\n\n", 1)[0], name


def test_benchmark_only_libraries_are_not_runtime_dependencies() -> None:
    runtime = _names(PROJECT["dependencies"])
    for lib in ("kornia", "albumentations", "audiomentations"):
        assert lib not in runtime
        assert lib in _names(PROJECT["optional-dependencies"]["dev"])
        imports = re.compile(rf"^\s*(import|from)\s+{lib}\b", re.M)
        assert not [p for p in (ROOT / "augment_jobs").rglob("*.py") if imports.search(p.read_text())], lib


def test_supported_python_range() -> None:
    assert PROJECT["requires-python"] == ">=3.11,<3.14"
