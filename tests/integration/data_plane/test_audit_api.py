"""The audit routes on a real PostgreSQL chain: verify, events, proofs, export — and the
mutation test: every kind of damage (made with break-glass) is caught by `/v1/audit/verify`
and by the offline verifier of an export."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from data_plane import wiring
from data_plane.adapters.audit_store import AuditStore, connect_rows
from data_plane.adapters.postgres import TenantDatabase
from data_plane.api.auth import authenticated_caller
from data_plane.api.errors import install_error_handlers
from data_plane.api.routers import audit as audit_routes
from data_plane.services.access import Caller
from data_plane.services.audit import AuditService
from data_plane.settings import DataPlaneSettings
from frostbyte_common import merkle
from frostbyte_common.audit_chain import GENESIS_HASH, AuditEvent, next_event
from frostbyte_common.audit_checkpoint import public_key_text, sign_checkpoint
from frostbyte_common.audit_export import merkle_leaves, verify_export_lines
from tests.conftest import create_database, drop_database

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEY_B64 = base64.b64encode(bytes(range(1, 33))).decode()
TENANT = "acme"


def _caller() -> Caller:
    return Caller(key_id="k-auditor", scopes=frozenset({"audit"}))


def _app(conninfo: str, *, every_events: int = 1000) -> FastAPI:
    """The audit routes over a real chain, the service built from the settings as the
    composition root builds it; the key check stands in for an `audit` key."""
    settings = DataPlaneSettings(
        tenant=TENANT, database_url=SecretStr(conninfo), object_store_root=Path("/nonexistent"),
        audit_signing_key=SecretStr(KEY_B64), audit_checkpoint_every_events=every_events)
    audit = AuditService(AuditStore(TENANT, lambda: connect_rows(conninfo)),
                         signing_key=wiring.signing_key(settings),
                         policy=wiring.checkpoint_policy(settings))
    app = FastAPI()
    app.state.services = SimpleNamespace(audit=audit)
    install_error_handlers(app)
    app.include_router(audit_routes.router)
    app.dependency_overrides[authenticated_caller] = _caller
    return app


def _write_chain(conninfo: str, n: int, *, start: int = 1) -> list[AuditEvent]:
    """A real chain of n events (types, documents and batches varied), inserted with COPY."""
    events: list[AuditEvent] = []
    prev, t0 = GENESIS_HASH, datetime(2026, 3, 1, tzinfo=UTC)
    types = ["batch.received", "document.ingested", "document.parsed", "document.embedded",
             "document.indexed", "retrieval.performed"]
    for seq in range(start, start + n):
        doc = f"00000000-0000-0000-0000-{seq // 6:012d}"
        ev = next_event(tenant=TENANT, seq=seq, prev_hash=prev, actor=f"worker-{seq % 3}",
                        event_type=types[seq % 6], subject_kind="document", subject_id=doc,
                        payload={"batch_id": f"b{seq // 60}", "n": seq},
                        occurred_at=t0 + timedelta(seconds=seq))
        events.append(ev)
        prev = ev.hash
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur, cur.copy(
            "COPY audit.events (tenant, seq, event_id, occurred_at, actor, event_type,"
            " subject_kind, subject_id, payload, prev_hash, hash) FROM STDIN") as copy:
        for e in events:
            copy.write_row((e.tenant, e.seq, e.event_id, e.occurred_at, e.actor, e.event_type,
                            e.subject_kind, e.subject_id, Jsonb(e.payload), e.prev_hash,
                            e.hash))
    return events


@pytest.fixture
def chain_db(fresh_database: str) -> str:
    db = TenantDatabase(fresh_database, TENANT, max_size=1)
    db.open()
    db.migrate()
    db.close()
    _write_chain(fresh_database, 25)
    return fresh_database


def test_proofs_verify_against_the_signed_checkpoint(chain_db: str) -> None:
    with TestClient(_app(chain_db)) as client:
        proof = client.get("/v1/audit/proof/7").json()
        assert "tree_size" in proof, proof
        assert proof["tree_size"] == 25 and proof["leaf_index"] == 6
        cp = proof["checkpoint"]
        assert cp["public_key"] == public_key_text(KEY) and cp["root_hash"] == proof["root_hash"]
        assert merkle.verify_inclusion(
            merkle.leaf_hash(bytes.fromhex(proof["event_hash"])), 6, 25,
            [bytes.fromhex(p) for p in proof["proof"]], bytes.fromhex(proof["root_hash"]))
        _write_chain_after(chain_db, 25, 15)
        later = client.get("/v1/audit/proof/40").json()
        assert later["tree_size"] == 40  # a checkpoint was signed for it
        cons = client.get("/v1/audit/consistency", params={"from": 25, "to": 40}).json()
        assert cons["from_checkpoint"]["root_hash"] == proof["root_hash"]
        assert merkle.verify_consistency(
            25, 40, bytes.fromhex(cons["from_checkpoint"]["root_hash"]),
            bytes.fromhex(cons["to_checkpoint"]["root_hash"]),
            [bytes.fromhex(p) for p in cons["proof"]])
        assert client.get("/v1/audit/proof/41").status_code == 404
        bad = client.get("/v1/audit/consistency", params={"from": 30, "to": 20})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "AUDIT_RANGE_INVALID"
        verdict = client.get("/v1/audit/verify").json()
        assert verdict["ok"] and verdict["events"] == 40 and verdict["checkpoints"] == 2


def _write_chain_after(conninfo: str, head: int, n: int) -> None:
    store = AuditStore(TENANT, lambda: connect_rows(conninfo))
    for i in range(n):
        with store.transaction() as conn:
            store.append(conn, actor="indexer", event_type="document.indexed",
                         subject_kind="document", subject_id=f"late-{i}", payload={"i": i})
    assert store.head()[0] == head + n


def test_events_are_filtered_and_paged(chain_db: str) -> None:
    with TestClient(_app(chain_db)) as client:
        page = client.get("/v1/audit/events", params={"type": "document.indexed",
                                                      "limit": 2}).json()
        assert [e["seq"] for e in page["events"]] == [4, 10]
        nxt = client.get("/v1/audit/events", params={
            "type": "document.indexed", "limit": 2, "after_seq": page["next_after_seq"]}).json()
        assert [e["seq"] for e in nxt["events"]] == [16, 22]
        by_doc = client.get("/v1/audit/events", params={
            "document_id": "00000000-0000-0000-0000-000000000001"}).json()["events"]
        assert [e["seq"] for e in by_doc] == [6, 7, 8, 9, 10, 11]
        by_batch = client.get("/v1/audit/events", params={"batch_id": "b0",
                                                          "actor": "worker-0"}).json()["events"]
        assert [e["seq"] for e in by_batch] == [3, 6, 9, 12, 15, 18, 21, 24]
        window = client.get("/v1/audit/events", params={
            "since": "2026-03-01T00:00:05+00:00", "until": "2026-03-01T00:00:08+00:00"}).json()
        assert [e["seq"] for e in window["events"]] == [5, 6, 7]


def test_export_verifies_offline_and_is_itself_audited(chain_db: str) -> None:
    with TestClient(_app(chain_db)) as client:
        body = client.post("/v1/audit/export").text
        head = client.get("/v1/audit/head").json()
    lines = body.splitlines(keepends=True)
    manifest = json.loads(lines[0])["manifest"]
    assert manifest["count"] == 25 and manifest["last_seq"] == 25
    assert manifest["public_key"] == public_key_text(KEY)
    verdict = verify_export_lines(lines, trusted_public_key=public_key_text(KEY))
    assert verdict.ok, verdict.problems
    assert head["head_seq"] == 26  # the export was recorded as audit.exported


# -- the mutation test ------------------------------------------------------------------------

CHAIN = 10_000


@pytest.fixture(scope="module")
def template(pg_admin_url: str) -> Iterator[str]:
    """A database holding a real chain of 10,000 events and a signed checkpoint of it."""
    name, conninfo = create_database(pg_admin_url, prefix="fbaudittpl")
    db = TenantDatabase(conninfo, TENANT, max_size=1)
    db.open()
    db.migrate()
    db.close()
    events = _write_chain(conninfo, CHAIN)
    root = merkle.root(merkle_leaves(e.hash for e in events)).hex()
    AuditStore(TENANT, lambda: connect_rows(conninfo)).add_checkpoint(
        sign_checkpoint(KEY, tenant=TENANT, tree_size=CHAIN, root_hash=root))
    yield name
    drop_database(pg_admin_url, name)


def _clone(pg_admin_url: str, template: str, name: str) -> str:
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
    params = {k: str(v) for k, v in conninfo_to_dict(pg_admin_url).items() if v is not None}
    params["dbname"] = name
    return make_conninfo("", **params)


def _forge_signature(conn: psycopg.Connection[Any]) -> None:
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), tenant=TENANT, tree_size=CHAIN,
                             root_hash="00" * 32)
    conn.execute("UPDATE audit.checkpoints SET signature = %s", (forged.signature,))


DAMAGE: dict[str, tuple[Callable[[psycopg.Connection[Any]], None], int | None]] = {
    "edited-payload": (lambda c: c.execute(
        "UPDATE audit.events SET payload = payload || '{\"n\": -1}' WHERE seq = 4321"), 4321),
    "deleted-event": (lambda c: c.execute("DELETE FROM audit.events WHERE seq = 5000"), 5001),
    "swapped-order": (lambda c: (
        c.execute("UPDATE audit.events SET seq = seq + 1000000 WHERE seq IN (700, 701)"),
        c.execute("UPDATE audit.events SET seq = CASE seq WHEN 1000700 THEN 701 ELSE 700 END"
                  " WHERE seq > 1000000")), 700),
    "inserted-event": (lambda c: (
        c.execute("UPDATE audit.events SET seq = seq + 1000000 WHERE seq > 1234"),
        c.execute("UPDATE audit.events SET seq = seq - 999999 WHERE seq > 1000000"),
        c.execute("INSERT INTO audit.events SELECT tenant, 1235, gen_random_uuid(),"
                  " occurred_at, 'mallory', event_type, subject_kind, subject_id, payload,"
                  " hash, hash FROM audit.events WHERE seq = 1234")), 1235),
    "truncated-tail": (lambda c: c.execute("DELETE FROM audit.events WHERE seq > 9990"), None),
    "forged-checkpoint": (_forge_signature, None),
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_damage_is_detected_online_and_offline(pg_admin_url: str, template: str,
                                                     damage: str) -> None:
    name = f"{template}_{damage.replace('-', '_')}"
    conninfo = _clone(pg_admin_url, template, name)
    try:
        with TestClient(_app(conninfo)) as client:
            assert client.get("/v1/audit/verify").json()["ok"] is True
            harm, bad_seq = DAMAGE[damage]
            with psycopg.connect(conninfo) as conn:
                conn.execute("SET frostbyte.audit_break_glass = 'on'")
                harm(conn)
            verdict = client.get("/v1/audit/verify").json()
            assert verdict["ok"] is False, verdict
            if bad_seq is not None:
                assert verdict["first_bad_seq"] == bad_seq, verdict
            else:
                assert verdict["checkpoint_size"] == CHAIN, verdict
            export = client.post("/v1/audit/export")
            assert export.status_code == 200
        offline = verify_export_lines(export.text.splitlines(keepends=True),
                                      trusted_public_key=public_key_text(KEY))
        assert not offline.ok, damage
        if bad_seq is not None:
            assert offline.problems[0].seq == bad_seq, offline.problems
    finally:
        drop_database(pg_admin_url, name)


def test_no_checkpoint_is_signed_over_a_damaged_chain(chain_db: str) -> None:
    with TestClient(_app(chain_db)) as client:
        assert client.get("/v1/audit/proof/25").json()["tree_size"] == 25
        _write_chain_after(chain_db, 25, 5)
        with psycopg.connect(chain_db) as conn:
            conn.execute("SET frostbyte.audit_break_glass = 'on'")
            conn.execute("UPDATE audit.events SET actor = 'mallory' WHERE seq = 28")
        refused = client.get("/v1/audit/proof/30")
        assert refused.status_code == 500
        assert refused.json()["error"]["code"] == "AUDIT_CHAIN_BROKEN"
        assert client.get("/v1/audit/head").json()["latest_checkpoint"]["tree_size"] == 25
        # The export still comes out (with the last good checkpoint) and shows the break.
        lines = client.post("/v1/audit/export").text.splitlines(keepends=True)
    verdict = verify_export_lines(lines, trusted_public_key=public_key_text(KEY))
    assert not verdict.ok and verdict.problems[0].seq == 28
    assert verdict.checkpoint_size == 25


def test_checkpoints_come_every_n_events_or_after_t_seconds(fresh_database: str) -> None:
    from data_plane.services.audit import AuditService, CheckpointPolicy

    db = TenantDatabase(fresh_database, TENANT, max_size=1)
    db.open()
    db.migrate()
    db.close()
    store = AuditStore(TENANT, lambda: connect_rows(fresh_database))
    service = AuditService(store, signing_key=KEY,
                           policy=CheckpointPolicy(every_events=10, every_s=3600))
    _write_chain_after(fresh_database, 0, 9)
    assert service.checkpoint_if_due() is None  # 9 unsigned, the oldest is fresh
    _write_chain_after(fresh_database, 9, 1)
    first = service.checkpoint_if_due()
    assert first is not None and first.tree_size == 10
    _write_chain_after(fresh_database, 10, 1)
    assert service.checkpoint_if_due() is None
    later = datetime.now(UTC) + timedelta(hours=2)
    second = service.checkpoint_if_due(now=later)
    assert second is not None and second.tree_size == 11
    assert service.checkpoint_if_due(now=later) is None  # nothing new to sign
