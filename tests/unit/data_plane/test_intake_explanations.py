"""Every outcome the vendor can see has a plain explanation and something to do."""

from __future__ import annotations

import pytest

from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.intake_explanations import REASONS, STATUSES, explain


def test_every_reason_and_status_is_explained() -> None:
    assert set(REASONS) == set(Reason)
    assert set(STATUSES) == set(DocStatus)
    for e in (*REASONS.values(), *STATUSES.values()):
        assert e.explanation.endswith(".") and e.what_to_do.endswith(".")


@pytest.mark.parametrize(
    ("status", "reason", "fragment"),
    [
        ("REJECTED", "CHECKSUM_MISMATCH", "checksum differs"),
        ("QUARANTINED", "MALWARE_DETECTED", "malware scanner"),
        ("PROCESSING", "SCAN_PENDING", "scanner was not available"),
        ("INDEXED", None, "searchable"),
        ("PURGED", "MALWARE_DETECTED", "deleted"),
        ("SOMETHING_NEW", None, "SOMETHING_NEW"),
    ],
)
def test_explain(status: str, reason: str | None, fragment: str) -> None:
    assert fragment in explain(status, reason).explanation
