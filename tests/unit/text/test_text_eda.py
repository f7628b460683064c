"""The `eda` method through `fn(df, params, ctx)`: ops, protected spans, counts, determinism, bad inputs."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest

from augment_jobs.config import DatasetConfig, load_config
from augment_jobs.errors import ConfigError, InputError
from augment_jobs.registry import AugmentContext, get_method
from augment_jobs.sampling import class_targets
from augment_jobs.text.demo import tickets
from augment_jobs.text.eda import _Uniforms, augment_tokens
from augment_jobs.text.thesaurus import parse_thesaurus
from augment_jobs.text.tokenize import PROTECTED, Tokenizer

REPO = Path(__file__).resolve().parents[3]
PATTERNS = ["ORD-[0-9]+", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "@[A-Za-z0-9_]+", "https?://[^ ]+",
            r"\$[0-9]+(?:\.[0-9]{2})?"]
THESAURUS = REPO / "configs" / "thesauri" / "support.yaml"


def cfg_for(tmp_path: Path | None = None, label: str | None = "intent", **params: object) -> DatasetConfig:
    base = {"n_aug": 2, "thesaurus": str(THESAURUS), "synonym_rate": 0.2, "swap_rate": 0.1, "delete_rate": 0.1,
            "insert_rate": 0.1, "protect": {"terms": ["Pro Max"], "patterns": PATTERNS}}
    base.update(params)
    if "sampling_strategy" in params:
        base.pop("n_aug")
    return DatasetConfig(
        dataset="tickets", modality="text", source={"uri": "raw/", "format": "jsonl"}, label=label,
        text_column="text", augment=[{"method": "eda", "params": base}], publish={"uri": "pub"},
    )


def frame(texts: list, labels: list | None = None) -> pd.DataFrame:
    ids = [f"t.jsonl#{i}" for i in range(len(texts))]
    df = pd.DataFrame({"text": texts, "intent": labels or ["a"] * len(texts)})
    df["_id"], df["_synthetic"], df["_source_ids"] = ids, False, [[i] for i in ids]
    df["_method"], df["_params"] = "source", None
    return df


def run(cfg: DatasetConfig, df: pd.DataFrame, step: int = 0) -> tuple[pd.DataFrame, AugmentContext]:
    spec = get_method("eda")
    ctx = AugmentContext(cfg=cfg, ds="2026-01-01", step=step)
    return spec(df, spec.parse_params(cfg.augment[0].params), ctx), ctx


def demo_frame(n: int = 200) -> pd.DataFrame:
    t = tickets("2026-01-01", rows=n)
    return frame([x["text"] for x in t], [x["intent"] for x in t])


def test_tokenizer_round_trips_and_keeps_spans_atomic() -> None:
    tok = Tokenizer(terms=["Pro Max"], patterns=PATTERNS)
    text = "  Hi  jane@example.com, my pro  max order ORD-123 ($4.50) see https://x.io/a?b=1 @jo_1 !\n"
    t = tok.tokenize(text)
    assert t.detok() == text
    prot = [x for x, k in zip(t.toks, t.kinds, strict=True) if k == PROTECTED]
    # The handle pattern overlaps the e-mail: the union is one token, not "jane" + "@example".
    assert prot == ["jane@example.com", "pro  max", "ORD-123", "$4.50", "https://x.io/a?b=1", "@jo_1"]


def test_appends_copies_with_lineage_and_ops() -> None:
    df = demo_frame(50)
    out, ctx = run(cfg_for(), df)
    assert out.iloc[: len(df)].equals(df)  # real rows untouched, order kept
    syn = out.iloc[len(df):]
    assert len(syn) == 2 * len(df) and syn["_synthetic"].all() and (syn["_method"] == "eda").all()
    assert syn["_id"].is_unique and syn["_id"].iloc[0] == "t.jsonl#0~aug0.0"
    assert all(s == [i.split("~")[0]] for s, i in zip(syn["_source_ids"], syn["_id"], strict=True))
    rec = json.loads(syn["_params"].iloc[0])
    assert rec["copy"] == 0 and rec["ops"] and {o["op"] for o in rec["ops"]} <= {"synonym", "insert", "swap", "delete"}
    assert ctx.metrics["eda.synthetic_rows"] == len(syn)
    assert (syn["text"].to_numpy() != df["text"].repeat(2).to_numpy()).all()


def test_multiword_synonym_and_case_kept() -> None:
    th = parse_thesaurus("charged twice: [double charged]\nhi: [hello]\n")
    tok = Tokenizer()
    p = get_method("eda").parse_params({"synonym_rate": 1.0, "swap_rate": 0, "delete_rate": 0, "insert_rate": 0})
    out, ops = augment_tokens(tok.tokenize("HI, I was Charged twice today"), th, p, _Uniforms(__import__("numpy").random.default_rng(0)))
    assert out.detok() == "HELLO, I was Double charged today"
    assert [o["from"] for o in ops] == ["HI", "Charged twice"]


def test_protected_spans_never_altered_property() -> None:
    """Random texts mixing words, entities and punctuation: every protected span survives every copy."""
    rng = random.Random(7)
    words = ["order", "refund", "late", "please", "help", "broken", "screen", "account", "hi", "charged", "twice",
             "the", "my", "is", "for", ",", ".", "!", "Pro", "Max", "(", ")", "customer", "service", "asap"]
    ents = ["ORD-{n}", "{w}@example.com", "@{w}_{n}", "https://ex.com/{w}?q={n}", "${n}.99", "Pro Max", "ORD-{n}."]
    texts = []
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(1, 25)):
            if rng.random() < 0.25:
                parts.append(rng.choice(ents).format(n=rng.randint(1, 99999), w=rng.choice(["ann", "bo", "x.y"])))
            else:
                parts.append(rng.choice(words))
        texts.append(rng.choice(["", " "]) + rng.choice([" ", "  ", "\n"]).join(parts))
    cfg = cfg_for(synonym_rate=0.5, swap_rate=0.5, delete_rate=0.5, insert_rate=0.5, n_aug=3)
    out, _ = run(cfg, frame(texts))
    tok = Tokenizer(terms=["Pro Max"], patterns=PATTERNS)
    src = dict(zip(out["_id"], out["text"], strict=True))
    syn = out[out["_synthetic"]]
    assert len(syn) > 500
    for text, (parent,) in zip(syn["text"], syn["_source_ids"], strict=True):
        t = tok.tokenize(src[parent])
        for span in (x for x, k in zip(t.toks, t.kinds, strict=True) if k == PROTECTED):
            assert span in text, (span, src[parent], text)
        assert text.strip() and text != src[parent]


def test_deterministic_across_row_order_and_batches() -> None:
    df = demo_frame(80)
    a, _ = run(cfg_for(), df)
    b, _ = run(cfg_for(), df.iloc[::-1].reset_index(drop=True))
    c, _ = run(cfg_for(), df.iloc[:30].reset_index(drop=True))
    key = ["_id", "text", "_params"]
    sa = a[a["_synthetic"]].set_index("_id")[key[1:]]
    sb = b[b["_synthetic"]].set_index("_id")[key[1:]]
    sc = c[c["_synthetic"]].set_index("_id")[key[1:]]
    pd.testing.assert_frame_equal(sa.sort_index(), sb.sort_index())
    pd.testing.assert_frame_equal(sa.loc[sc.index], sc)


def test_sampling_strategy_rebalances() -> None:
    df = frame([f"please help with my order {i}" for i in range(40)], ["big"] * 30 + ["small"] * 10)
    out, _ = run(cfg_for(sampling_strategy="auto"), df)
    assert out["intent"].value_counts().to_dict() == {"big": 30, "small": 30}
    out, _ = run(cfg_for(sampling_strategy=0.5), df)
    assert out["intent"].value_counts()["small"] == 15
    out, _ = run(cfg_for(sampling_strategy={"small": 17}), df)
    assert out["intent"].value_counts()["small"] == 17
    with pytest.raises(InputError, match="below its 10 source rows"):
        run(cfg_for(sampling_strategy={"small": 5}), df)
    y = ["a"] * 10 + ["b"] * 4 + ["c"]
    assert class_targets("not majority", y, method="eda", label="intent") == {"b": 6, "c": 9}


def test_max_tokens_and_null_texts_skipped_and_counted() -> None:
    df = frame(["please help " * 40, None, "my order is late please help"])
    out, ctx = run(cfg_for(max_tokens=20), df)
    syn = out[out["_synthetic"]]
    assert set(syn["_source_ids"].str[0]) == {"t.jsonl#2"}
    assert ctx.skipped == {"null text in 'text'": 1, "text longer than max_tokens=20": 1}
    assert all(len(Tokenizer().tokenize(t).toks) <= 20 for t in syn["text"])


def test_null_texts_error_when_asked() -> None:
    with pytest.raises(InputError, match=r"'text' has 1 null texts \(first: row t.jsonl#1\)"):
        run(cfg_for(on_null="error"), frame(["hi there", None]))


def test_text_column_missing_or_not_strings() -> None:
    with pytest.raises(InputError, match="text column 'text'"):
        run(cfg_for(), frame(["a b"]).rename(columns={"text": "body"}))
    with pytest.raises(InputError, match=r"'text' must hold strings; row t.jsonl#1 has int 5"):
        run(cfg_for(), frame(["a b", 5]))


def test_thesaurus_missing_or_malformed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="thesaurus file .*nope.yaml not found"):
        run(cfg_for(thesaurus=str(tmp_path / "nope.yaml")), frame(["a b"]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("refund: [reimbursement]\norder: purchase\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: thesaurus term 'order' must map to a list"):
        run(cfg_for(thesaurus=str(bad)), frame(["a b"]))
    bad.write_text("refund: [reimbursement\norder: [x]\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: thesaurus is not valid YAML"):
        run(cfg_for(thesaurus=str(bad)), frame(["a b"]))
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="bad.yaml:1: thesaurus must be a mapping"):
        run(cfg_for(thesaurus=str(bad)), frame(["a b"]))


def test_bad_regex_names_the_pattern() -> None:
    with pytest.raises(ConfigError, match=re.escape("protect pattern 'ORD-[0-9+' does not compile")):
        get_method("eda").parse_params({"protect": {"patterns": ["ORD-[0-9+"]}}, where="x")


def test_demo_config_loads_and_thesaurus_parses() -> None:
    cfg = load_config(REPO / "configs" / "support_tickets.yaml")
    p = get_method("eda").parse_params(cfg.augment[0].params)
    assert cfg.resolve_path(p.thesaurus) == THESAURUS
    spec_example = {"n_aug": 2, "thesaurus": "configs/thesauri/support.yaml", "synonym_rate": 0.1, "swap_rate": 0.05,
                    "delete_rate": 0.05, "insert_rate": 0.05, "max_tokens": 128,
                    "protect": {"terms": ["Pro Max"], "patterns": ["ORD-[0-9]+", "@[A-Za-z0-9_]+", "https?://[^ ]+"]}}
    get_method("eda").parse_params(spec_example)
