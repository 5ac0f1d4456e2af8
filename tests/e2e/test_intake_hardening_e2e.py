"""Findings 3, 7 and 8 of the security review (issue 16), end to end through the tenant
HTTP API with real processes (API, worker, PostgreSQL, SeaweedFS, a real clamd with the
project's test signatures):

3. a vendor key cannot erase a QUARANTINED or SCAN_PENDING document (409 DOCUMENT_HELD, the
   held bytes stay); the admin still purges it;
7. ``Idempotency-Key``: an 8 KB key is a 400 before anything is stored; a key is the vendor
   key's own; the same key with another manifest is a 409; a replay is the first receipt
   with ``Idempotent-Replayed: true``; an expired key names a new batch;
8. CSV report cells never start a formula; names with invisible characters are
   ``UNSAFE_NAME``, shown escaped; the vendor CLI reports such names instead of crashing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from data_plane.adapters.clamav.daemon import clamd_binary
from frostbyte_common.vendor_keys import generate_key
from tests.e2e.harness import ROOT, DataPlaneHarness, manifest_for, wait_batch
from tests.intake_hostile_files import EICAR
from tests.seaweedfs_fixture import S3Tenant

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(clamd_binary() is None, reason="clamd not installed")]

REPLAYED = "Idempotent-Replayed"


@pytest.fixture(scope="module")
def plane(module_database: str, module_bucket: S3Tenant,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("harden", module_database, tmp_path_factory.mktemp("dp"),
                          s3=module_bucket, clamd=True) as harness:
        yield harness


def _files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def _post(client: httpx.Client, paths: list[Path], *, key: str | None = None,
          client_ref: str = "harden") -> httpx.Response:
    handles = [p.open("rb") for p in paths]
    try:
        return client.post(
            "/v1/batches", data={"manifest": json.dumps(manifest_for(paths,
                                                                     client_ref=client_ref))},
            files=[("files", (p.name, h)) for p, h in zip(paths, handles, strict=True)],
            headers={"Idempotency-Key": key} if key is not None else {})
    finally:
        for h in handles:
            h.close()


def _counts(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM batches),"
                           " (SELECT count(*) FROM documents)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert "error" in body, f"not an error: {response.status_code} {response.text[:300]}"
    return response.status_code, body["error"]["code"]


# -- finding 3: erasure of held documents ----------------------------------------------------

def test_a_vendor_key_cannot_erase_a_held_document(plane: DataPlaneHarness,
                                                   tmp_path: Path) -> None:
    objects = plane.object_store()
    plane.stop_clamd()
    try:
        with plane.client() as client:
            held = _post(client, _files(tmp_path / "held", {
                "held.txt": b"Held while the scanner was down.\n"}))
            assert held.status_code == 202, held.text
            (doc,) = held.json()["documents"]
            assert (doc["status"], doc["reason"]) == ("PROCESSING", "SCAN_PENDING")
            refused = client.delete(f"/v1/documents/{doc['document_id']}")
            assert _error(refused) == (409, "DOCUMENT_HELD")
            assert "admin must release or purge" in refused.json()["error"]["message"]
            assert objects.exists(f"pending/{doc['document_id']}")
    finally:
        plane.start_clamd()

    with plane.client() as client, plane.control_client("ops-lead") as admin:
        infected = _post(client, _files(tmp_path / "bad", {"eicar.txt": EICAR + b"\n"}))
        (bad,) = infected.json()["documents"]
        assert (bad["status"], bad["reason"]) == ("QUARANTINED", "MALWARE_DETECTED")
        refused = client.delete(f"/v1/documents/{bad['document_id']}")
        assert _error(refused) == (409, "DOCUMENT_HELD")
        assert objects.exists(f"quarantine/{bad['document_id']}")
        status = client.get(f"/v1/batches/{infected.json()['batch_id']}").json()
        assert [d["status"] for d in status["documents"]] == ["QUARANTINED"]
        assert client.get("/v1/audit/events", params={
            "type": "document.deleted", "document_id": bad["document_id"]}
        ).json()["events"] == []
        # the admin's purge is the way out, and it still works
        assert admin.post(f"/control/v1/quarantine/{bad['document_id']}/purge"
                          ).status_code == 200
        assert not objects.exists(f"quarantine/{bad['document_id']}")
        wait_batch(client, held.json()["batch_id"], timeout=300)


# -- finding 7: Idempotency-Key ---------------------------------------------------------------

def test_an_8kb_idempotency_key_is_refused_before_anything_is_stored(
        plane: DataPlaneHarness, module_database: str, tmp_path: Path) -> None:
    paths = _files(tmp_path, {"long-key.txt": b"Sent under a key of eight kilobytes.\n"})
    objects = plane.object_store()
    before, stored = _counts(module_database), set(objects.list())
    # random, so that PostgreSQL cannot compress it below its index row limit (an 8 KB key
    # made of one letter fits, and was accepted)
    key = secrets.token_urlsafe(6144)
    assert len(key) == 8192
    with plane.client() as client:
        response = _post(client, paths, key=key)
    assert _error(response) == (400, "INVALID_IDEMPOTENCY_KEY")
    assert "8192 characters long; the limit is 255" in response.json()["error"]["message"]
    assert _counts(module_database) == before
    assert set(objects.list()) == stored


def test_an_idempotency_key_replays_only_its_own_manifest_for_its_own_key(
        plane: DataPlaneHarness, tmp_path: Path) -> None:
    key = f"order-{uuid.uuid4()}"
    first_files = _files(tmp_path / "first", {"q3-invoice.txt": b"Invoice for Q3.\n"})
    with plane.client() as client:
        first = _post(client, first_files, key=key)
        assert first.status_code == 202, first.text
        assert REPLAYED not in first.headers
        batch_id = first.json()["batch_id"]

        replay = _post(client, first_files, key=key)
        assert replay.status_code == 202, replay.text
        assert replay.headers[REPLAYED] == "true"
        assert replay.json() == first.json()

        other = _post(client, _files(tmp_path / "other", {
            "q4-invoice.txt": b"Invoice for Q4, sent under the same key.\n"}), key=key)
        assert _error(other) == (409, "IDEMPOTENCY_KEY_REUSED")
        assert batch_id in other.json()["error"]["message"]

    # another vendor key of the tenant: the same value is its own key, a batch of its own
    issued = generate_key()
    plane.run("add-vendor-key", "--key-id", issued.key_id, "--sha256", issued.sha256,
              "--scopes", "ingest,read", "--label", "second-uploader")
    with httpx.Client(base_url=plane.url, timeout=60,
                      headers={"Authorization": f"Bearer {issued.key}"}) as second:
        theirs = _post(second, _files(tmp_path / "theirs", {
            "their-invoice.txt": b"Another uploader's invoice.\n"}), key=key)
    assert theirs.status_code == 202, theirs.text
    assert REPLAYED not in theirs.headers and theirs.json()["batch_id"] != batch_id
    assert [d["status"] for d in theirs.json()["documents"]] == ["ACCEPTED"]


def test_an_expired_idempotency_key_names_a_new_batch(plane: DataPlaneHarness,
                                                      module_database: str,
                                                      tmp_path: Path) -> None:
    key = f"daily-{uuid.uuid4()}"
    with plane.client() as client:
        first = _post(client, _files(tmp_path / "monday", {
            "monday.txt": b"Monday's report.\n"}), key=key)
        assert first.status_code == 202, first.text
        # a day later (the default lifetime is 24 h): the key has expired
        with psycopg.connect(module_database) as conn:
            aged = conn.execute(
                "UPDATE idempotency_keys SET created_at = created_at - interval '25 hours',"
                " expires_at = expires_at - interval '25 hours'"
                " WHERE idempotency_key = %s", (key,)).rowcount
        assert aged == 1
        later = _post(client, _files(tmp_path / "tuesday", {
            "tuesday.txt": b"Tuesday's report.\n"}), key=key)
    assert later.status_code == 202, later.text
    assert REPLAYED not in later.headers
    assert later.json()["batch_id"] != first.json()["batch_id"]
    assert [d["status"] for d in later.json()["documents"]] == ["ACCEPTED"]


# -- finding 8: CSV formulas, invisible names, the CLI ----------------------------------------

FORMULA_NAMES = ["=1+2.txt", "+SUM(1,2).txt", "-2+3.txt", "@SUM(1+1).txt"]


def test_the_csv_report_never_starts_a_formula(plane: DataPlaneHarness,
                                               tmp_path: Path) -> None:
    paths = _files(tmp_path, {n: f"Spreadsheet bait {n}\n".encode() for n in FORMULA_NAMES})
    with plane.client() as client:
        response = _post(client, paths)
        assert response.status_code == 202, response.text
        assert [d["status"] for d in response.json()["documents"]] == ["ACCEPTED"] * 4
        text = client.get(f"/v1/batches/{response.json()['batch_id']}/report",
                          params={"format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ["'" + n for n in FORMULA_NAMES]
    assert not [v for r in rows for v in r.values()
                if v[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_names_with_invisible_characters_are_unsafe(plane: DataPlaneHarness,
                                                    tmp_path: Path) -> None:
    twins = {"invoice.txt": b"The real invoice.\n",
             "in\u200bvoice.txt": b"A look-alike (zero-width space).\n",
             "invoice\u00ad.txt": b"A look-alike (soft hyphen).\n",
             "\ufeffinvoice.txt": b"A look-alike (BOM).\n"}
    with plane.client() as client:
        response = _post(client, _files(tmp_path, twins))
    assert response.status_code == 202, response.text
    assert [(d["name"], d["status"], d["reason"]) for d in response.json()["documents"]] == [
        ("invoice.txt", "ACCEPTED", None),
        ("in\\u200bvoice.txt", "REJECTED", "UNSAFE_NAME"),
        ("invoice\\xad.txt", "REJECTED", "UNSAFE_NAME"),
        ("\\ufeffinvoice.txt", "REJECTED", "UNSAFE_NAME")]


def test_the_cli_reports_hostile_names_instead_of_crashing(plane: DataPlaneHarness,
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "hostile"
    _files(folder, {"in\u200bvoice.txt": b"zero-width\n", "a[b]c.txt": b"brackets\n",
                    "=HYPERLINK(1).txt": b"formula\n"})
    Path(os.fsdecode(bytes(folder) + b"/bad\xff.txt")).write_bytes(b"not utf-8\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FROSTBYTE_")}
    env |= {"FROSTBYTE_ENDPOINT": plane.url, "FROSTBYTE_KEY": plane.key, "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "frostbyte_cli", "batch", "submit", str(folder), "--no-wait",
         "--idempotency-key", f"cli-{uuid.uuid4()}"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.returncode == 6, out.stdout + out.stderr  # partial batch: two UNSAFE_NAME
    assert out.stdout.count("UNSAFE_NAME") == 2, out.stdout
    assert "in\\u200bvoice.txt" in out.stdout and "a[b]c.txt" in out.stdout
    assert "=HYPERLINK(1).txt" in out.stdout

