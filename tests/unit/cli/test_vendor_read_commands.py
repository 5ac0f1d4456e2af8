"""The vendor's read commands: ``batch list``, ``documents list|get``, ``quarantine list``,
``audit events|proof|export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from frostbyte_common import merkle
from frostbyte_common.audit_checkpoint import sign_checkpoint
from tests.unit.cli.fakes import FakeApis
from tests.unit.cli.test_commands import TENANT_ENV, invoke

DOC_ID = "0b5e5b2c-0000-4000-8000-000000000001"


def run(fake: FakeApis, *args: str) -> Any:
    return invoke(fake, list(args), TENANT_ENV)


def test_batch_list_pages_and_shows_each_batch(tmp_path: Path) -> None:
    fake = FakeApis()
    (tmp_path / "a.txt").write_text("a")
    assert run(fake, "batch", "submit", str(tmp_path / "a.txt"), "--no-wait").exit_code == 0
    result = run(fake, "batch", "list", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert "b-1" in result.stdout and "PROCESSING" in result.stdout
    assert "--offset 1" in result.stdout
    request = fake.requests[-1]
    assert (request.url.path, request.url.params["limit"]) == ("/v1/batches", "1")
    body = json.loads(run(fake, "batch", "list", "--json").stdout)
    assert [b["batch_id"] for b in body["batches"]] == ["b-1"]


def test_documents_list_prints_names_as_written() -> None:
    result = run(FakeApis(), "documents", "list")
    assert result.exit_code == 0, result.output
    assert "[bold]report[/].pdf" in result.stdout and DOC_ID in result.stdout
    assert json.loads(run(FakeApis(), "documents", "list", "--json").stdout)["documents"][0][
        "chunk_count"] == 7


def test_documents_get_prints_the_canonical_json_or_exits_4(tmp_path: Path) -> None:
    result = run(FakeApis(), "documents", "get", DOC_ID)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["elements"][0]["text"] == "A"
    out = tmp_path / "doc.json"
    assert run(FakeApis(), "documents", "get", DOC_ID, "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["document_id"] == DOC_ID
    missing = run(FakeApis(), "documents", "get", "0b5e5b2c-0000-4000-8000-000000000002")
    assert missing.exit_code == 4 and "DOCUMENT_NOT_FOUND" in missing.stderr
    assert run(FakeApis(), "documents", "get", "not-an-id").exit_code == 2


def test_quarantine_list_is_the_vendors_read_only_view() -> None:
    fake = FakeApis()
    result = run(fake, "quarantine", "list")
    assert result.exit_code == 0, result.output
    assert "MALWARE_DETECTED" in result.stdout and "Eicar-Test-Signature" in result.stdout
    assert fake.requests[-1].url.path == "/v1/quarantine"
    assert fake.requests[-1].headers["authorization"] == "Bearer fbk_test"


def test_audit_events_follows_the_pages_with_all() -> None:
    fake = FakeApis()
    one = json.loads(run(fake, "audit", "events", "--limit", "2", "--json").stdout)
    assert [e["seq"] for e in one["events"]] == [1, 2] and one["next_after_seq"] == 2
    every = json.loads(run(fake, "audit", "events", "--limit", "2", "--all", "--json",
                           "--type", "batch.received").stdout)
    assert [e["seq"] for e in every["events"]] == [1, 2, 3, 4, 5]
    assert fake.requests[-1].url.params["type"] == "batch.received"
    table = run(fake, "audit", "events", "--limit", "2")
    assert "batch.received" in table.stdout and "--after-seq 2" in table.stdout


def _proof(seq: int, events: int = 5) -> dict[str, Any]:
    hashes = [f"{i:064x}" for i in range(1, events + 1)]
    leaves = [merkle.leaf_hash(bytes.fromhex(h)) for h in hashes]
    root = merkle.root(leaves).hex()
    checkpoint = sign_checkpoint(Ed25519PrivateKey.generate(), tenant="acme",
                                 tree_size=events, root_hash=root)
    return {"seq": seq, "leaf_index": seq - 1, "event_hash": hashes[seq - 1],
            "leaf_hash": leaves[seq - 1].hex(), "tree_size": events, "root_hash": root,
            "proof": [p.hex() for p in merkle.inclusion_proof(leaves, seq - 1)],
            "checkpoint": checkpoint.to_json()}


def test_audit_proof_is_checked_here_and_a_forged_one_exits_1() -> None:
    fake = FakeApis()
    fake.proofs[3] = _proof(3)
    good = run(fake, "audit", "proof", "3")
    assert good.exit_code == 0, good.output
    assert "event 3 is included" in good.stdout
    forged = _proof(3)
    forged["event_hash"] = "f" * 64
    fake.proofs[4] = forged | {"seq": 4}
    bad = run(fake, "audit", "proof", "4", "--json")
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["verified"]["inclusion"] is False
    resigned = _proof(2)
    resigned["checkpoint"]["signature"] = _proof(2)["checkpoint"]["signature"]
    fake.proofs[2] = resigned
    other_key = run(fake, "audit", "proof", "2")
    assert other_key.exit_code == 1 and "does NOT hold" in other_key.stdout
    assert run(fake, "audit", "proof", "9").exit_code == 4


def test_audit_export_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    result = run(FakeApis(), "audit", "export", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == FakeApis().export_body
    assert not (tmp_path / "audit.jsonl.part").exists()
