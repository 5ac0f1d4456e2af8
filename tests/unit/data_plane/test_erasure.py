"""The pure half of erasure: which object keys a document may own, and the audit payload."""

from __future__ import annotations

import pytest

from data_plane.domain.erasure import REMOVED_KINDS, deleted_payload, object_keys

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
