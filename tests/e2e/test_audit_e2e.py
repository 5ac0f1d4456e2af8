"""The audit stream end to end, through a real data plane: a batch and a search leave a
verifiable chain; the search's `audit_seq` has an inclusion proof against a signed
checkpoint; an export verifies offline with the CLI and a tampered copy does not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from frostbyte_cli.main import Deps, app
from frostbyte_common import merkle
from frostbyte_common.audit_checkpoint import load_signing_key, public_key_text
from tests.e2e.harness import E2E_AUDIT_KEY, ROOT, DataPlaneHarness, submit, wait_batch
from tests.seaweedfs_fixture import S3Tenant

pytestmark = pytest.mark.e2e

PUBLIC_KEY = public_key_text(load_signing_key(E2E_AUDIT_KEY.encode()))


@pytest.fixture(scope="module")
def plane(module_database: str, module_bucket: S3Tenant,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("audit-e2e", module_database, tmp_path_factory.mktemp("dp"),
                          s3=module_bucket) as harness:
        yield harness


@pytest.fixture(scope="module")
def searched(plane: DataPlaneHarness) -> dict[str, Any]:
    files = [ROOT / "samples" / "incident-response-runbook.md"]
    with plane.client() as client:
        receipt = submit(client, files)
        wait_batch(client, receipt["batch_id"])
        body = client.post("/v1/search", json={"query": "incident severity", "top_k": 2})
        return {"receipt": receipt, "search": body.json()}


def test_the_search_audit_seq_is_proven_against_a_signed_checkpoint(
        plane: DataPlaneHarness, searched: dict[str, Any]) -> None:
    seq = searched["search"]["proof"]["audit_seq"]
    with plane.client() as client:
        proof = client.get(f"/v1/audit/proof/{seq}").json()
        event = client.get("/v1/audit/events", params={"after_seq": seq - 1, "limit": 1}
                           ).json()["events"][0]
        verdict = client.get("/v1/audit/verify").json()
    assert event["event_type"] == "retrieval.performed" and event["hash"] == proof["event_hash"]
    assert proof["checkpoint"]["public_key"] == PUBLIC_KEY and proof["tree_size"] >= seq
    assert merkle.verify_inclusion(
        merkle.leaf_hash(bytes.fromhex(proof["event_hash"])), seq - 1, proof["tree_size"],
        [bytes.fromhex(p) for p in proof["proof"]], bytes.fromhex(proof["root_hash"]))
    assert verdict["ok"] is True and verdict["checkpoints"] >= 1


def test_document_history_and_report_head(plane: DataPlaneHarness,
                                          searched: dict[str, Any]) -> None:
    (doc,) = searched["receipt"]["documents"]
    batch_id = searched["receipt"]["batch_id"]
    with plane.client() as client:
        history = client.get("/v1/audit/events", params={"document_id": doc["document_id"]}
                             ).json()["events"]
        report = client.get(f"/v1/batches/{batch_id}/report").json()
    types = [e["event_type"] for e in history]
    assert types[0] == "document.ingested" and types[-1] == "document.indexed"
    assert {"document.parsed", "document.classified", "document.embedded"} <= set(types)
    payloads = json.dumps([e["payload"] for e in history])
    hits = searched["search"]["hits"]
    assert hits and all(h["text"][:40] not in payloads for h in hits)  # no document text
    assert report["audit"]["head_seq"] >= history[-1]["seq"]


def test_export_verifies_offline_and_a_tampered_copy_does_not(
        plane: DataPlaneHarness, searched: dict[str, Any], tmp_path: Path) -> None:
    with plane.client() as client:
        export = client.post("/v1/audit/export")
    assert export.status_code == 200
    good = tmp_path / "export.jsonl"
    good.write_bytes(export.content)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify-export", str(good), "--public-key", PUBLIC_KEY],
                       obj=Deps(width=200))
    assert ok.exit_code == 0, ok.output
    lines = good.read_text().splitlines(keepends=True)
    event = json.loads(lines[2])
    event["actor"] = "mallory"
    lines[2] = json.dumps(event) + "\n"
    bad = tmp_path / "tampered.jsonl"
    bad.write_text("".join(lines))
    broken = runner.invoke(app, ["audit", "verify-export", str(bad)], obj=Deps(width=200))
    assert broken.exit_code == 1 and "line 3, seq 2" in broken.output
