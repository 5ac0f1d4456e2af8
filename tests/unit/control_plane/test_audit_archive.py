"""The audit archive's storage: verified before and after an atomic 0600 write against the
tenant's audit public key the control plane recorded (never the key the export names); an
export that does not verify, is another tenant's, or is signed by another key, is refused and
leaves nothing behind."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from control_plane.adapters.audit_archive import store_export
from control_plane.domain.ports import AuditArchiveFailed
from frostbyte_common import audit_export, merkle
from frostbyte_common.audit_chain import GENESIS_HASH, AuditEvent, next_event
from frostbyte_common.audit_checkpoint import key_id_of, public_key_text, sign_checkpoint

TENANT_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
RECORDED = public_key_text(TENANT_KEY)  # what the control plane recorded at provisioning
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _export(slug: str, *, count: int = 0) -> bytes:
    body = audit_export.manifest(tenant=slug, events=[], checkpoint=None,
                                 exported_at="2026-01-01T00:00:00+00:00")
    body["count"] = count
    return "".join(audit_export.export_lines(body, [])).encode()


def _events(n: int, *, tenant: str = "acme", edit: int | None = None) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    prev, t0 = GENESIS_HASH, datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, n + 1):
        ev = next_event(tenant=tenant, seq=seq, prev_hash=prev, actor="worker",
                        event_type="document.indexed", subject_kind="document",
                        subject_id=f"d{seq}", payload={"points": seq},
                        occurred_at=t0 + timedelta(milliseconds=seq))
        events.append(ev)
        prev = ev.hash
    return events


def _signed_export(key: Ed25519PrivateKey, n: int = 12) -> bytes:
    """An export of ``n`` events whose checkpoint ``key`` signed (and whose manifest names
    ``key``'s public key, as a forger's would)."""
    events = _events(n)
    root = merkle.root(audit_export.merkle_leaves(e.hash for e in events)).hex()
    checkpoint = sign_checkpoint(key, tenant="acme", tree_size=n, root_hash=root)
    body = audit_export.manifest(tenant="acme", events=events, checkpoint=checkpoint,
                                 exported_at="2026-01-01T00:00:00+00:00")
    return "".join(audit_export.export_lines(body, events)).encode()


def test_a_verified_export_is_stored_atomically_0600(tmp_path: Path) -> None:
    now = datetime(2026, 11, 29, 23, 0, 1, 5, tzinfo=UTC)
    archived = store_export(tmp_path / "archive", "acme", _export("acme"),
                            trusted_public_key=RECORDED, now=now)
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
        store_export(tmp_path / "archive", "acme", data, trusted_public_key=RECORDED)
    assert why in refused.value.message
    assert not (tmp_path / "archive").exists()


def test_the_genuine_signed_export_is_kept(tmp_path: Path) -> None:
    data = _signed_export(TENANT_KEY)
    archived = store_export(tmp_path / "archive", "acme", data, trusted_public_key=RECORDED)
    assert archived.events == 12 and archived.path.read_bytes() == data


def test_an_export_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    """A trail rewritten and signed again with a key of the forger's choosing verifies on
    its own (the manifest names the forger's key) — but not against the recorded key."""
    forged = _signed_export(OTHER_KEY)
    assert audit_export.verify_export_lines(forged.splitlines(keepends=True)).ok
    with pytest.raises(AuditArchiveFailed) as refused:
        store_export(tmp_path / "archive", "acme", forged, trusted_public_key=RECORDED)
    message = refused.value.message
    assert f"against the tenant's audit key {key_id_of(RECORDED)}" in message
    assert "signed by another key than the trusted public key" in message
    assert not (tmp_path / "archive").exists()


def test_a_tampered_export_is_refused(tmp_path: Path) -> None:
    lines = _signed_export(TENANT_KEY).splitlines(keepends=True)
    event = json.loads(lines[5])
    event["payload"]["points"] = 999
    lines[5] = (json.dumps(event, sort_keys=True) + "\n").encode()
    with pytest.raises(AuditArchiveFailed, match="event edited"):
        store_export(tmp_path / "archive", "acme", b"".join(lines),
                     trusted_public_key=RECORDED)
    assert not (tmp_path / "archive").exists()
