"""End to end through the tenant HTTP API with real processes: PostgreSQL, procrastinate
worker, docling/unstructured, the local embedding model and the embedded index (Qdrant Edge)."""

from __future__ import annotations

import hashlib
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.harness import ROOT, DataPlaneHarness, submit, wait_batch
from tests.seaweedfs_fixture import S3Tenant

pytestmark = pytest.mark.e2e

SAMPLES = sorted(p for p in (ROOT / "samples").iterdir() if p.name != "README.md")
CORPUS = ROOT.parent / "shared" / "corpus" / "real"


@pytest.fixture(scope="module")
def plane(module_database: str, module_bucket: S3Tenant,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("e2e", module_database, tmp_path_factory.mktemp("dp"),
                          s3=module_bucket) as harness:
        yield harness


@pytest.fixture(scope="module")
def first_batch(plane: DataPlaneHarness) -> dict[str, Any]:
    tampered = "incident-response-runbook.md"
    with plane.client() as client:
        receipt = submit(client, SAMPLES, wrong_sha={tampered})
        return {"receipt": receipt, "final": wait_batch(client, receipt["batch_id"]),
                "tampered": tampered}


def test_receipt_rejects_the_bad_checksum_and_accepts_the_rest(
        first_batch: dict[str, Any]) -> None:
    docs = {d["name"]: d for d in first_batch["receipt"]["documents"]}
    assert set(docs) == {p.name for p in SAMPLES}
    bad = docs[first_batch["tampered"]]
    assert (bad["status"], bad["reason"]) == ("REJECTED", "CHECKSUM_MISMATCH")
    assert bad["sha256"] != bad["declared_sha256"]
    assert "document_id" not in bad or bad["document_id"] is None
    for name, d in docs.items():
        if name != first_batch["tampered"]:
            assert d["status"] == "ACCEPTED", d
            assert d["document_id"] and d["sha256"] == d["declared_sha256"]


def test_every_accepted_sample_ends_indexed(first_batch: dict[str, Any]) -> None:
    final = first_batch["final"]
    assert final["status"] == "COMPLETED_WITH_ERRORS"  # the tampered file
    for d in final["documents"]:
        if d["name"] != first_batch["tampered"]:
            assert d["status"] == "INDEXED", d


@pytest.mark.parametrize(
    ("query", "expected_document"),
    [
        ("fire extinguisher and sprinkler inspection findings", "annual-safety-report.pdf"),
        ("cold-chain vaccine shipment delayed, temperature loggers",
         "late-shipment-vaccines.eml"),
        ("sanctions screening and bank detail verification for new suppliers",
         "supplier-onboarding-policy.docx"),
        ("Aurora telemetry platform milestones", "product-roadmap.pptx"),
    ],
)
def test_search_cites_the_right_sample(plane: DataPlaneHarness, first_batch: dict[str, Any],
                                       query: str, expected_document: str) -> None:
    with plane.client() as client:
        body = client.post("/v1/search", json={"query": query, "top_k": 3}).json()
    hits = body["hits"]
    assert hits, body
    top = hits[0]
    assert top["document_name"] == expected_document
    assert top["text"] and top["heading_path"], top
    assert top["text"] in top["text_enveloped"]
    if expected_document.endswith((".pdf", ".pptx")):
        assert isinstance(top["page"], int) and top["page"] >= 1
    proof = body["proof"]
    assert proof["query_sha256"] == hashlib.sha256(query.encode()).hexdigest()
    assert proof["chunk_hashes"] == [h["content_sha256"] for h in hits]
    assert all(h["content_sha256"] == hashlib.sha256(h["text"].encode()).hexdigest()
               for h in hits)
    assert proof["index"]["dimension"] == 384 and proof["audit_seq"] > 0


def test_pdf_hits_carry_page_and_heading(plane: DataPlaneHarness,
                                         first_batch: dict[str, Any]) -> None:
    with plane.client() as client:
        body = client.post("/v1/search", json={
            "query": "evacuation drill", "top_k": 10}).json()
    pdf_hits = [h for h in body["hits"] if h["document_name"] == "annual-safety-report.pdf"]
    assert pdf_hits
    assert {h["page"] for h in pdf_hits} <= {1, 2, 3, 4, 5}
    assert all(h["heading_path"] for h in pdf_hits)


def test_resubmitting_the_same_bytes_is_a_duplicate(plane: DataPlaneHarness,
                                                    first_batch: dict[str, Any]) -> None:
    pdf = ROOT / "samples" / "annual-safety-report.pdf"
    original = next(d for d in first_batch["receipt"]["documents"] if d["name"] == pdf.name)
    with plane.client() as client:
        receipt = submit(client, [pdf], client_ref="again")
        (doc,) = receipt["documents"]
        assert (doc["status"], doc["reason"]) == ("REJECTED", "DUPLICATE")
        assert doc["document_id"] == original["document_id"]
        assert wait_batch(client, receipt["batch_id"])["status"] == "COMPLETED"


def test_report_and_audit_chain(plane: DataPlaneHarness, first_batch: dict[str, Any]) -> None:
    batch_id = first_batch["receipt"]["batch_id"]
    with plane.client() as client:
        report = client.get(f"/v1/batches/{batch_id}/report").json()
        csv_text = client.get(f"/v1/batches/{batch_id}/report", params={"format": "csv"}).text
        html = client.get(f"/v1/batches/{batch_id}/report", params={"format": "html"}).text
        verify = client.get("/v1/audit/verify").json()
    assert report["counts"]["by_reason"] == {"CHECKSUM_MISMATCH": 1}
    assert report["embedding_model"]["dimension"] == 384
    assert {"parse", "chunk", "embed", "index"} <= set(report["seconds_by_stage"])
    parsed = [d for d in report["documents"] if d["status"] == "INDEXED"]
    assert all(d["parser"] and d["chunks"] for d in parsed)
    assert csv_text.splitlines()[0].startswith("name,document_id,status")
    assert "CHECKSUM_MISMATCH" in html
    assert verify["ok"] is True and verify["events"] >= report["audit"]["head_seq"]


def test_bad_requests_get_reason_codes(plane: DataPlaneHarness) -> None:
    with plane.client() as client:
        r = client.post("/v1/batches", data={"manifest": "{not json"},
                        files=[("files", ("a.txt", b"hi"))])
        assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_MANIFEST"
        assert r.json()["error"]["request_id"]
    anonymous = plane.client()
    anonymous.headers["Authorization"] = "Bearer fbk_000000000000_nope"
    with anonymous:
        r = anonymous.post("/v1/search", json={"query": "x"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"


def _batch_stages(database_url: str, batch_id: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT stage FROM documents WHERE batch_id = %s AND stored",
                            (uuid.UUID(batch_id),)).fetchall()
    return [r[0] for r in rows]


def test_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(
        fresh_database: str, s3_tenant: S3Tenant, tmp_path: Path) -> None:
    """kill -9 of the worker in the middle of a batch, then a restart: every accepted
    document ends INDEXED exactly once (no loss, no duplicate chunks or points)."""
    extra = [CORPUS / n for n in ("handbook-1p.docx", "example-10k-1p.html",
                                  "docx-tables.docx", "sample-presentation.pptx")
             if (CORPUS / n).exists()]
    files = SAMPLES + extra
    url = fresh_database  # its own database: the module's plane already holds these bytes
    plane = DataPlaneHarness("killtest", url, tmp_path, s3=s3_tenant)
    try:
        plane.setup()
        with plane.client() as client:
            receipt = submit(client, files, client_ref="kill")
            batch_id = receipt["batch_id"]
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                stages = _batch_stages(url, batch_id)
                if any(s != "RECEIVED" for s in stages):
                    break
                time.sleep(0.2)
            assert "RECEIVED" in _batch_stages(url, batch_id), "batch finished before the kill"
            plane.kill("worker")
            plane.start("worker")
            final = wait_batch(client, batch_id)
        # an e-mail's attachments are documents of their own, in the same batch
        documents = final["documents"]
        assert [d["status"] for d in documents] == ["INDEXED"] * len(documents), final
        assert len([d for d in documents if d["parent_document_id"] is None]) == len(files)
        plane.stop()  # release the Qdrant folder so it can be counted here
        with psycopg.connect(url) as conn:
            chunk_rows = conn.execute("SELECT count(*), count(DISTINCT chunk_id) FROM chunks"
                                      ).fetchone()
            indexed_events = conn.execute(
                "SELECT subject_id, count(*) FROM audit.events WHERE"
                " event_type = 'document.indexed' GROUP BY subject_id").fetchall()
        assert chunk_rows is not None and chunk_rows[0] == chunk_rows[1] > 0
        assert len(indexed_events) == len(documents)
        assert all(n == 1 for _, n in indexed_events)
        plane.kill("serve", signal.SIGTERM)  # the embedded index admits one opener
        index = plane.vector_index()
        try:
            assert index.count() == chunk_rows[0]
        finally:
            index.close()
    finally:
        plane.stop()
