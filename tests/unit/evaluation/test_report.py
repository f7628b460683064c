"""The report page: verdict first, every part present, self-contained, deterministic."""

from __future__ import annotations

import dataclasses
import re

from augment_jobs.evaluation.report import ReportInput, diff_html, render_report


def test_full_report_has_every_part(full_report_input):
    page = render_report(full_report_input)
    assert page == render_report(full_report_input)  # byte-identical for the same input
    verdict = "Published" if full_report_input.passed else "QUARANTINED"
    assert page.index(verdict) < page.index("Gate checks") < page.index("Rows per class")
    for heading in ("Efficacy", "Privacy", "Real vs synthetic, per class and column", "Correlation difference",
                    "Image samples (4), boxes drawn", "Text: 2 source/augmented pairs", "Time series: source overlaid",
                    "Skipped items", "Notes"):
        assert heading in page, heading
    assert "faiss-cpu" in page  # which index measured the distances
    # 30 feature columns, 8 plotted: the rest are named.
    assert "Not plotted (23 columns" in page
    # Self-contained: no external URL, every image inline.
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    assert page.count('src="data:image/png;base64,') >= 4 + 1 + 1 + 1 + 1


def test_quarantined_report_leads_with_the_failures(full_report_input):
    ctx = dataclasses.replace(full_report_input, passed=False,
                              checks=[*full_report_input.checks, ("efficacy_uplift", False, "uplift -0.02 below 0.01")])
    page = render_report(ctx)
    body = page[page.index("<main>"):]
    assert body.index("QUARANTINED: cancer version") < body.index("efficacy_uplift") < body.index("Gate checks")
    failed = sum(not ok for _, ok, _ in ctx.checks)
    assert f"{failed} of {len(ctx.checks)} gate checks failed" in page


def test_minimal_report_without_rows():
    page = render_report(ReportInput(dataset="d", version="v1", passed=True))
    assert "Published: d version v1" in page and "Not measured" in page


def test_text_diff_marks_token_edits():
    before, after = diff_html("the cat <sat> down", "the dog <sat> down now")
    assert before == "the <del>cat</del> &lt;sat&gt; down"
    assert after == "the <ins>dog</ins> &lt;sat&gt; down<ins> now</ins>"


def test_governance_dp_and_fairness_sections():
    from augment_jobs.evaluation.report import ReportInput, render_report

    fair = {"island": {"disparity_before": 0.74, "disparity_after": 0.80, "change": 0.06, "change_class": "Chinstrap",
                       "groups_apart": ["Dream", "Biscoe"], "synthetic_share_range": [0.0, 0.5],
                       "groups": {"Dream": {"rows_before": 124, "rows_after": 260, "synthetic": 136,
                                            "synthetic_share": 0.52, "compared": True,
                                            "labels_before": {"Chinstrap": 0.55}, "labels_after": {"Chinstrap": 0.78}}}}}
    page = render_report(ReportInput(
        dataset="penguins", version="2026-05-01.abcdef12", passed=False,
        checks=[("fairness.island", False, "group 'island' moved")], policy="f" * 64,
        approval={"by": "Grace Hopper", "at": "2026-05-01T06:00:00+00:00", "entry": 3, "note": "ticket R-12"},
        limitations=["not for children"], fairness=fair,
        privacy={"epsilon": 2.5, "delta": 2e-9, "dp": [{"mechanism": "mst"}, {"mechanism": "mst"}]},
    ))
    assert "Grace Hopper" in page and "ticket R-12" in page and "not for children" in page
    assert "ε = 2.5" in page and "2 fit(s) (mst)" in page
    assert "Bias audit" in page and "55.0% → 78.0%" in page and 'class="pill fail"' in page
    unapproved = render_report(ReportInput(dataset="d", version="v", passed=True, policy="a" * 64,
                                           approval_required=True))
    assert "not approved" in unapproved and "required" in unapproved
