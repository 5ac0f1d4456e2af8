"""E-mail attachments become child documents (SPEC §5.2, issue 12), through a real data plane:
each attachment gets the intake checks of an uploaded file — a zip the tenant does not allow
is REJECTED MIME_NOT_ALLOWED with its reason in the report — while the e-mail body and its
allowed attachment are INDEXED as documents of their own, searchable under their own ids and
names; erasing the attachment alone leaves the e-mail, erasing the e-mail takes the rest."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.e2e.harness import DataPlaneHarness, search_hits, submit, wait_batch
from tests.seaweedfs_fixture import S3Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # about a minute: a real data plane

READINGS = ("Freezer readings, cold room B: the compressor cycled every nine minutes and the "
            "defrost heater stayed on overnight; the door gasket is torn at the hinge.")


def _mail(path: Path) -> Path:
    tools = io.BytesIO()
    with zipfile.ZipFile(tools, "w") as z:
        z.writestr("calibrate.sh", "#!/bin/sh\necho calibrating\n")
    msg = EmailMessage()
    msg["Subject"] = "Cold room B inspection"
    msg["From"] = "Facilities <facilities@example.org>"
    msg["To"] = "Quality <quality@example.org>"
    msg.set_content("Hello,\n\nthe inspection of cold room B is done; the readings are "
                    "attached, and the calibration tools as a zip.\n\nRegards,\nFacilities\n")
    msg.add_attachment(READINGS.encode(), maintype="text", subtype="plain",
                       filename="freezer-readings.txt")
    msg.add_attachment(tools.getvalue(), maintype="application", subtype="zip",
                       filename="calibration-tools.zip")
    path.write_bytes(msg.as_bytes())
    return path


def test_attachments_are_judged_by_intake_and_indexed_as_child_documents(
        module_database: str, s3_tenant: S3Tenant, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    mail = _mail(files / "cold-room-inspection.eml")
    with DataPlaneHarness("mails", module_database, tmp_path / "dp",
                          s3=s3_tenant) as plane, \
            plane.client() as client:
        receipt = submit(client, [mail])
        final = wait_batch(client, receipt["batch_id"], timeout=300)
        report = client.get(f"/v1/batches/{receipt['batch_id']}/report").json()
        csv_report = client.get(f"/v1/batches/{receipt['batch_id']}/report",
                                params={"format": "csv"}).text
        html_report = client.get(f"/v1/batches/{receipt['batch_id']}/report",
                                 params={"format": "html"}).text

        docs = {d["name"]: d for d in final["documents"]}
        assert list(docs) == [mail.name, "freezer-readings.txt", "calibration-tools.zip"]
        parent_id = docs[mail.name]["document_id"]
        assert docs[mail.name]["status"] == "INDEXED"
        assert docs[mail.name]["parent_document_id"] is None
        readings = docs["freezer-readings.txt"]
        assert readings["status"] == "INDEXED" and readings["parent_document_id"] == parent_id
        tools = docs["calibration-tools.zip"]
        assert (tools["status"], tools["reason"]) == ("REJECTED", "MIME_NOT_ALLOWED")
        assert tools["parent_document_id"] == parent_id
        # the batch waited for its attachments; a rejected one is an error of the batch
        assert final["status"] == "COMPLETED_WITH_ERRORS"

        rows = {r["name"]: r for r in report["documents"]}
        assert rows["calibration-tools.zip"]["detail"] == (
            "application/zip is not an allowed type for this tenant")
        assert rows["calibration-tools.zip"]["parent_document_id"] == parent_id
        assert rows["freezer-readings.txt"]["chunks"] > 0
        assert "parent_document_id" in csv_report.splitlines()[0]
        assert "attachment of" in html_report

        # the e-mail lists its attachments with their ids and verdicts, without their text
        parent = client.get(f"/v1/documents/{parent_id}").json()
        assert [(a["name"], a["intake_status"], a["reason"]) for a in parent["attachments"]] == [
            ("freezer-readings.txt", "ACCEPTED", None),
            ("calibration-tools.zip", "REJECTED", "MIME_NOT_ALLOWED")]
        assert parent["attachments"][0]["document_id"] == readings["document_id"]
        assert not any("compressor" in e["text"] for e in parent["elements"])
        child = client.get(f"/v1/documents/{readings['document_id']}").json()
        assert child["metadata"]["parent_document_id"] == parent_id
        listed = {d["document_id"]: d for d in client.get("/v1/documents").json()["documents"]}
        assert listed[readings["document_id"]]["parent_document_id"] == parent_id

        # search hits name the attachment itself
        hits = search_hits(client, "compressor defrost heater door gasket")
        assert hits and hits[0]["document_id"] == readings["document_id"]
        assert hits[0]["document_name"] == "freezer-readings.txt"
        assert parent_id in {h["document_id"] for h in search_hits(client, "inspection cold room")}
        attached = search_hits(client, "inspection cold room", parent_document_ids=[parent_id])
        assert attached and {h["document_id"] for h in attached} == {readings["document_id"]}

        # erasing the attachment alone leaves the e-mail
        gone = client.delete(f"/v1/documents/{readings['document_id']}")
        assert gone.status_code == 202, gone.text
        assert client.get(f"/v1/documents/{parent_id}").status_code == 200
        assert readings["document_id"] not in {
            h["document_id"] for h in search_hits(client, "compressor defrost heater door gasket")}
        # erasing the e-mail takes its remaining attachment rows with it, each audited
        erased = client.delete(f"/v1/documents/{parent_id}")
        assert erased.status_code == 202, erased.text
        assert len(erased.json()["attachments"]) == 1  # the rejected zip's row
        after = client.get(f"/v1/batches/{receipt['batch_id']}").json()
        assert after["documents"] == []
        events = client.get("/v1/audit/events",
                            params={"type": "document.deleted", "limit": 1000}).json()
        deleted = {e["subject"]["id"] for e in events["events"]}
        zip_id = parent["attachments"][1]["document_id"]
        assert erased.json()["attachments"] == [zip_id]
        assert {readings["document_id"], parent_id, zip_id} <= deleted
