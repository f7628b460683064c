"""Config validation: every error names the file and the key, and says what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from augment_jobs.cli import main
from augment_jobs.config import load_config
from augment_jobs.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
BASE = yaml.safe_load((REPO / "configs" / "credit_default.yaml").read_text())


def write(tmp_path: Path, cfg: dict, name: str = "c.yaml") -> Path:
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "expectations").mkdir(exist_ok=True)
    (tmp_path / "expectations" / "credit_default.json").write_text(
        (REPO / "expectations" / "credit_default.json").read_text()
    )
    path = tmp_path / "configs" / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_every_shipped_config_is_valid() -> None:
    paths = sorted((REPO / "configs").glob("*.yaml"))
    assert paths
    assert main(["check", *map(str, paths)]) == 0


def test_unknown_top_level_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, {**BASE, "sedd": 3})
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key 'sedd'"):
        load_config(path)


def test_unknown_nested_key(tmp_path: Path) -> None:
    path = write(tmp_path, {**BASE, "publish": {**BASE["publish"], "retension": {}}})
    with pytest.raises(ConfigError, match=r"unknown key 'publish.retension'"):
        load_config(path)


def test_unknown_method_lists_registered(tmp_path: Path) -> None:
    path = write(tmp_path, {**BASE, "augment": [{"method": "smoote", "params": {}}]})
    with pytest.raises(ConfigError, match=r"augment\[0\]\.method: unknown method 'smoote'; registered: .*smote"):
        load_config(path)


def test_unknown_param_names_method(tmp_path: Path) -> None:
    path = write(tmp_path, {**BASE, "augment": [{"method": "smote", "params": {"k_neighbours": 3}}]})
    with pytest.raises(ConfigError, match=r"unknown param 'k_neighbours' for method 'smote'"):
        load_config(path)


@pytest.mark.parametrize("name", ["../x", "Credit", "a/b", "1abc", "a.b"])
def test_dataset_name_with_path_is_rejected(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, {**BASE, "dataset": name})
    with pytest.raises(ConfigError, match=r"dataset: .*must match"):
        load_config(path)


def test_bad_modality_value_lists_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, {**BASE, "modality": "video"})
    with pytest.raises(ConfigError, match=r"c.yaml: modality: unknown modality 'video'; registered: audio, image, tabular, text, timeseries"):
        load_config(path)


def test_method_of_other_modality(tmp_path: Path) -> None:
    path = write(tmp_path, {**BASE, "augment": [{"method": "eda", "params": {"n_aug": 1}}]})
    with pytest.raises(ConfigError, match=r"'eda' is a text method, but the dataset is tabular"):
        load_config(path)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: [unclosed")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad)


def test_malformed_suite_fails_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, BASE)
    (tmp_path / "expectations" / "credit_default.json").write_text('{"name": "x", "expectations": [')
    assert main(["check", str(path)]) == 2
    assert "credit_default.json: suite is not valid JSON" in capsys.readouterr().err


def test_suite_with_unknown_expectation_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, BASE)
    (tmp_path / "expectations" / "credit_default.json").write_text(
        '{"name": "x", "expectations": [{"type": "expect_the_moon", "kwargs": {}}]}'
    )
    assert main(["check", str(path)]) == 2
    assert "credit_default.json: invalid Great Expectations suite" in capsys.readouterr().err


def test_paths_resolve_against_config_parent(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.resolve_path("expectations/x.json") == tmp_path / "expectations" / "x.json"


def test_config_digest_covers_suite_content(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    before = load_config(path).sha256()
    suite = tmp_path / "expectations" / "credit_default.json"
    suite.write_text(suite.read_text().replace('"min_value": 18', '"min_value": 19'))
    assert load_config(path).sha256() != before


@pytest.mark.parametrize("schedule", ["@daly", "61 * * * *", "every day"])
def test_invalid_schedule_is_a_config_error(tmp_path: Path, schedule: str) -> None:
    path = write(tmp_path, {**BASE, "schedule": schedule})
    with pytest.raises(ConfigError, match=r"schedule: .*is not a cron expression"):
        load_config(path)


@pytest.mark.parametrize("schedule", ["@daily", "0 3 * * *", None])
def test_valid_schedules(tmp_path: Path, schedule: str | None) -> None:
    assert load_config(write(tmp_path, {**BASE, "schedule": schedule})).schedule == schedule
