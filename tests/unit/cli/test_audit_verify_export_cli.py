"""`frostbyte audit verify-export FILE`: offline, exit 0 on an intact export, 1 with the
place and kind of each break otherwise."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from frostbyte_cli.main import Deps, app
from frostbyte_common import merkle
from frostbyte_common.audit_chain import GENESIS_HASH, AuditEvent, next_event
from frostbyte_common.audit_checkpoint import public_key_text, sign_checkpoint
from frostbyte_common.audit_export import export_lines, manifest, merkle_leaves

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _export(tmp_path: Path, n: int = 12) -> Path:
    events: list[AuditEvent] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        events.append(next_event(tenant="acme", seq=seq, prev_hash=prev, actor="worker",
                                 event_type="document.parsed", subject_kind="document",
                                 subject_id=f"d{seq}", payload={"elements": seq}))
        prev = events[-1].hash
    root = merkle.root(merkle_leaves(e.hash for e in events)).hex()
    cp = sign_checkpoint(KEY, tenant="acme", tree_size=n, root_hash=root)
    path = tmp_path / "audit-acme.jsonl"
    path.write_text("".join(export_lines(
        manifest(tenant="acme", events=events, checkpoint=cp, exported_at="x"), events)))
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify-export", *args], obj=Deps(width=200))
    return result.exit_code, result.output


def test_an_intact_export_passes(tmp_path: Path) -> None:
    code, out = _run(str(_export(tmp_path)), "--public-key", public_key_text(KEY))
    assert code == 0, out
    assert "export verified" in out and "12 events" in out


def test_a_tampered_payload_fails_with_line_and_seq(tmp_path: Path) -> None:
    path = _export(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    event = json.loads(lines[4])
    event["payload"]["elements"] = 0
    lines[4] = json.dumps(event) + "\n"
    path.write_text("".join(lines))
    code, out = _run(str(path))
    assert code == 1
    assert "line 5, seq 4: content does not match its hash (event edited)" in out


def test_json_output_lists_the_problems(tmp_path: Path) -> None:
    path = _export(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-3]))  # the tail dropped
    code, out = _run(str(path), "--json")
    assert code == 1
    body = json.loads(out)
    assert body["ok"] is False and body["events"] == 9
    assert any("truncated tail" in p["what"] for p in body["problems"])


def test_a_key_other_than_the_trusted_one_fails(tmp_path: Path) -> None:
    other = public_key_text(Ed25519PrivateKey.generate())
    code, out = _run(str(_export(tmp_path)), "--public-key", other)
    assert code == 1 and "another key" in out


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    code, out = _run(str(tmp_path / "nope.jsonl"))
    assert code == 2 and "no such file" in out  # usage: exit 2


def _verify_online(verdict: dict[str, object]) -> tuple[int, str]:
    import httpx

    from tests.unit.cli.fakes import NO_WAIT

    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=verdict))
    result = CliRunner().invoke(
        app, ["audit", "verify", "--endpoint", "http://acme.test", "--key", "fbk_test"],
        obj=Deps(transport=transport, retry=NO_WAIT, width=200))
    return result.exit_code, result.output


def test_online_verify_names_the_broken_seq_or_checkpoint() -> None:
    code, out = _verify_online({"ok": False, "events": 9, "head_hash": "ab" * 32,
                                "first_bad_seq": 10, "problem": "hash does not match"})
    assert code == 1 and "BROKEN at seq 10: hash does not match" in out
    code, out = _verify_online({"ok": False, "events": 40, "head_hash": "ab" * 32,
                                "checkpoint_size": 50,
                                "problem": "checkpoint of size 50: tail removed"})
    assert code == 1 and "BROKEN: checkpoint of size 50: tail removed" in out
