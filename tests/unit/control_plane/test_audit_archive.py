"""The audit archive's storage: verified before and after an atomic 0600 write; an export
that does not verify, or is another tenant's, is refused and leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from control_plane.adapters.audit_archive import store_export
from control_plane.domain.ports import AuditArchiveFailed
from frostbyte_common import audit_export
from frostbyte_common.audit_chain import GENESIS_HASH


def _export(slug: str, *, count: int = 0) -> bytes:
    body = audit_export.manifest(tenant=slug, events=[], checkpoint=None,
                                 exported_at="2026-01-01T00:00:00+00:00")
    body["count"] = count
    return "".join(audit_export.export_lines(body, [])).encode()


def test_a_verified_export_is_stored_atomically_0600(tmp_path: Path) -> None:
    now = datetime(2026, 11, 29, 23, 0, 1, 5, tzinfo=UTC)
    archived = store_export(tmp_path / "archive", "acme", _export("acme"), now=now)
    assert archived.path == tmp_path / "archive" / "acme" / (
        "audit-export-20261129T230001.000005Z.jsonl")
    assert archived.path.stat().st_mode & 0o777 == 0o600
    assert archived.path.read_bytes() == _export("acme")
    assert (archived.head_hash, archived.events) == (GENESIS_HASH, 0)
    assert [p.name for p in archived.path.parent.iterdir()] == [archived.path.name]


@pytest.mark.parametrize(("data", "why"), [
    (_export("acme", count=3), "does not verify"),
    (_export("other"), "not 'acme'"),
    (b"", "does not verify"),
])
def test_an_export_that_does_not_verify_is_refused(tmp_path: Path, data: bytes,
                                                   why: str) -> None:
    with pytest.raises(AuditArchiveFailed) as refused:
        store_export(tmp_path / "archive", "acme", data)
    assert why in refused.value.message
    assert not (tmp_path / "archive").exists()
