"""The reference in docs/ keeps up with the code: every config key, method param and command is there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from augment_jobs.cli import build_parser
from augment_jobs.config import DatasetConfig
from augment_jobs.registry import MODALITY_PACKAGES, methods

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _models(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models inside a field's annotation (through unions, lists, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models(arg)] if get_origin(annotation) or get_args(annotation) else []


def _keys(model: type[BaseModel]) -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        out.add(name)
        for sub in _models(field.annotation):
            out |= _keys(sub)
    return out


def _documented(page: str) -> set[str]:
    """Every identifier inside an inline code span of the page (`retention.keep_last` gives both parts)."""
    spans = re.findall(r"`([^`\n]+)`", (DOCS / page).read_text())
    return {word for span in spans for word in re.findall(r"[a-z_][a-z0-9_]*", span)}


def test_every_config_key_is_in_config_md() -> None:
    missing = sorted(_keys(DatasetConfig) - _documented("config.md") - {"type"})
    assert not missing, f"docs/config.md does not mention {missing}"


def test_every_method_and_param_is_in_config_md() -> None:
    documented = _documented("config.md")
    shipped = {m.rsplit(".", 1)[-1] for m in MODALITY_PACKAGES}  # not a test's toy modality
    for name, spec in methods().items():
        if spec.modality not in shipped:
            continue
        assert name in documented, name
        missing = sorted(_keys(spec.params_model) - documented - {"op", "p"})
        assert not missing, f"docs/config.md does not document {name} params {missing}"


def test_every_command_and_option_is_in_cli_md() -> None:
    text = (DOCS / "cli.md").read_text()
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        assert f"### `augment {name}" in text, name
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in text, f"augment {name} {flag}"


def test_links_between_pages_resolve() -> None:
    pending = {"reader.md", "metrics.md"}  # written alongside, by their own owners
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)", page.read_text()):
            path = (page.parent / target).resolve()
            assert path.exists() or path.name in pending, f"{page.name} links to missing {target}"
