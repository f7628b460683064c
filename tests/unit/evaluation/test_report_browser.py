"""The report in a real browser: Debian's headless Chromium driven by Playwright.

Every image must decode, the console must stay clean, and a full-page screenshot is kept as an
artifact (its path is printed) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from augment_jobs.evaluation.report import render_report

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_report_renders_in_chromium(full_report_input, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    page_file = tmp_path / "_report.html"
    page_file.write_text(render_report(full_report_input), encoding="utf-8")
    artifacts = Path(os.environ.get("AUGMENT_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report_full_page.png"
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            # Any request leaving the page is a defect: the report must be self-contained.
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                       else (errors.append(f"network request {route.request.url}"), route.abort()))
            page.goto(page_file.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0}))")
            assert len(images) >= 8
            assert [i["alt"] for i in images if not i["ok"]] == []
            assert page.title().startswith("cancer 2026-12-02T00-00-00")
            first = page.inner_text("main > section.verdict")
            assert first.startswith(("Published", "QUARANTINED"))
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"report screenshot: {shot}")
    assert errors == []
    assert shot.stat().st_size > 50_000
