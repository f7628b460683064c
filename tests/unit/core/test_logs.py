"""The one line an expected failure logs, and the quieting of library loggers."""

from __future__ import annotations

import logging
from pathlib import Path

from augment_jobs.errors import GateFailed, InputError
from augment_jobs.logs import config_key, failure_line, quiet_libraries
from augment_jobs.store import store_for


def test_each_check_names_the_config_key_that_decides_it() -> None:
    assert config_key("synthetic_share") == "limits.max_synthetic_ratio"
    assert config_key("suite:expect_column_values_to_be_between") == "quality.suite"
    assert config_key("ts.value_bounds[temperature]") == "quality.value_bounds"
    assert config_key("image.corrupt_share") == "source.max_corrupt_share"
    assert config_key("something_new") == "augment"


def test_a_failed_gate_is_one_line_with_value_limit_key_and_next_command(tmp_path: Path) -> None:
    report_uri = str(tmp_path / "published" / "d" / "quarantine" / "2026-01-05.ab" / "gate" / "report.json")
    store_for(report_uri).write_json(report_uri, {
        "dataset": "d", "version": "2026-01-05.ab", "passed": False,
        "checks": [{"name": "label_set_unchanged", "passed": True, "detail": "ok"},
                   {"name": "synthetic_share", "passed": False, "detail": "60 of 120 synthetic (50.0%; limit 10%)"},
                   {"name": "similarity", "passed": False, "detail": "KS 0.4 > 0.2 for amount"}],
    })
    line = failure_line(GateFailed("d 2026-01-05.ab: quality gate failed", report_uri=report_uri),
                        config="configs/d.yaml")
    assert "\n" not in line
    assert line.startswith("GateFailed (exit code 3): d 2026-01-05.ab quality gate failed: synthetic_share: 60 of 120")
    assert "limit 10%" in line and "similarity: KS 0.4 > 0.2" in line
    assert "change limits.max_synthetic_ratio, quality.similarity in configs/d.yaml" in line
    assert "more: augment show d 2026-01-05.ab" in line and "quarantined at " + str(tmp_path) in line


def test_an_input_error_keeps_its_message_and_says_how_to_reproduce() -> None:
    e = InputError("/x/raw/d/2026-01-05/: source partition missing; check source.uri and the date")
    line = failure_line(e, config="configs/d.yaml", ds="2026-01-05")
    assert line == (f"InputError (exit code 2): {e}; reproduce: augment run configs/d.yaml --date 2026-01-05")


def test_library_info_lines_are_quieted_child_loggers_included() -> None:
    child = logging.getLogger("great_expectations.expectations.registry")
    child.setLevel(logging.DEBUG)  # what GX does to some of its own loggers
    quiet_libraries()
    assert not child.isEnabledFor(logging.INFO) and not logging.getLogger("mlflow").isEnabledFor(logging.INFO)
