"""Every real document in ``../shared/corpus`` (files nobody here wrote) through a real data
plane, as a vendor would send them: each ends INDEXED, or with a reason the vendor can act on
(an encrypted file, a named legacy format, an attachment of a type the tenant does not take).
None is quarantined: the corpora hold ordinary documents, and hidden residue in ordinary PDFs
(off-page, tiny or white text) is not an attack (SPEC §5.3).

Runs the default parser limits (a 4 GiB ceiling per parser child): a 619-page manual must fit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ROOT, DataPlaneHarness, submit, wait_batch
from tests.seaweedfs_fixture import S3Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a few minutes: ~70 files, one 619-page PDF

SHARED = ROOT.parent / "shared" / "corpus"
FOLDERS = [d for d in (SHARED / "real", SHARED / "docling") if d.is_dir()]
# The files of the corpora that cannot be indexed, each with the outcome a vendor can act on
# (status, reason, words its message must contain). Attachments of e-mails are documents of
# their own (SPEC §5.2) and are listed here by their own names.
EXPECTED: dict[str, tuple[str, str, str]] = {
    "password.pdf": ("FAILED", "PARSE_FAILED", "ENCRYPTED"),
    "2206.01062_pg3.pdf": ("FAILED", "PARSE_FAILED", "ENCRYPTED"),  # "password-protected page"
    "password_protected.xlsx": ("REJECTED", "MIME_NOT_ALLOWED", "password-protected"),
    # attached to mime-attach-mp3.eml: audio is not a document type
    "sample-3s.mp3": ("REJECTED", "MIME_NOT_ALLOWED", "not an allowed type"),
    # attached to an e-mail: a logo, no text in it
    "unstructured_logo.png": ("FAILED", "NO_TEXT_EXTRACTED", "no text"),
    # attached to msg_with_attachment.msg: 26 bytes, "%PDF-1.4 fake report bytes"
    "report.pdf": ("FAILED", "PARSE_FAILED", "Failed to load document"),
}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != "README.md")


@pytest.fixture(scope="module")
def plane(module_database: str, module_bucket: S3Tenant,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("corpus", module_database, tmp_path_factory.mktemp("dp"),
                          s3=module_bucket, clamd=True) as harness:
        yield harness


@pytest.fixture(scope="module")
def reports(plane: DataPlaneHarness) -> dict[str, dict[str, Any]]:
    """The acceptance report of each folder's batch, by folder name."""
    out: dict[str, dict[str, Any]] = {}
    with plane.client() as client:
        receipts = {f.name: submit(client, _files(f), client_ref=f"corpus-{f.name}")
                    for f in FOLDERS}
        for name, receipt in receipts.items():
            wait_batch(client, receipt["batch_id"], timeout=1500)
            out[name] = client.get(f"/v1/batches/{receipt['batch_id']}/report").json()
    return out


@pytest.mark.skipif(not FOLDERS, reason="shared corpus not present")
def test_every_real_file_is_indexed_or_has_an_actionable_reason(
        reports: dict[str, dict[str, Any]]) -> None:
    problems = []
    for folder, report in reports.items():
        for row in report["documents"]:
            status, reason = row["status"], row["reason"]
            if status == "INDEXED" or (status, reason) == ("REJECTED", "DUPLICATE"):
                continue  # (a DUPLICATE points at the same bytes, INDEXED earlier)
            detail = row.get("detail") or ""
            want = EXPECTED.get(row["name"])
            if want is not None and (status, reason) == want[:2] and want[2] in detail:
                continue
            problems.append(f"{folder}/{row['name']}: {status} {reason} — {detail[:300]}")
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(not FOLDERS, reason="shared corpus not present")
def test_no_ordinary_document_is_quarantined(reports: dict[str, dict[str, Any]]) -> None:
    quarantined = [f"{folder}/{row['name']}: {row['reason']} {row.get('detail')}"
                   for folder, report in reports.items() for row in report["documents"]
                   if row["status"] == "QUARANTINED"]
    assert quarantined == []


@pytest.mark.skipif(not (SHARED / "real" / "DA-619p.pdf").exists(),
                    reason="shared corpus not present")
def test_the_619_page_manual_is_indexed_with_pages(
        plane: DataPlaneHarness, reports: dict[str, dict[str, Any]]) -> None:
    rows = {r["name"]: r for r in reports["real"]["documents"]}
    manual = rows["DA-619p.pdf"]
    assert manual["status"] == "INDEXED", manual
    assert manual["pages"] == 619
    assert manual["chunks"] > 619  # a manual of that size is more than one chunk a page
    with plane.client() as client:
        body = client.post("/v1/search", json={
            "query": "maintenance procedure", "top_k": 10,
            "filters": {"document_ids": [manual["document_id"]]}}).json()
    assert body["hits"], body
    assert all(h["document_name"] == "DA-619p.pdf" for h in body["hits"])
    assert all(isinstance(h["page"], int) and 1 <= h["page"] <= 619 for h in body["hits"])
