"""Shared fixtures: an isolated store and MLflow per test, a real S3 endpoint (moto's server)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One real MLflow SQLite tracking store for the session (schema migrations cost seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_uri: str) -> Path:
    """A fresh local store as AUGMENT_STORE; returns its folder."""
    from augment_jobs.store import reset_stores

    root = tmp_path / "store"
    root.mkdir()
    monkeypatch.setenv("AUGMENT_STORE", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    monkeypatch.delenv("AUGMENT_FAULT", raising=False)
    reset_stores()
    yield root
    reset_stores()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server over real HTTP on a free local port."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, mlflow_uri: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket as AUGMENT_STORE (s3://...), credentials and endpoint in the standard variables."""
    import boto3

    from augment_jobs.store import reset_stores

    for k, v in {
        "AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "MLFLOW_TRACKING_URI": mlflow_uri,
    }.items():
        monkeypatch.setenv(k, v)
    bucket = "augment-" + request.node.name.lower().replace("_", "-")[:40].strip("-[]")
    bucket = "".join(c if c.isalnum() or c == "-" else "-" for c in bucket)
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    monkeypatch.setenv("AUGMENT_STORE", f"s3://{bucket}/lake")
    reset_stores()
    yield f"s3://{bucket}/lake"
    reset_stores()
