"""End to end through the CLI on a real local store: publish, no-op reruns, backfills, the gate,
bad inputs, crashes and races. Everything real: imbalanced-learn, GX, MLflow (SQLite), pyarrow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from augment_jobs.cli import main
from augment_jobs.publish import latest_version
from augment_jobs.reader import open_dataset
from augment_jobs.tabular.demo import write_credit

REPO = Path(__file__).resolve().parents[2]
D1, D2 = "2026-11-01", "2026-11-02"
pytestmark = pytest.mark.integration


def make_config(tmp_path: Path, **changes: object) -> Path:
    """A copy of the credit_default demo config (and its suite) under tmp_path, with changes."""
    cfg = yaml.safe_load((REPO / "configs" / "credit_default.yaml").read_text())
    for key, value in changes.items():
        target = cfg
        *parents, last = key.split(".")
        for p in parents:
            target = target[p]
        target[last] = value
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "expectations").mkdir(exist_ok=True)
    suite = tmp_path / "expectations" / "credit_default.json"
    if not suite.exists():
        shutil.copy(REPO / "expectations" / "credit_default.json", suite)
    path = tmp_path / "configs" / "credit_default.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def raw(store: Path, ds: str) -> Path:
    return store / "raw" / "credit_default" / ds


def published(store: Path) -> Path:
    return store / "published" / "credit_default"


def committed(store: Path) -> list[str]:
    return sorted(p.parent.name for p in published(store).glob("versions/*/_manifest.json"))


def run(config: Path, ds: str, *extra: str) -> int:
    return main(["run", str(config), "--date", ds, *extra])


def test_publish_then_rerun_is_a_noop_with_identical_bytes(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(tmp_path)
    write_credit(str(raw(store, D1)), D1, rows=3000)
    assert run(config, D1) == 0
    out = capsys.readouterr().out
    (version,) = committed(store)
    assert version.startswith(D1 + ".") and f"version   {version}" in out

    ds = open_dataset(str(published(store)))
    m = ds.manifest
    assert ds.version == version == latest_version(str(published(store)))
    for key in ("dataset", "version", "logical_date", "created_at", "config_sha256", "seed", "platform_version",
                "source", "files", "rows", "counts", "gate", "mlflow"):
        assert key in m, key
    assert m["gate"]["passed"] and m["mlflow"]["run_id"]
    assert m["source"][0]["uri"].endswith("credit.csv") and m["source"][0]["etag"]
    df = ds.to_pandas()
    assert len(df) == m["rows"]
    assert df["_id"].is_unique
    real, synth = df[~df["_synthetic"]], df[df["_synthetic"]]
    assert len(real) == 3000 and (real["_id"].str.startswith("credit.csv#")).all()
    assert counts_match(m, df)
    # every synthetic SMOTE row names its two parents, both real rows of its class
    parents = synth["_source_ids"].map(len)
    assert (parents == 2).all()
    assert set(synth["_source_ids"].explode()) <= set(real[real["default"] == 1]["_id"])
    assert (synth["_method"] == "smote").all()
    assert len(ds.to_pandas(real_only=True)) == 3000
    assert ds.verify()
    import duckdb  # stock tools read the published files as they are

    paths = ", ".join(f"'{u}'" for u in ds.files)
    assert duckdb.sql(f"select count(*) from read_parquet([{paths}]) where _synthetic").fetchall()[0][0] == len(synth)

    shas = [f["sha256"] for f in m["files"]]
    assert run(config, D1) == 0 and committed(store) == [version]
    assert "already published" in capsys.readouterr().out
    assert run(config, D1, "--force") == 0
    assert "identical to the committed version" in capsys.readouterr().out
    assert [f["sha256"] for f in open_dataset(str(published(store))).manifest["files"]] == shas
    assert not (published(store) / "_staging" / version).exists()

    # a fresh store, same config, date and source: same version, byte-identical files
    other = tmp_path / "other-store"
    shutil.copytree(raw(store, D1), other / "raw" / "credit_default" / D1)
    os.environ["AUGMENT_STORE"] = str(other)
    assert run(config, D1) == 0
    again = open_dataset(str(published(other)))
    assert again.version == version and [f["sha256"] for f in again.manifest["files"]] == shas


def counts_match(manifest: dict, df: pd.DataFrame) -> bool:
    for cls, c in manifest["counts"].items():
        rows = df[df["default"].astype(str) == cls]
        if len(rows) != c["after"] or int(rows["_synthetic"].sum()) != c["synthetic"]:
            return False
    return True


def test_backfill_of_older_date_keeps_latest_and_rollback_moves_it(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path)
    for ds in (D1, D2):
        write_credit(str(raw(store, ds)), ds, rows=1500)
    assert run(config, D2) == 0
    newest = latest_version(str(published(store)))
    assert run(config, D1) == 0  # the backfill
    assert latest_version(str(published(store))) == newest
    versions = committed(store)
    assert len(versions) == 2
    capsys.readouterr()
    assert main(["versions", str(published(store))]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith(newest) and "latest" in listing[0]
    older = next(v for v in versions if v != newest)
    assert main(["rollback", str(published(store)), older]) == 0
    assert latest_version(str(published(store))) == older
    assert open_dataset(str(published(store))).version == older
    assert open_dataset(str(published(store)), version=newest).version == newest


def test_failed_gate_exits_3_quarantines_and_keeps_latest(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path)
    write_credit(str(raw(store, D1)), D1, rows=1500)
    write_credit(str(raw(store, D2)), D2, rows=1500)
    assert run(config, D1) == 0
    good = latest_version(str(published(store)))
    strict = make_config(tmp_path, **{"limits.max_synthetic_ratio": 0.01, "limits.max_rows": 100})
    assert run(strict, D2) == 3
    err = capsys.readouterr().err
    assert "quality gate failed" in err and "synthetic_share" in err and "quarantine" in err
    assert committed(store) == [good]
    assert latest_version(str(published(store))) == good
    (q,) = list((published(store) / "quarantine").iterdir())
    report = json.loads((q / "gate" / "report.json").read_text())
    assert not report["passed"]
    assert any(c["name"] == "synthetic_share" and not c["passed"] for c in report["checks"])
    assert any(c["name"] == "max_rows" and not c["passed"] for c in report["checks"])
    assert list((q / "data").glob("*.parquet"))
    assert not (published(store) / "versions" / q.name).exists()
    capsys.readouterr()
    assert main(["show", str(published(store)), q.name]) == 3  # why it failed, without reading JSON
    shown = capsys.readouterr().out
    assert "QUARANTINED" in shown and "[FAIL] synthetic_share" in shown


def _bad_suite_column(tmp: Path) -> None:
    (tmp / "expectations" / "credit_default.json").write_text(json.dumps({
        "name": "credit_default",
        "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income"}}],
    }))


def _write_df(path: Path, df: pd.DataFrame, fmt: str = "csv", **kw: object) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for f in path.iterdir():
        f.unlink()
    if fmt == "csv":
        df.to_csv(path / "credit.csv", index=False, **kw)
    else:
        df.to_parquet(path / "credit.parquet", index=False)


def _source(store: Path) -> pd.DataFrame:
    return pd.read_csv(raw(store, D2) / "credit.csv")


BAD_INPUTS = {
    # name: (mutate(store, tmp), config changes, expected message fragment)
    "missing partition": (lambda s, t: shutil.rmtree(raw(s, D2)), {}, "source partition missing or empty"),
    "empty partition": (lambda s, t: _write_df(raw(s, D2), _source(s).head(0)), {}, "has no rows"),
    "missing label column": (lambda s, t: _write_df(raw(s, D2), _source(s).drop(columns="default")), {},
                             "label column 'default' not found"),
    "one class only": (lambda s, t: _write_df(raw(s, D2), _source(s).assign(default=0)), {}, "needs 2+ classes"),
    "non-numeric column": (lambda s, t: _write_df(raw(s, D2), _source(s).assign(age="old")), {}, "age"),
    "truncated parquet": (lambda s, t: (_write_df(raw(s, D2), _source(s), fmt="parquet"),
                                        _truncate(raw(s, D2) / "credit.parquet")),
                          {"source.format": "parquet"}, "credit.parquet: not a readable parquet file"),
    "csv wrong delimiter": (lambda s, t: _write_df(raw(s, D2), _source(s), sep=";"), {}, "delimiter"),
    "unknown config key": (lambda s, t: None, {"limits.max_synthetic_ratioo": 0.5}, "unknown key 'limits.max_synthetic_ratioo'"),
    "unknown method": (lambda s, t: None, {"augment": [{"method": "smoth", "params": {}}]}, "unknown method 'smoth'"),
    "malformed suite": (lambda s, t: (t / "expectations" / "credit_default.json").write_text("{oops"), {},
                        "suite is not valid JSON"),
    "suite names a missing column": (lambda s, t: _bad_suite_column(t), {}, "names column 'income'"),
    "dataset name with a path": (lambda s, t: None, {"dataset": "../x"}, "dataset: "),
    "publish uri not writable": (lambda s, t: (t / "afile").write_text("x"), {"publish.uri": "__TMP__/afile/published"},
                                 "not writable"),
}


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exit_2_one_line_nothing_published(
    case: str, store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mutate, changes, fragment = BAD_INPUTS[case]
    good_config = make_config(tmp_path)
    write_credit(str(raw(store, D1)), D1, rows=1200)
    write_credit(str(raw(store, D2)), D2, rows=1200)
    assert run(good_config, D1) == 0
    good = latest_version(str(published(store)))
    capsys.readouterr()
    changes = {k: (v.replace("__TMP__", str(tmp_path)) if isinstance(v, str) else v) for k, v in changes.items()}
    config = make_config(tmp_path, **changes)
    mutate(store, tmp_path)
    code = run(config, D2)
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error")]
    assert code == 2, stderr
    assert len(errors) == 1, stderr  # one line, after any progress lines
    assert fragment in errors[0], stderr
    assert committed(store) == [good]
    assert latest_version(str(published(store))) == good


def test_small_minority_adapts_k_and_records_it(store: Path, tmp_path: Path) -> None:
    config = make_config(tmp_path, **{"augment": [{"method": "smote", "params": {"sampling_strategy": 0.05, "k_neighbors": 5}}],
                                      "quality.similarity": {"min_rows": 50}})
    df = pd.read_csv(_credit_csv(store, tmp_path))
    df = pd.concat([df[df["default"] == 0].head(400), df[df["default"] == 1].head(4)])
    _write_df(raw(store, D1), df)
    assert run(config, D1) == 0
    m = open_dataset(str(published(store))).manifest
    assert any("k_neighbors" in n for n in m["notes"]), m["notes"]


def _credit_csv(store: Path, tmp_path: Path) -> Path:
    write_credit(str(tmp_path / "seed"), D1, rows=2000)
    return tmp_path / "seed" / "credit.csv"


# --- crashes and races: real processes, SIGKILL at named points ----------------------------------------
def _cli(config: Path, ds: str, env: dict[str, str], fault: str | None = None) -> subprocess.CompletedProcess[str]:
    e = {**env, **({"AUGMENT_FAULT": fault} if fault else {})}
    return subprocess.run([sys.executable, "-m", "augment_jobs", "run", str(config), "--date", ds],
                          env=e, capture_output=True, text=True, timeout=300)


FAULTS = ["augment:before_result", "publish:mid_move", "publish:before_manifest", "publish:before_latest",
          "lineage:before_cleanup"]


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS)
def test_sigkill_leaves_store_consistent_and_rerun_completes(store: Path, tmp_path: Path, fault: str) -> None:
    config = make_config(tmp_path)
    write_credit(str(raw(store, D1)), D1, rows=1200)
    write_credit(str(raw(store, D2)), D2, rows=1200)
    assert run(config, D1) == 0
    before = latest_version(str(published(store)))
    proc = _cli(config, D2, dict(os.environ), fault)
    assert proc.returncode == -9, proc.stderr
    # readers see the previous state or the complete new version, never a partial one
    latest = latest_version(str(published(store)))
    for v in committed(store):
        assert open_dataset(str(published(store)), v).verify()
    if fault in ("augment:before_result", "publish:mid_move", "publish:before_manifest"):
        assert latest == before and len(committed(store)) == 1
    assert open_dataset(str(published(store))).verify()
    assert (published(store) / "_locks" / f"{D2}.lock").exists()  # the dead run's lease is left behind
    assert run(config, D2) == 0  # ...and does not block the rerun
    assert len(committed(store)) == 2
    ds = open_dataset(str(published(store)))
    assert ds.version.startswith(D2) and ds.verify()
    assert not (published(store) / "_staging" / ds.version).exists()


@pytest.mark.slow
def test_two_concurrent_runs_produce_one_version(store: Path, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    write_credit(str(raw(store, D1)), D1, rows=1500)
    cmd = [sys.executable, "-m", "augment_jobs", "run", str(config), "--date", D1]
    procs = [subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    (version,) = committed(store)
    assert latest_version(str(published(store))) == version
    assert open_dataset(str(published(store))).verify()
    assert sum("already published" in o for o, _ in outs) == 1


# --- S3 over a real HTTP endpoint ---------------------------------------------------------------------
def test_s3_end_to_end(s3_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import boto3
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    config = make_config(tmp_path)
    for ds in (D1, D2):
        write_credit(f"{s3_store}/raw/credit_default/{ds}/", ds, rows=1500)
    uri = f"{s3_store}/published/credit_default"
    assert run(config, D2) == 0
    assert run(config, D1) == 0  # backfill: latest stays on D2
    ds = open_dataset(uri)
    assert ds.version.startswith(D2) and ds.verify()
    assert ds.to_pandas()["_id"].is_unique
    assert run(config, D2) == 0 and "already published" in capsys.readouterr().out

    bucket, prefix = s3_store[5:].split("/", 1)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert sum(k.endswith("/_manifest.json") for k in keys) == 2
    assert not [k for k in keys if "/_staging/" in k and not k.endswith(".write-probe")]
    # stock pyarrow reads the published files straight from S3
    endpoint = os.environ["AWS_ENDPOINT_URL"].split("://")[1]
    fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", region="us-east-1")
    paths = [f"{bucket}/{prefix}/published/credit_default/versions/{ds.version}/{f['path']}" for f in ds.manifest["files"]]
    assert pads.dataset(paths, filesystem=fs).count_rows() == ds.manifest["rows"]


def test_retention_keeps_latest_and_pinned(store: Path, tmp_path: Path) -> None:
    dates = ["2026-09-30", "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04"]
    for ds in dates:
        write_credit(str(raw(store, ds)), ds, rows=800)
    config = make_config(tmp_path, **{"publish.retention": {"keep_last": 2}})
    for ds in dates[1:4]:
        assert run(config, ds) == 0
    assert [v[:10] for v in committed(store)] == dates[2:4]  # 10-01 deleted
    v1002, v1003 = committed(store)
    pinned = make_config(tmp_path, **{"publish.retention": {"keep_last": 1, "pinned": [v1002]}})
    assert run(pinned, dates[4]) == 0
    assert [v[:10] for v in committed(store)] == [dates[2], dates[4]]  # 10-03 deleted, pinned 10-02 kept
    assert main(["rollback", str(published(store)), v1002]) == 0
    tight = make_config(tmp_path, **{"publish.retention": {"keep_last": 1}})
    assert run(tight, dates[0]) == 0  # a backfill: latest stays on the rolled-back 10-02
    assert latest_version(str(published(store))) == v1002
    assert v1002 in committed(store)  # latest is never deleted
    assert not (published(store) / "versions" / v1003).exists()


def test_source_uri_can_name_a_single_file(store: Path, tmp_path: Path) -> None:
    config = make_config(tmp_path, **{"source.uri": "{store}/raw/credit_default/{ds}/credit.csv"})
    write_credit(str(raw(store, D1)), D1, rows=1000)
    (raw(store, D1) / "other.csv").write_text("not,the,file\n")  # a neighbour that must not be read
    assert run(config, D1) == 0
    m = open_dataset(str(published(store))).manifest
    assert [s["uri"].rsplit("/", 1)[-1] for s in m["source"]] == ["credit.csv"]
