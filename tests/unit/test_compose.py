"""Static checks of docker-compose.yml (no Docker engine needed): it parses, every service's
command is a real command of the tool it runs, and every environment variable the code reads is
set for the Airflow services."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_READ = re.compile(
    r"""os\.(?:environ\.get|environ\.setdefault|getenv)\(\s*["']([A-Z0-9_]+)["']|os\.environ\[\s*["']([A-Z0-9_]+)["']\s*\]"""
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _command(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def _airflow_services(compose: dict) -> dict[str, dict]:
    return {n: s for n, s in compose["services"].items() if _command(s)[:1] == ["airflow"]}


def test_parses_and_has_the_production_shape(compose: dict) -> None:
    services = compose["services"]
    for name in (
        "postgres",
        "redis",
        "minio",
        "minio-init",
        "mlflow",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "airflow-worker-gpu",
    ):
        assert name in services, name
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        for dep in svc.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown service {dep}"
    # workers scale with --scale: no fixed container name or host port
    for name in ("airflow-worker", "airflow-worker-gpu"):
        assert "container_name" not in services[name] and "ports" not in services[name]


def test_airflow_commands_are_valid_cli_invocations(compose: dict) -> None:
    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    seen = set()
    for name, svc in _airflow_services(compose).items():
        args = _command(svc)[1:]
        ns = parser.parse_args(args)  # exits (SystemExit) on an unknown subcommand or option
        assert isinstance(ns, argparse.Namespace), name
        seen.add(" ".join(a for a in args if not a.startswith("-") and not a[0].isdigit()).split(" ")[0])
    assert {"api-server", "scheduler", "dag-processor", "triggerer", "celery", "db"} <= seen


def test_worker_queues_and_gpu_reservation(compose: dict) -> None:
    services = compose["services"]
    cpu = _command(services["airflow-worker"])
    gpu = _command(services["airflow-worker-gpu"])
    assert cpu[:3] == ["airflow", "celery", "worker"] and "default" in cpu[cpu.index("--queues") + 1].split(
        ","
    )
    assert gpu[gpu.index("--queues") + 1] == "gpu"
    devices = services["airflow-worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_mlflow_and_minio_commands(compose: dict) -> None:
    import mlflow.cli

    cmd = _command(compose["services"]["mlflow"])
    assert cmd[:2] == ["mlflow", "server"]
    ctx = mlflow.cli.cli.commands["server"].make_context("server", cmd[2:])  # click validates options
    assert ctx.params["backend_store_uri"].startswith("postgresql")
    assert ctx.params["artifacts_destination"].startswith("s3://")
    assert _command(compose["services"]["minio"])[:2] == ["server", "/data"]
    init = " ".join(_command(compose["services"]["minio-init"]))
    assert "mc mb" in init


# Read by the code but not deployment settings: a crash-test failpoint, a value the code sets
# itself around a library call, the rank variables torch's launcher sets per process, the task
# context Airflow sets per task, and OpenLineage's optional transport settings (docs/lineage.md:
# unset, the standard client's defaults hold).
NOT_SETTINGS = {"AUGMENT_FAULT", "TQDM_DISABLE", "RANK", "WORLD_SIZE", "LOCAL_RANK", "AUGMENT_DEBUG",
                "AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_DAG_RUN_ID", "OPENLINEAGE_API_KEY", "OPENLINEAGE_CONFIG",
                "OPENLINEAGE_DISABLED", "OPENLINEAGE_ENDPOINT"}


def _variables_read_by_code() -> set[str]:
    names: set[str] = set()
    for folder in ("augment_jobs", "dags", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            for a, b in ENV_READ.findall(path.read_text()):
                names.add(a or b)
    return names - NOT_SETTINGS


def test_every_variable_the_code_reads_is_set_for_airflow(compose: dict) -> None:
    names = _variables_read_by_code()
    assert {"AUGMENT_STORE", "AUGMENT_CONFIGS", "MLFLOW_TRACKING_URI"} <= names
    for name, svc in {**_airflow_services(compose), "mlflow": compose["services"]["mlflow"]}.items():
        env = svc["environment"]
        missing = sorted(n for n in names if n not in env)
        assert not missing, f"{name} does not set {missing}"
    assert compose["services"]["airflow-worker"]["environment"]["AUGMENT_STORE"].startswith("s3://")


def test_env_example_covers_every_compose_variable(compose: dict) -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    example = ROOT / ".env.example"
    defined = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert not sorted(used - defined), f".env.example lacks {sorted(used - defined)}"
    for line in example.read_text().splitlines():
        key, _, value = line.partition("=")
        if not line.startswith("#") and any(w in key for w in ("PASSWORD", "SECRET", "FERNET")):
            assert value == "change-me", f"{key} in .env.example must be a placeholder"
