"""The pure half of erasure: which object keys a document may own, the audit payload, and
which documents a vendor may not erase (held apart for an admin)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from data_plane.domain.erasure import (
    REMOVED_KINDS,
    check_erasable,
    deleted_payload,
    held,
    object_keys,
)
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.records import DocumentRecord
from data_plane.errors import DocumentHeld

SHA = "ab" * 32
RAW = f"raw/ab/ab/{SHA}"


@pytest.mark.parametrize(
    ("row_key", "held", "expected"),
    [
        (RAW, ("pending/d1", "quarantine/d1"),
         [RAW, "canonical/d1.json", "pending/d1", "quarantine/d1"]),
        (None, ("pending/d1",), ["canonical/d1.json", "pending/d1"]),
        ("quarantine/d1", ("pending/d1", "quarantine/d1"),
         ["quarantine/d1", "canonical/d1.json", "pending/d1"]),  # no repeats
    ],
)
def test_object_keys(row_key: str | None, held: tuple[str, ...], expected: list[str]) -> None:
    assert object_keys("d1", row_key, held) == expected


def test_object_keys_refuse_an_id_that_could_escape() -> None:
    with pytest.raises(ValueError):
        object_keys("../etc", None, ())


def test_payload_counts_every_kind_and_nothing_else() -> None:
    payload = deleted_payload(document_id="d1", sha256=SHA, batch_id="b1",
                              removed={"chunks": 3, "vectors": 3})
    assert payload == {"document_id": "d1", "sha256": SHA, "batch_id": "b1",
                       "removed": {"chunks": 3, "elements": 0, "pii_findings": 0,
                                   "vectors": 3, "objects": 0}}
    assert tuple(payload["removed"]) == REMOVED_KINDS  # type: ignore[arg-type]


def _row(status: DocStatus, reason: Reason | None = None, *,
         document_id: uuid.UUID | None = None) -> DocumentRecord:
    now = datetime.now(UTC)
    return DocumentRecord(document_id=document_id or uuid.uuid4(), batch_id=uuid.uuid4(),
                          ordinal=0, name="a.pdf", status=status, reason=reason,
                          created_at=now, updated_at=now)


@pytest.mark.parametrize(
    ("status", "reason"),
    [(DocStatus.QUARANTINED, Reason.MALWARE_DETECTED),
     (DocStatus.QUARANTINED, Reason.INJECTION_SUSPECTED),
     (DocStatus.QUARANTINED, Reason.HIDDEN_TEXT),
     (DocStatus.PROCESSING, Reason.SCAN_PENDING)])
def test_a_held_document_is_not_the_vendors_to_erase(status: DocStatus,
                                                     reason: Reason) -> None:
    row = _row(status, reason)
    with pytest.raises(DocumentHeld) as caught:
        check_erasable(row.document_id, [row])
    assert caught.value.code == "DOCUMENT_HELD" and caught.value.status_code == 409
    assert "admin must release or purge" in caught.value.message
    assert reason.value in caught.value.message


def test_an_email_with_a_held_attachment_is_refused_too() -> None:
    email = _row(DocStatus.INDEXED)
    attachment = _row(DocStatus.QUARANTINED, Reason.MALWARE_DETECTED)
    with pytest.raises(DocumentHeld, match=f"its attachment {attachment.document_id}"):
        check_erasable(email.document_id, [attachment, email])


@pytest.mark.parametrize(
    ("status", "reason"),
    [(DocStatus.INDEXED, None), (DocStatus.ACCEPTED, None), (DocStatus.PROCESSING, None),
     (DocStatus.REJECTED, Reason.DUPLICATE), (DocStatus.FAILED, Reason.PARSE_FAILED),
     (DocStatus.PURGED, Reason.MALWARE_DETECTED)])
def test_every_other_document_may_be_erased(status: DocStatus, reason: Reason | None) -> None:
    row = _row(status, reason)
    check_erasable(row.document_id, [row])
    assert not held(row)
