"""The audit log: an append-only hash chain under `<publish.uri>/_audit/`, locally and on S3 (moto's
server), and every way of editing it by hand named at the entry where the chain breaks."""

from __future__ import annotations

import json
import threading

import pytest

from augment_jobs import governance
from augment_jobs.governance import AuditBroken, append, entry_hash, read_chain, verified_chain
from augment_jobs.store import join, store_for


def _log(uri: str, n: int = 3) -> list[dict]:
    return [append(uri, "approval", policy=f"{i:064x}", by=f"person {i}", note=None) for i in range(n)]


def test_entries_chain_and_verify_locally(tmp_path):
    uri = str(tmp_path / "published" / "d")
    entries = _log(uri)
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert entries[0]["prev"] == governance.GENESIS and entries[1]["prev"] == entries[0]["hash"]
    assert all(e["hash"] == entry_hash(e) for e in entries)
    chain = verified_chain(uri)
    assert chain.entries == entries and chain.head == entries[-1]["hash"] and chain.broken is None
    assert sorted(p.name for p in (tmp_path / "published" / "d" / "_audit").iterdir()) == [
        "00000000.json", "00000001.json", "00000002.json"]


def test_concurrent_appends_never_share_a_number(tmp_path):
    uri = str(tmp_path / "d")
    threads = [threading.Thread(target=_log, args=(uri, 5)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    chain = verified_chain(uri)
    assert [e["seq"] for e in chain.entries] == list(range(20))


@pytest.mark.parametrize("tamper, expect", [
    ("edit", "entry 1: {log}/00000001.json was changed after it was written"),
    ("delete", "entry 1: {log}/00000001.json is missing"),
    ("swap", "entry 1: {log}/00000001.json does not hold entry 1"),
    ("rehash", "entry 2: {log}/00000002.json does not link to entry 1's hash"),
    ("garbage", "entry 1: {log}/00000001.json is not valid JSON"),
    ("stray", "{log}/notes.txt is not an audit entry"),
])
def test_hand_edits_name_the_broken_entry(tmp_path, tamper, expect):
    uri = str(tmp_path / "d")
    _log(uri)
    log = tmp_path / "d" / "_audit"
    one = json.loads((log / "00000001.json").read_text())
    if tamper == "edit":
        one["by"] = "Mallory"
        (log / "00000001.json").write_text(json.dumps(one))
    elif tamper == "delete":
        (log / "00000001.json").unlink()
    elif tamper == "swap":
        (log / "00000001.json").write_text((log / "00000002.json").read_text())
    elif tamper == "rehash":  # a careful forger recomputes the edited entry's own hash
        one["by"] = "Mallory"
        one["hash"] = entry_hash(one)
        (log / "00000001.json").write_text(json.dumps(one))
    elif tamper == "garbage":
        (log / "00000001.json").write_text("{not json")
    else:
        (log / "notes.txt").write_text("hi")
    chain = read_chain(uri)
    assert chain.broken and expect.format(log=str(log)) in chain.broken, chain.broken
    with pytest.raises(AuditBroken) as e:
        verified_chain(uri)
    assert len(str(e.value).splitlines()) == 1
    with pytest.raises(AuditBroken):  # nothing is chained onto a broken log
        append(uri, "approval", policy="0" * 64, by="x")


@pytest.mark.integration
def test_on_s3_appends_are_exclusive_and_edits_are_caught(s3_store):
    import boto3

    uri = join(s3_store, "published", "d")
    entries = _log(uri, 2)
    store = store_for(uri)
    assert not store.put_if_absent(join(uri, "_audit", "00000001.json"), b"{}")  # an entry is never replaced
    assert verified_chain(uri).entries == entries
    bucket, key = s3_store[len("s3://"):].split("/", 1)
    first = dict(entries[0], by="Mallory")
    boto3.client("s3").put_object(Bucket=bucket, Key=f"{key}/published/d/_audit/00000000.json",
                                  Body=json.dumps(first).encode())
    assert "entry 0" in read_chain(uri).broken and "changed after it was written" in read_chain(uri).broken


def test_audit_command_on_a_dataset_without_a_log(tmp_path, capsys):
    from augment_jobs.cli import main

    pub = tmp_path / "published" / "d"
    assert main(["audit", str(pub)]) == 2
    assert "no dataset and no audit log" in capsys.readouterr().err
    pub.mkdir(parents=True)
    (pub / "_latest").write_text('{"version": "2026-01-01.aaaaaaaa"}')  # published before governance
    assert main(["audit", str(pub)]) == 0
    assert "no entries yet" in capsys.readouterr().out
    _log(str(pub), 2)
    assert main(["audit", str(pub), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["seq"] for e in out["entries"]] == [0, 1] and out["broken"] is None


def test_record_dp_composes_through_the_context():
    from augment_jobs.privacy_dp import epsilon_spent
    from augment_jobs.registry import AugmentContext

    ctx = AugmentContext(cfg=None, ds="2026-01-01", step=1)  # type: ignore[arg-type]
    ctx.record_dp({"epsilon": 1.0, "delta": 1e-9, "mechanism": "mst"}, "class a")
    ctx.record_dp({"epsilon": 1.0, "delta": 1e-9, "mechanism": "mst"}, "class b")
    assert [r["partition"] for r in ctx.dp] == ["class a", "class b"] and ctx.dp[0]["step"] == 1
    assert epsilon_spent(ctx.dp)["epsilon"] == 1.0  # disjoint classes: parallel composition
