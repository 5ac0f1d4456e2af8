"""The hostile-file suite (issue 3, "Must show"): one batch of every kind of bad file,
through the real HTTP API, with a real clamd scanning every file — and the valid files of
the same batch still INDEXED. Then clamd stopped: nothing is parsed unscanned, and the
batch completes once clamd is back."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from data_plane.adapters.clamav.daemon import clamd_binary
from tests.e2e.harness import ROOT, DataPlaneHarness, wait_batch
from tests.intake_hostile_files import (
    EICAR,
    docx_bomb_bytes,
    elf_bytes,
    pdf_bytes,
    zip_bomb_bytes,
)
from tests.seaweedfs_fixture import S3Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.skipif(clamd_binary() is None, reason="clamd not installed")]

TESTFILES = Path("/usr/share/clamav-testfiles")
VALID = ["annual-safety-report.pdf", "supplier-onboarding-policy.docx",
         "parking-permit-faq.txt"]
LONG_NAME = "n" * 300 + ".pdf"


@pytest.fixture(scope="module")
def plane(module_database: str, module_bucket: S3Tenant,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("hostile", module_database, tmp_path_factory.mktemp("dp"),
                          s3=module_bucket, clamd=True) as harness:
        yield harness


def _entry(name: str, data: bytes, *, size: int | None = None,
           sha: str | None = None) -> dict[str, Any]:
    return {"name": name, "sha256": sha or hashlib.sha256(data).hexdigest(),
            "size": len(data) if size is None else size}


def post_batch(client: httpx.Client, manifest: list[dict[str, Any]],
               parts: list[tuple[str, bytes]]) -> httpx.Response:
    return client.post(
        "/v1/batches",
        data={"manifest": json.dumps({"client_ref": "hostile", "files": manifest})},
        files=[("files", (name, data, "application/octet-stream")) for name, data in parts])


def _hostile_batch() -> tuple[list[dict[str, Any]], list[tuple[str, bytes]],
                              dict[str, set[tuple[str, str | None]]]]:
    manifest: list[dict[str, Any]] = []
    parts: list[tuple[str, bytes]] = []
    expect: dict[str, set[tuple[str, str | None]]] = {}

    def add(name: str, data: bytes, outcomes: set[tuple[str, str | None]],
            **lie: Any) -> None:
        manifest.append(_entry(name, data, **lie))
        parts.append((name, data))
        expect[name] = outcomes

    for name in VALID:
        add(name, (ROOT / "samples" / name).read_bytes(), {("ACCEPTED", None)})
    malware = {("QUARANTINED", "MALWARE_DETECTED")}
    add("eicar.com.txt", EICAR + b"\n", malware)
    add("eicar-named.pdf", EICAR, malware)  # malware wins over the type verdict
    for path in sorted(TESTFILES.iterdir()) if TESTFILES.is_dir() else []:
        add(f"testfile-{path.name}", path.read_bytes(), malware)
    add("invoice.pdf", elf_bytes(), {("REJECTED", "MIME_EXTENSION_MISMATCH"),
                                     ("REJECTED", "MIME_NOT_ALLOWED")})
    add("bomb.docx", docx_bomb_bytes(), {("REJECTED", "ARCHIVE_BOMB")})
    add("zeros.docx", zip_bomb_bytes(), {("REJECTED", "ARCHIVE_BOMB"),
                                         ("REJECTED", "MIME_EXTENSION_MISMATCH")})
    unsafe = {("REJECTED", "UNSAFE_NAME")}
    add("../../etc/passwd", b"root:x:0:0\n", unsafe)
    add("a\x00b.pdf", pdf_bytes("nul"), unsafe)
    add(LONG_NAME, pdf_bytes("long"), unsafe)
    add("rtl\u202efdp.exe", pdf_bytes("rtl"), unsafe)
    size_lie = pdf_bytes("size lie")
    add("size-lie.pdf", size_lie, {("REJECTED", "SIZE_MISMATCH")}, size=len(size_lie) + 1)
    add("checksum-lie.pdf", pdf_bytes("checksum"), {("REJECTED", "CHECKSUM_MISMATCH")},
        sha="0" * 64)
    add("empty.txt", b"", {("REJECTED", "EMPTY_FILE")})
    # A manifest entry without a file, and a file without a manifest entry.
    manifest.append(_entry("never-sent.pdf", b"x"))
    expect["never-sent.pdf"] = {("REJECTED", "MISSING_FILE")}
    parts.append(("stowaway.txt", b"not in the manifest\n"))
    expect["stowaway.txt"] = {("REJECTED", "NOT_IN_MANIFEST")}
    return manifest, parts, expect


@pytest.fixture(scope="module")
def hostile(plane: DataPlaneHarness) -> dict[str, Any]:
    manifest, parts, expect = _hostile_batch()
    with plane.client() as client:
        response = post_batch(client, manifest, parts)
        assert response.status_code == 202, response.text
        receipt = response.json()
        final = wait_batch(client, receipt["batch_id"], timeout=600)
    return {"receipt": receipt, "final": final, "expect": expect}


def _shown(name: str) -> str:
    """How a name appears in receipts: unsafe ones escaped."""
    if name in ("a\x00b.pdf", "rtl\u202efdp.exe"):
        return name.encode("unicode_escape").decode("ascii")
    return name


def test_every_hostile_file_gets_its_verdict(hostile: dict[str, Any]) -> None:
    docs = {d["name"]: d for d in hostile["receipt"]["documents"]}
    assert len(docs) == len(hostile["expect"])
    wrong = {}
    for name, outcomes in hostile["expect"].items():
        d = docs[_shown(name)]
        if (d["status"], d["reason"]) not in outcomes:
            wrong[name[:60]] = (d["status"], d["reason"])
    assert wrong == {}


def test_nul_name_is_echoed_escaped(hostile: dict[str, Any]) -> None:
    names = [d["name"] for d in hostile["receipt"]["documents"]]
    assert "a\\x00b.pdf" in names
    assert all("\x00" not in n for n in names)


def test_quarantined_files_carry_an_id_and_are_never_indexed(
        hostile: dict[str, Any]) -> None:
    final = {d["name"]: d for d in hostile["final"]["documents"]}
    for name, outcomes in hostile["expect"].items():
        d = final[_shown(name)]
        if ("QUARANTINED", "MALWARE_DETECTED") in outcomes:
            assert d["status"] == "QUARANTINED" and d["document_id"], d
            assert d["stage"] == "RECEIVED", d


def test_valid_files_in_the_same_batch_are_indexed(hostile: dict[str, Any]) -> None:
    final = {d["name"]: d for d in hostile["final"]["documents"]}
    assert hostile["final"]["status"] == "COMPLETED_WITH_ERRORS"
    for name in VALID:
        assert final[name]["status"] == "INDEXED", final[name]


def test_reports_and_status_answer_without_5xx(plane: DataPlaneHarness,
                                               hostile: dict[str, Any]) -> None:
    batch_id = hostile["receipt"]["batch_id"]
    with plane.client() as client:
        for url in (f"/v1/batches/{batch_id}", f"/v1/batches/{batch_id}/report",
                    f"/v1/batches/{batch_id}/report?format=html",
                    f"/v1/batches/{batch_id}/report?format=csv", "/v1/batches"):
            assert client.get(url).status_code == 200, url
        report = client.get(f"/v1/batches/{batch_id}/report").json()
        page = client.get(f"/v1/batches/{batch_id}/report?format=html").text
    assert report["counts"]["by_reason"]["MALWARE_DETECTED"] >= 2
    assert page.count("<tr><td>") == len(report["documents"]) == len(hostile["expect"])
    by_name = {d["name"]: d for d in report["documents"]}
    assert "resubmit" in by_name["checksum-lie.pdf"]["what_to_do"]
    assert "malware scanner" in by_name["eicar.com.txt"]["explanation"]
    assert "Internal" not in plane.log_tail("serve")


def test_raw_nul_in_a_part_name_is_unsafe_name_not_5xx(plane: DataPlaneHarness) -> None:
    """A client that does not percent-encode (curl, hand-made bodies) sends NUL as is."""
    data = pdf_bytes("raw nul")
    manifest = {"client_ref": "raw", "files": [_entry("r\x00w.pdf", data)]}
    boundary = "frostbyteboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n"
            f"{json.dumps(manifest)}\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f"name=\"files\"; filename=\"r\x00w.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + data + (
            f"\r\n--{boundary}--\r\n").encode()
    with plane.client() as client:
        response = client.post("/v1/batches", content=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 202, response.text
    docs = response.json()["documents"]
    assert [(d["name"], d["status"], d["reason"]) for d in docs] == [
        ("r\\x00w.pdf", "REJECTED", "UNSAFE_NAME")]


def test_clamd_down_holds_files_until_it_is_back(plane: DataPlaneHarness,
                                                 hostile: dict[str, Any]) -> None:
    held_clean = pdf_bytes("Held while the scanner was down")
    held_bad = EICAR + b" held"
    plane.stop_clamd()
    try:
        with plane.client() as client:
            assert client.get("/readyz").status_code == 503
            response = post_batch(
                client, [_entry("held.pdf", held_clean), _entry("held-eicar.txt", held_bad)],
                [("held.pdf", held_clean), ("held-eicar.txt", held_bad)])
            assert response.status_code == 202, response.text
            receipt = response.json()
            assert {(d["status"], d["reason"]) for d in receipt["documents"]} == {
                ("PROCESSING", "SCAN_PENDING")}
            time.sleep(8)  # the worker's rescans run every 5 s; the scanner is still down
            held = client.get(f"/v1/batches/{receipt['batch_id']}").json()
            assert held["status"] == "PROCESSING"
            assert {(d["status"], d["reason"], d["stage"]) for d in held["documents"]} == {
                ("PROCESSING", "SCAN_PENDING", "RECEIVED")}
    finally:
        plane.start_clamd()
    with plane.client() as client:
        final = wait_batch(client, receipt["batch_id"], timeout=300)
        assert client.get("/readyz").status_code == 200
    outcome = {d["name"]: (d["status"], d["reason"]) for d in final["documents"]}
    assert outcome == {"held.pdf": ("INDEXED", None),
                       "held-eicar.txt": ("QUARANTINED", "MALWARE_DETECTED")}


def test_quarantine_list_release_and_purge_are_audited(plane: DataPlaneHarness,
                                                       hostile: dict[str, Any]) -> None:
    receipt = {d["name"]: d for d in hostile["receipt"]["documents"]}
    released = receipt["eicar.com.txt"]["document_id"]
    purged = receipt["eicar-named.pdf"]["document_id"]
    objects = plane.object_store()
    assert objects.exists(f"quarantine/{purged}")
    with plane.client() as client, plane.control_client("ops-lead") as admin:
        # the vendor (audit scope) may look, read-only
        listed = client.get("/v1/quarantine", params={"limit": 500}).json()["documents"]
        assert {released, purged} <= {d["document_id"] for d in listed}
        assert all(d["reason"] == "MALWARE_DETECTED" and d["malware_signature"]
                   for d in listed)
        # ... but never releases or purges: no such vendor route, and the control routes
        # refuse a vendor key
        for action in ("release", "purge"):
            assert client.post(f"/v1/quarantine/{purged}/{action}").status_code in (404, 405)
            refused = client.post(f"/control/v1/quarantine/{purged}/{action}",
                                  headers={"X-Frostbyte-Actor": "dana"})
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
        # the control key reaches no vendor route either
        assert admin.get("/v1/documents").json()["error"]["code"] == "INSUFFICIENT_SCOPE"
        assert admin.post(f"/control/v1/quarantine/{purged}/purge",
                          headers={"X-Frostbyte-Actor": ""}).status_code == 422
        assert objects.exists(f"quarantine/{purged}")

        as_admin = admin.get("/control/v1/quarantine", params={"limit": 500}).json()
        assert {released, purged} <= {d["document_id"] for d in as_admin["documents"]}
        assert admin.post(f"/control/v1/quarantine/{purged}/purge").status_code == 200
        assert not objects.exists(f"quarantine/{purged}")
        assert admin.post(f"/control/v1/quarantine/{purged}/purge").status_code == 404

        assert admin.post(f"/control/v1/quarantine/{released}/release").status_code == 200
        final = wait_batch(client, hostile["receipt"]["batch_id"])
        status = {d["document_id"]: d["status"] for d in final["documents"]}
        assert status[purged] == "PURGED"
        assert status[released] in ("INDEXED", "FAILED")  # it went through the pipeline

        for doc, event in ((purged, "document.purged"), (released, "document.released")):
            events = client.get("/v1/audit/events",
                                params={"document_id": doc, "type": event}).json()["events"]
            assert [e["actor"] for e in events] == ["admin:ops-lead"], (doc, event)


def test_suspension_refuses_every_vendor_call_and_keeps_the_data(
        plane: DataPlaneHarness, hostile: dict[str, Any]) -> None:
    batch_id = hostile["receipt"]["batch_id"]
    with plane.client() as client, plane.control_client("ops-lead") as admin:
        assert client.put("/control/v1/suspension", json={"suspended": True}).status_code == 403
        assert admin.put("/control/v1/suspension", json={"suspended": True}).json() == {
            "suspended": True, "changed": True}
        try:
            for method, path in (("GET", "/v1/documents"), ("GET", f"/v1/batches/{batch_id}"),
                                 ("POST", "/v1/search"), ("POST", "/v1/batches"),
                                 ("GET", "/v1/audit/verify"), ("GET", "/v1/quarantine")):
                refused = client.request(method, path, json={"query": "x"})
                assert refused.status_code == 403, (path, refused.text)
                assert refused.json()["error"]["code"] == "TENANT_SUSPENDED"
            # health endpoints and the admin's routes still answer
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
            assert admin.get("/control/v1/suspension").json() == {"suspended": True}
            assert admin.get("/control/v1/quarantine").status_code == 200
            # idempotent: no second event
            assert admin.put("/control/v1/suspension",
                             json={"suspended": True}).json()["changed"] is False
        finally:
            resumed = admin.put("/control/v1/suspension", json={"suspended": False})
        assert resumed.json() == {"suspended": False, "changed": True}
        after = client.get(f"/v1/batches/{batch_id}")
        assert after.status_code == 200 and after.json()["documents"]  # data kept
        events = client.get("/v1/audit/events", params={"type": "tenant.suspended"}).json()
        assert [e["actor"] for e in events["events"]] == ["admin:ops-lead"]


def test_a_batch_over_the_byte_limit_is_413_before_its_files_are_read(
        plane: DataPlaneHarness) -> None:
    huge = {"name": "huge.pdf", "sha256": "0" * 64, "size": 6 * 1024**3}
    with plane.client() as client:
        response = post_batch(client, [huge], [("huge.pdf", b"%PDF-1.4 tiny")])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "BATCH_TOO_LARGE"


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_html_report_renders_every_document_in_headless_chromium(
        plane: DataPlaneHarness, hostile: dict[str, Any], tmp_path: Path) -> None:
    batch_id = hostile["receipt"]["batch_id"]
    with plane.client() as client:
        page = tmp_path / "report.html"
        page.write_text(client.get(f"/v1/batches/{batch_id}/report?format=html").text)
        names = [d["name"] for d in client.get(f"/v1/batches/{batch_id}").json()["documents"]]

    def chromium(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args,
             page.as_uri()], capture_output=True, text=True, timeout=120, check=True)

    dom = chromium("--dump-dom").stdout
    rows = re.findall(r"<tr><td>\d+</td><td class=\"name\">(.*?)</td>", dom)
    assert [html.unescape(r) for r in rows] == names
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1400,4000", "--hide-scrollbars")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    pdf = tmp_path / "report.pdf"
    chromium(f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert pdf.read_bytes()[:5] == b"%PDF-"
