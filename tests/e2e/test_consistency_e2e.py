"""``frostbyte doctor``'s control routes end to end, on a real data plane (API and worker
processes, PostgreSQL with its job tables, the object store, the local index): drift made on
purpose — one document's points deleted from the index, another's raw object removed — is
found; the repair re-projects the first (searchable again) and reports the second, audited
once; a tenant in order is clean and its repair appends nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.harness import DataPlaneHarness, search_hits, submit, wait_batch
from tests.seaweedfs_fixture import S3Tenant

pytestmark = pytest.mark.e2e

GLACIER = """# Glacier cold-storage audit

The zamboni-class refrigeration units in hall 7 were inspected on Tuesday.
Compressor vibration exceeded the threshold on unit 3; a replacement is ordered.
"""
GLACIER_QUERY = "zamboni refrigeration compressor vibration hall 7"
HARBOUR = """# Harbour crane maintenance

The quayside gantry crane's hoist rope was replaced after the winter storms.
"""


@pytest.fixture(scope="module")
def plane(module_database: str, module_bucket: S3Tenant,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("doctor", module_database, tmp_path_factory.mktemp("dp"),
                          s3=module_bucket) as harness:
        yield harness


def _ingest(client: httpx.Client, folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    receipt = submit(client, [path], client_ref=f"doctor-{uuid.uuid4().hex[:6]}")
    final = wait_batch(client, receipt["batch_id"], timeout=300)
    assert [d["status"] for d in final["documents"]] == ["INDEXED"], final
    return str(final["documents"][0]["document_id"])


def _kinds(report: dict[str, Any]) -> dict[str, tuple[int, int, set[str]]]:
    """kind → (found, remaining, subjects shown)."""
    return {k["kind"]: (k["found"], k["remaining"], {f["subject"] for f in k["first"]})
            for k in report["kinds"]}


def _delete_points(plane: DataPlaneHarness, document_id: str) -> int:
    """Open the index folder as the API does (with the API stopped: the embedded index
    admits one process) and delete one document's points."""
    index = plane.vector_index()
    try:
        return index.delete_document(document_id)
    finally:
        index.close()


def _repairs(client: httpx.Client) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get(
        "/v1/audit/events", params={"type": "consistency.repaired"}).json()["events"]
    return events


def test_doctor_finds_drift_repairs_the_index_and_reports_lost_bytes(
        plane: DataPlaneHarness, tmp_path: Path) -> None:
    with plane.client() as client, plane.control_client("ops-lead") as control:
        unindexed = _ingest(client, tmp_path, "glacier.md", GLACIER)
        lost = _ingest(client, tmp_path, "harbour.md", HARBOUR)

        clean = control.get("/control/v1/consistency")
        assert clean.status_code == 200, clean.text
        assert clean.json()["clean"] is True, clean.json()
        nothing = control.post("/control/v1/consistency/repair").json()
        assert nothing["clean"] is True and nothing["audit_seq"] is None
        assert _repairs(client) == []  # a repair with nothing to repair appends nothing
        assert client.get("/control/v1/consistency").status_code == 403  # a vendor's key

        # the drift: one document's points gone from the index, another's raw bytes gone
        plane.kill("serve")
        assert _delete_points(plane, unindexed) > 0
        store = plane.object_store()
        lost_key = next(k for k in store.list("raw/")
                        if k.endswith(hashlib.sha256(HARBOUR.encode()).hexdigest()))
        assert store.delete(lost_key)
        plane.start("serve")
        plane.wait_ready()
        assert unindexed not in {h["document_id"] for h in search_hits(client, GLACIER_QUERY)}

        found = control.get("/control/v1/consistency").json()
        assert found["clean"] is False
        kinds = _kinds(found)
        assert kinds["chunks_missing_from_index"] == (1, 1, {unindexed})
        assert kinds["rows_without_objects"] == (1, 1, {lost})
        assert all(kinds[k][0] == 0 for k in (
            "objects_without_rows", "points_extra_in_index", "documents_stuck"))
        assert _repairs(client) == []  # a check changes nothing

        repaired = control.post("/control/v1/consistency/repair").json()
        kinds = _kinds(repaired)
        assert kinds["chunks_missing_from_index"][:2] == (1, 0)  # re-projected
        assert kinds["rows_without_objects"] == (1, 1, {lost})  # reported, not invented
        assert repaired["clean"] is False and repaired["audit_seq"] is not None
        assert unindexed in {h["document_id"] for h in search_hits(client, GLACIER_QUERY)}

        events = _repairs(client)
        assert [(e["seq"], e["actor"]) for e in events] == [
            (repaired["audit_seq"], "admin:ops-lead")]
        assert events[0]["payload"]["ids"] == {"reproject": [unindexed]}
        assert client.get("/v1/audit/verify").json()["ok"] is True

        after = _kinds(control.get("/control/v1/consistency").json())
        assert after["chunks_missing_from_index"][0] == 0
        assert after["rows_without_objects"] == (1, 1, {lost})


def test_a_lost_index_is_rebuilt_from_postgresql(plane: DataPlaneHarness) -> None:
    """The index is a projection: its folder lost (a volume, a new engine) is rebuilt by
    `python -m data_plane reindex`, and by the API itself when it starts on an empty index
    while PostgreSQL has indexed documents — either way search finds the documents again."""
    with psycopg.connect(plane.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM chunks c JOIN documents d USING (document_id)"
                           " WHERE d.status = 'INDEXED'").fetchone()
    assert row is not None and row[0] > 0
    indexed_chunks = row[0]
    index_folder = plane.state / "qdrant"

    plane.kill("serve")
    shutil.rmtree(index_folder)
    assert json.loads(plane.run("reindex")) == {"points": indexed_chunks}
    index = plane.vector_index()
    try:
        assert index.count() == indexed_chunks
    finally:
        index.close()

    shutil.rmtree(index_folder)  # lost again: this time the API notices at start
    plane.start("serve")
    plane.wait_ready()
    with plane.client() as client:
        assert search_hits(client, GLACIER_QUERY)
    plane.kill("serve")
    index = plane.vector_index()
    try:
        assert index.count() == indexed_chunks
    finally:
        index.close()
    plane.start("serve")
    plane.wait_ready()
