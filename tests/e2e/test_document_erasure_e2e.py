"""Erasure end to end through the tenant HTTP API with real processes (API, procrastinate
worker, PostgreSQL, the local embedding model, the embedded index): ``DELETE
/v1/documents/{id}`` answers 202, the document is gone from search, reads and every store,
the erasure is audited, the same bytes can be sent again, and a document erased while its
job is in flight stays erased."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from frostbyte_common.vendor_keys import generate_key
from tests.e2e.harness import ROOT, DataPlaneHarness, search_hits, submit, wait_batch
from tests.seaweedfs_fixture import S3Tenant

pytestmark = pytest.mark.e2e

NOTE = """# Glacier cold-storage audit

The zamboni-class refrigeration units in hall 7 were inspected on Tuesday.
Compressor vibration exceeded the threshold on unit 3; a replacement is ordered.
"""
QUERY = "zamboni refrigeration compressor vibration hall 7"


@pytest.fixture(scope="module")
def plane(module_database: str, module_bucket: S3Tenant,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("erase", module_database, tmp_path_factory.mktemp("dp"),
                          s3=module_bucket) as harness:
        yield harness


@pytest.fixture(scope="module")
def note(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "cold-storage-audit.md"
    path.write_text(NOTE)
    return path


def _ingest(client: httpx.Client, path: Path) -> str:
    receipt = submit(client, [path], client_ref=f"erase-{uuid.uuid4().hex[:6]}")
    (doc,) = receipt["documents"]
    assert doc["status"] == "ACCEPTED", doc
    final = wait_batch(client, receipt["batch_id"], timeout=300)
    assert [d["status"] for d in final["documents"]] == ["INDEXED"], final
    return str(doc["document_id"])


def test_delete_erases_and_audits_and_allows_resubmission(plane: DataPlaneHarness,
                                                          note: Path) -> None:
    with plane.client() as client:
        doc_id = _ingest(client, note)
        assert doc_id in {h["document_id"] for h in search_hits(client, QUERY)}
        assert client.get(f"/v1/documents/{doc_id}").status_code == 200

        response = client.delete(f"/v1/documents/{doc_id}")
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["document_id"] == doc_id and body["status"] == "DELETED"
        assert body["removed"]["chunks"] == body["removed"]["vectors"] > 0
        assert body["removed"]["objects"] == 2  # the raw file and the canonical JSON

        gone = client.get(f"/v1/documents/{doc_id}")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "DOCUMENT_NOT_FOUND"
        again = client.delete(f"/v1/documents/{doc_id}")
        assert again.status_code == 404
        listed = client.get("/v1/documents").json()["documents"]
        assert doc_id not in {str(d["document_id"]) for d in listed}
        assert doc_id not in {h["document_id"] for h in search_hits(client, QUERY)}

        events = client.get("/v1/audit/events", params={
            "type": "document.deleted", "document_id": doc_id}).json()["events"]
        assert len(events) == 1
        assert events[0]["payload"]["removed"] == body["removed"]
        assert events[0]["seq"] == body["audit_seq"]
        assert "zamboni" not in str(events[0]) and note.name not in str(events[0])
        assert client.get("/v1/audit/verify").json()["ok"] is True

        # The same bytes again: a new document, not a DUPLICATE of the erased one.
        new_id = _ingest(client, note)
        assert new_id != doc_id
        assert {h["document_id"] for h in search_hits(client, QUERY)} == {new_id}


def test_delete_needs_the_ingest_scope(plane: DataPlaneHarness, note: Path) -> None:
    issued = generate_key()
    plane.run("add-vendor-key", "--key-id", issued.key_id, "--sha256", issued.sha256,
              "--scopes", "read,audit", "--label", "reader")
    with httpx.Client(base_url=plane.url, timeout=60,
                      headers={"Authorization": f"Bearer {issued.key}"}) as reader:
        response = reader.delete(f"/v1/documents/{uuid.uuid4()}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "INSUFFICIENT_SCOPE"


def _jobs_pending(database_url: str, document_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE args->>'document_id' = %s"
            " AND status IN ('todo', 'doing')", (document_id,)).fetchone()
    return int(row[0]) if row else 0


def test_a_document_erased_while_processing_stays_erased(plane: DataPlaneHarness,
                                                         module_database: str) -> None:
    pdf = ROOT / "samples" / "annual-safety-report.pdf"
    with plane.client() as client:
        receipt = submit(client, [pdf], client_ref="race")
        (doc,) = receipt["documents"]
        doc_id = str(doc["document_id"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # erase it while its job is in flight
            status = client.get(f"/v1/batches/{receipt['batch_id']}").json()["documents"]
            if status[0]["status"] != "ACCEPTED":
                break
            time.sleep(0.05)
        response = client.delete(f"/v1/documents/{doc_id}")
        assert response.status_code == 202, response.text

        deadline = time.monotonic() + 300
        while _jobs_pending(module_database, doc_id) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _jobs_pending(module_database, doc_id) == 0
        time.sleep(1)  # an index job the process job queued last

        assert client.get(f"/v1/documents/{doc_id}").status_code == 404
        assert search_hits(client, "fire extinguisher sprinkler inspection",
                     document_ids=[doc_id]) == []
        assert client.get("/v1/audit/verify").json()["ok"] is True
    with psycopg.connect(module_database) as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM documents WHERE document_id = %s),"
            " (SELECT count(*) FROM chunks WHERE document_id = %s)",
            (uuid.UUID(doc_id), uuid.UUID(doc_id))).fetchone()
        after = conn.execute(
            "SELECT event_type FROM audit.events WHERE subject_id = %s AND seq >"
            " (SELECT seq FROM audit.events WHERE event_type = 'document.deleted'"
            " AND subject_id = %s)", (doc_id, doc_id)).fetchall()
    assert left == (0, 0)
    # Nothing a job did afterwards wrote state for it (a classification, if any, is no
    # state: the row it described is gone).
    assert {r[0] for r in after} <= {"document.classified"}
    assert not plane.object_store().exists(f"canonical/{doc_id}.json")


def test_no_vector_of_an_erased_document_is_left(plane: DataPlaneHarness,
                                                 module_database: str) -> None:
    """Last in the module: stop the plane to open its Qdrant folder and count points."""
    with psycopg.connect(module_database) as conn:
        live = {str(r[0]) for r in conn.execute("SELECT DISTINCT document_id FROM chunks")}
        erased = {r[0] for r in conn.execute(
            "SELECT subject_id FROM audit.events WHERE event_type = 'document.deleted'")}
        chunk_count = conn.execute("SELECT count(*) FROM chunks").fetchone()
    assert erased and not (erased & live)
    plane.stop()
    index = plane.vector_index()
    try:
        for doc_id in erased:
            assert index.count(doc_id) == 0, doc_id
        assert chunk_count is not None and index.count() == chunk_count[0]
    finally:
        index.close()
