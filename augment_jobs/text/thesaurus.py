"""Domain thesaurus files: YAML `term: [synonym, ...]`, multi-word terms allowed.

Errors name the file and the line and key at fault (ConfigError, exit code 2). Loaded thesauri are
cached by (path, size, mtime) so every step and the gate share one parse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from augment_jobs.errors import ConfigError
from augment_jobs.text.tokenize import split_words


@dataclass(frozen=True)
class Thesaurus:
    """Lookup by lower-cased phrase (words joined by one space)."""

    synonyms: dict[str, tuple[tuple[str, ...], ...]]  # phrase -> synonyms, each as its tokens
    first_words: dict[str, int]  # first word of a phrase -> longest phrase length starting with it
    source: str = ""

    def __len__(self) -> int:
        return len(self.synonyms)


_CACHE: dict[tuple[str, int, int, bool], Thesaurus] = {}


def load_thesaurus(path: str | os.PathLike[str], *, symmetric: bool = True) -> Thesaurus:
    """Load and validate a thesaurus file; with `symmetric`, each group (term + its synonyms) is a
    synonym set, so every member maps to all the others."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigError(f"thesaurus file {p} not found; create it or fix params.thesaurus") from None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, symmetric)
    if key not in _CACHE:
        _CACHE[key] = parse_thesaurus(p.read_text(encoding="utf-8"), source=str(p), symmetric=symmetric)
    return _CACHE[key]


def parse_thesaurus(text: str, *, source: str = "<thesaurus>", symmetric: bool = True) -> Thesaurus:
    """Parse thesaurus YAML text; ConfigError names `source`, the line and the key."""
    import yaml

    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: thesaurus is not valid YAML ({problem}); fix the syntax") from None
    if root is None:
        raise ConfigError(f"{source}: thesaurus is empty; add `term: [synonym, ...]` entries")
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{source}:{root.start_mark.line + 1}: thesaurus must be a mapping `term: [synonym, ...]`")
    groups: list[list[str]] = []
    seen: set[str] = set()
    for knode, vnode in root.value:
        line = knode.start_mark.line + 1
        if not isinstance(knode, yaml.ScalarNode) or not str(knode.value).strip():
            raise ConfigError(f"{source}:{line}: thesaurus keys must be non-empty terms")
        term = str(knode.value).strip()
        if term.lower() in seen:
            raise ConfigError(f"{source}:{line}: thesaurus term {term!r} appears twice; merge the entries")
        seen.add(term.lower())
        if not isinstance(vnode, yaml.SequenceNode) or not all(
            isinstance(v, yaml.ScalarNode) and str(v.value).strip() for v in vnode.value
        ):
            raise ConfigError(
                f"{source}:{vnode.start_mark.line + 1}: thesaurus term {term!r} must map to a list of "
                f"non-empty synonyms, e.g. {term}: [a, b]"
            )
        groups.append([term, *(str(v.value).strip() for v in vnode.value)])

    table: dict[str, list[str]] = {}
    for term, *syns in groups:
        members = [term, *syns] if symmetric else [term]
        for m in members:
            key = " ".join(split_words(m)).lower()
            out = table.setdefault(key, [])
            for s in [term, *syns]:
                if " ".join(split_words(s)).lower() != key and s not in out:
                    out.append(s)
    synonyms = {k: tuple(tuple(split_words(s)) for s in v) for k, v in table.items() if v}
    first_words: dict[str, int] = {}
    for k in synonyms:
        words = k.split(" ")
        first_words[words[0]] = max(first_words.get(words[0], 0), len(words))
    return Thesaurus(synonyms, first_words, source)
