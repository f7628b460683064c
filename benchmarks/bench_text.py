"""Benchmark: the `eda` method on 100,000 support tickets vs a plain-Python implementation of the
same ops (whitespace tokens, protected spans found per token, thesaurus scanned linearly).

Both sides do synonym replacement (multi-word terms), insertion, swap and deletion at the same
rates with the same protected terms and patterns, one copy per text. The `eda` side runs the
registered method end to end (tokenise, augment, record ops, build the synthetic rows); the naive
side only returns strings.

    .venv/bin/python benchmarks/bench_text.py [--texts 100000]
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

import pandas as pd
import yaml
from timing import best_cpu  # benchmarks/timing.py: the script folder is on sys.path

from augment_jobs.config import DatasetConfig
from augment_jobs.registry import AugmentContext, get_method
from augment_jobs.text.demo import tickets

REPO = Path(__file__).resolve().parent.parent
THESAURUS = REPO / "configs" / "thesauri" / "support.yaml"
TERMS = ["Pro Max", "customer service"]
PATTERNS = ["ORD-[0-9]+", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "@[A-Za-z0-9_]+", "https?://[^ ]+",
            r"\$[0-9]+(?:\.[0-9]{2})?", r"\b[A-Z]{2,3}-[0-9]{3}\b"]
RATES = {"synonym_rate": 0.15, "swap_rate": 0.05, "delete_rate": 0.05, "insert_rate": 0.05}


def naive_eda(text: str, groups: dict[str, list[str]], seed: int) -> str:
    """The straightforward version: split on spaces, test every token against every span, scan the
    whole thesaurus at every position."""
    r = random.Random(seed)
    words = text.split()
    spans = []
    for p in PATTERNS + [re.escape(t) for t in TERMS]:
        spans += [m.span() for m in re.finditer(p, text, flags=re.I if p in map(re.escape, TERMS) else 0)]
    starts, pos = [], 0
    for w in words:
        pos = text.index(w, pos)
        starts.append(pos)
        pos += len(w)
    protected = [any(s < st + len(w) and st < e for s, e in spans) for w, st in zip(words, starts, strict=True)]
    syn: dict[str, list[str]] = {}
    for term, alts in groups.items():
        members = [term, *alts]
        for m in members:
            syn.setdefault(m.lower(), []).extend(x for x in members if x.lower() != m.lower())
    n = len(words)

    def count(rate: float) -> int:
        return max(1, int(rate * n))

    # synonym replacement
    cands = []
    for i in range(n):
        for key in syn:  # linear scan of the thesaurus
            k = key.split()
            seg = [w.strip(".,!?").lower() for w in words[i : i + len(k)]]
            if seg == k and not any(protected[i : i + len(k)]):
                cands.append((i, len(k), key))
    r.shuffle(cands)
    done: set[int] = set()
    for i, m, key in cands[: count(RATES["synonym_rate"])]:
        if done & set(range(i, i + m)):
            continue
        done |= set(range(i, i + m))
        words[i] = r.choice(syn[key])
        for j in range(i + 1, i + m):
            words[j] = ""
    words = [w for w in words if w != "" or False]
    protected = [any(re.fullmatch(p, w) for p in PATTERNS) for w in words]
    # insertion
    for _ in range(count(RATES["insert_rate"])):
        options = [w for w in words if w.lower().strip(".,!?") in syn]
        if options:
            word = r.choice(syn[r.choice(options).lower().strip(".,!?")])
            at = r.randint(0, len(words))
            words.insert(at, word)
            protected.insert(at, False)
    # swap
    free = [i for i, p in enumerate(protected) if not p]
    for _ in range(count(RATES["swap_rate"])):
        if len(free) > 1:
            a, b = r.sample(free, 2)
            words[a], words[b] = words[b], words[a]
    # deletion
    kept = [w for w, p in zip(words, protected, strict=True) if p or r.random() >= RATES["delete_rate"]]
    return " ".join(kept or words[:1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    rows = tickets("2026-01-01", rows=a.texts)
    df = pd.DataFrame(rows)
    df["_id"] = df["ticket_id"]
    df["_synthetic"], df["_source_ids"], df["_method"], df["_params"] = False, [[i] for i in df["_id"]], "source", None
    cfg = DatasetConfig(
        dataset="bench", modality="text", source={"uri": "raw/", "format": "jsonl"}, label="intent", text_column="text",
        augment=[{"method": "eda", "params": {"n_aug": 1, "thesaurus": str(THESAURUS), "max_tokens": 128,
                                              "protect": {"terms": TERMS, "patterns": PATTERNS}, **RATES}}],
        publish={"uri": "pub"},
    )
    spec = get_method("eda")
    params = spec.parse_params(cfg.augment[0].params)
    groups = yaml.safe_load(THESAURUS.read_text())
    texts = df["text"].tolist()

    t_fast, out = best_cpu(lambda: spec(df, params, AugmentContext(cfg=cfg, ds="2026-01-01")), a.repeat)
    t_slow, _ = best_cpu(lambda: [naive_eda(t, groups, i) for i, t in enumerate(texts)], a.repeat)
    n_out = int(out["_synthetic"].sum())
    print(f"texts                    {a.texts:,} support tickets, one copy each, CPU seconds, best of {a.repeat}")
    print(f"eda (registered method)  {t_fast:7.2f} s   {a.texts / t_fast:10,.0f} texts/s  ({n_out:,} rows built)")
    print(f"plain-Python naive       {t_slow:7.2f} s   {a.texts / t_slow:10,.0f} texts/s  (strings only)")
    print(f"ratio                    {t_slow / t_fast:7.1f} x")


if __name__ == "__main__":
    main()
