"""Text frame hooks: prepare's input checks and the gate checks."""

from __future__ import annotations

import json

import pytest
from great_expectations.core import ExpectationSuite
from test_text_eda import REPO, cfg_for, demo_frame, frame, run

from augment_jobs.checks import GateInput
from augment_jobs.errors import InputError
from augment_jobs.modality import hooks_for
from augment_jobs.text.checks import text_checks
from augment_jobs.text.hooks import prepare


def test_registered() -> None:
    h = hooks_for("text")
    assert h.prepare is prepare and h.compare_columns is not None


def test_prepare_rejects_missing_column_and_non_strings() -> None:
    with pytest.raises(InputError, match="text column 'text' .* not in the source"):
        prepare(frame(["a"]).drop(columns="text"), cfg_for())
    with pytest.raises(InputError, match=r"row t.jsonl#1 has float 1.5"):
        prepare(frame(["a", 1.5]), cfg_for())
    with pytest.raises(InputError, match="null texts"):
        prepare(frame(["a", None]), cfg_for(on_null="error"))
    assert len(prepare(frame(["a", None]), cfg_for())) == 2


def test_gate_checks_pass_on_method_output_and_catch_damage() -> None:
    cfg = cfg_for()
    df = demo_frame(60)
    out, _ = run(cfg, df)
    res = {c.name: c for c in checks(cfg, df, out)}
    assert all(c.passed for c in res.values()), res
    bad = out.copy()
    syn = bad.index[bad["_synthetic"]]
    with_order = next(i for i in syn[4:] if "ORD-" in out.loc[i, "text"])
    bad.loc[with_order, "text"] = out.loc[with_order, "text"].replace("ORD-", "ORD ")  # split an order number
    bad.loc[syn[1], "text"] = "  "
    parent = bad.loc[syn[2], "_source_ids"][0]
    bad.loc[syn[2], "text"] = df.set_index("_id").loc[parent, "text"]
    bad.loc[syn[3], "text"] = "word " * 200
    res = {c.name: c for c in checks(cfg, df, bad)}
    assert not res["text.protected_spans_preserved"].passed
    assert not res["text.non_empty"].passed
    assert not res["text.differs_from_source"].passed
    assert not res["text.max_tokens"].passed


def test_demo_suite_round_trips() -> None:
    with open(REPO / "expectations" / "support_tickets.json") as f:
        suite = ExpectationSuite(**json.load(f))
    assert len(suite.expectations) >= 5 and suite.name == "support_tickets"


def checks(cfg, src, out):
    """The text checks on `out` (whose real rows are `src`)."""
    return text_checks(GateInput(cfg, None, [], out))
