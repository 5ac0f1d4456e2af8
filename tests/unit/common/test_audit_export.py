"""The offline verifier of an audit export finds every kind of damage and says where."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from frostbyte_common import merkle
from frostbyte_common.audit_chain import GENESIS_HASH, AuditEvent, next_event, uuid7
from frostbyte_common.audit_checkpoint import (
    checkpoint_problem,
    load_signing_key,
    public_key_text,
    sign_checkpoint,
    write_new_signing_key,
)
from frostbyte_common.audit_export import (
    export_lines,
    manifest,
    merkle_leaves,
    verify_export_file,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _chain(n: int, tenant: str = "acme") -> list[AuditEvent]:
    events: list[AuditEvent] = []
    prev, t0 = GENESIS_HASH, datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, n + 1):
        ev = next_event(tenant=tenant, seq=seq, prev_hash=prev, actor="worker",
                        event_type="document.indexed", subject_kind="document",
                        subject_id=f"d{seq}", payload={"points": seq, "batch_id": "b1"},
                        occurred_at=t0 + timedelta(milliseconds=seq))
        events.append(ev)
        prev = ev.hash
    return events


def _export(tmp_path: Path, n: int = 40, key: Ed25519PrivateKey = KEY) -> Path:
    events = _chain(n)
    root = merkle.root(merkle_leaves(e.hash for e in events)).hex()
    cp = sign_checkpoint(key, tenant="acme", tree_size=n, root_hash=root)
    body = manifest(tenant="acme", events=events, checkpoint=cp, exported_at="now")
    path = tmp_path / "export.jsonl"
    path.write_text("".join(export_lines(body, events)), encoding="utf-8")
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_uuid7_has_version_7_and_sorts_by_time() -> None:
    a, b = uuid7(unix_ms=1_000), uuid7(unix_ms=2_000)
    assert a.version == 7 and a.variant == uuid.RFC_4122
    assert a < b and str(a) < str(b)


def test_an_intact_export_verifies(tmp_path: Path) -> None:
    verdict = verify_export_file(_export(tmp_path))
    assert verdict.ok, verdict.problems
    assert verdict.events == verdict.verified_events == verdict.checkpoint_size == 40


def test_the_event_round_trips_through_its_json() -> None:
    ev = _chain(1)[0]
    assert AuditEvent.from_json(json.loads(json.dumps(ev.to_json()))) == ev


def test_edited_payload_is_located(tmp_path: Path) -> None:
    path = _export(tmp_path)
    lines = _lines(path)
    record = json.loads(lines[10])
    record["payload"]["points"] = 999
    lines[10] = json.dumps(record) + "\n"
    path.write_text("".join(lines))
    verdict = verify_export_file(path)
    assert not verdict.ok
    first = verdict.problems[0]
    assert (first.line, first.seq) == (11, 10) and "edited" in first.what


def test_dropped_line_is_located(tmp_path: Path) -> None:
    path = _export(tmp_path)
    lines = _lines(path)
    del lines[5]  # seq 5
    path.write_text("".join(lines))
    verdict = verify_export_file(path)
    assert not verdict.ok
    assert verdict.problems[0].seq == 6
    assert "expected seq 5, found seq 6: events missing" in verdict.problems[0].what
    assert any("counts 40 events, the file holds 39" in p.what for p in verdict.problems)


def test_reordered_lines_are_located(tmp_path: Path) -> None:
    path = _export(tmp_path)
    lines = _lines(path)
    lines[3], lines[4] = lines[4], lines[3]
    path.write_text("".join(lines))
    verdict = verify_export_file(path)
    assert not verdict.ok
    assert verdict.problems[0].line == 4
    assert "expected seq 3, found seq 4" in verdict.problems[0].what


def test_wrong_signature_is_refused(tmp_path: Path) -> None:
    path = _export(tmp_path)
    lines = _lines(path)
    head = json.loads(lines[0])
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), tenant="acme", tree_size=40,
                             root_hash=head["manifest"]["checkpoint"]["root_hash"])
    head["manifest"]["checkpoint"]["signature"] = forged.signature
    lines[0] = json.dumps(head) + "\n"
    path.write_text("".join(lines))
    verdict = verify_export_file(path)
    assert not verdict.ok
    assert [p.what for p in verdict.problems] == [
        "checkpoint of size 40: Ed25519 signature does not verify"]


def test_a_whole_new_key_is_caught_by_the_trusted_key(tmp_path: Path) -> None:
    mallory = Ed25519PrivateKey.generate()
    path = _export(tmp_path, key=mallory)
    assert verify_export_file(path).ok  # self-consistent, but signed by the wrong key
    verdict = verify_export_file(path, trusted_public_key=public_key_text(KEY))
    assert not verdict.ok and "another key" in verdict.problems[0].what


def test_truncated_file_is_reported(tmp_path: Path) -> None:
    path = _export(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    verdict = verify_export_file(path)
    assert not verdict.ok
    text = [str(p) for p in verdict.problems]
    assert any("not valid JSON" in t and "truncated" in t for t in text)
    assert any("truncated tail" in t for t in text)


def test_empty_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    verdict = verify_export_file(path)
    assert not verdict.ok and "no manifest" in verdict.problems[0].what


def test_checkpoint_signature_binds_every_field() -> None:
    cp = sign_checkpoint(KEY, tenant="acme", tree_size=3, root_hash="ab" * 32)
    assert checkpoint_problem(cp) is None
    from dataclasses import replace

    assert checkpoint_problem(replace(cp, tree_size=4)) is not None
    assert checkpoint_problem(replace(cp, root_hash="cd" * 32)) is not None


def test_signing_key_file_is_private_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.pem"
    key = write_new_signing_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_key_text(load_signing_key(path.read_bytes())) == public_key_text(key)
    assert public_key_text(write_new_signing_key(path)) == public_key_text(key)


def test_the_signing_key_the_control_plane_generates_loads() -> None:
    # tenant secrets hold the Ed25519 seed as 64 hex digits (generate_tenant_secrets); the
    # same seed in base64 and as PEM give the same key
    from control_plane.domain.tenant_secrets import generate_tenant_secrets

    seed_hex = generate_tenant_secrets()["signing_key"]
    key = load_signing_key(seed_hex.encode())
    seed = bytes.fromhex(seed_hex)
    assert public_key_text(key) == public_key_text(
        load_signing_key(base64.b64encode(seed)))
    assert public_key_text(key) == public_key_text(
        Ed25519PrivateKey.from_private_bytes(seed))
    with pytest.raises(ValueError):
        load_signing_key(b"00" * 31)  # 31 bytes: no seed


@pytest.mark.parametrize("n", [1, 2, 7])
def test_small_exports_verify(tmp_path: Path, n: int) -> None:
    assert verify_export_file(_export(tmp_path, n)).ok
