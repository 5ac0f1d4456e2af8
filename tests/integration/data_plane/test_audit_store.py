"""The audit stream on a real PostgreSQL: concurrent appends keep one intact chain; the
service role can add history but never alter it; the owner only behind break-glass."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from data_plane.adapters import jobs
from data_plane.adapters.audit_store import (
    AuditStore,
    EventFilter,
    connect_rows,
    grant_service_role,
)
from data_plane.adapters.postgres import TenantDatabase
from frostbyte_common.audit_chain import verify_chain


def _migrated(conninfo: str, tenant: str = "acme") -> TenantDatabase:
    db = TenantDatabase(conninfo, tenant, max_size=2)
    db.open()
    db.migrate()
    return db


def test_eight_concurrent_writers_keep_one_intact_chain(fresh_database: str) -> None:
    db = _migrated(fresh_database)
    try:
        store = AuditStore("acme", lambda: connect_rows(fresh_database))
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                with psycopg.connect(fresh_database, row_factory=psycopg.rows.dict_row) as conn:
                    for i in range(60):
                        with conn.transaction():
                            store.append(conn, actor=f"writer-{n}", event_type="test.appended",
                                         subject_kind="test", subject_id=f"{n}-{i}",
                                         payload={"writer": n, "i": i})
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        events = store.events()
        verdict = verify_chain(events)
        assert verdict.ok and verdict.events == 480
        assert [e.seq for e in events] == list(range(1, 481))
        assert len({e.event_id for e in events}) == 480
        # Every writer's own events stay in its own order.
        for n in range(8):
            mine = [e.payload["i"] for e in events if e.actor == f"writer-{n}"]
            assert mine == list(range(60))
        assert store.head() == (480, events[-1].hash)
    finally:
        db.close()


def test_an_event_rolled_back_with_its_state_change_leaves_no_gap(fresh_database: str) -> None:
    db = _migrated(fresh_database)
    try:
        with db.transaction() as conn:
            db.append_audit(conn, actor="a", event_type="t.one", subject_kind="k",
                            subject_id="1", payload={})
        with pytest.raises(RuntimeError), db.transaction() as conn:
            db.append_audit(conn, actor="a", event_type="t.two", subject_kind="k",
                            subject_id="2", payload={})
            raise RuntimeError("the state change failed")
        with db.transaction() as conn:
            db.append_audit(conn, actor="a", event_type="t.three", subject_kind="k",
                            subject_id="3", payload={"document_id": "doc-9"})
        events = db.audit_events()
        assert [e.event_type for e in events] == ["t.one", "t.three"]
        assert verify_chain(events).ok
        found = db.audit.query(EventFilter(document_id="doc-9"))
        assert [e.seq for e in found] == [2]
        assert db.audit.query(EventFilter(event_type="t.one", actor="a"))[0].seq == 1
    finally:
        db.close()


# -- roles: a migration role owns the audit schema, the service role inserts and reads --------

@dataclass
class Roles:
    migration: str
    service: str
    database: str


def _as(admin_url: str, role: str, database: str) -> str:
    params = {k: str(v) for k, v in conninfo_to_dict(admin_url).items() if v is not None}
    params.update(user=role, password=f"pw-{role}", dbname=database)
    return make_conninfo("", **params)


@pytest.fixture
def roles(pg_admin_url: str) -> Iterator[Roles]:
    suffix = uuid.uuid4().hex[:8]
    r = Roles(f"fbmig_t{suffix}", f"fb_t{suffix}", f"fbaudit_{suffix}")
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for role in (r.migration, r.service):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(f"pw-{role}")))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(r.database), sql.Identifier(r.migration)))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(r.database)))
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(r.database), sql.Identifier(r.service)))
    mig = _as(pg_admin_url, r.migration, r.database)
    db = _migrated(mig, "acme")
    try:
        jobs.apply_schema(mig)
        with psycopg.connect(mig, autocommit=True) as conn:
            grant_service_role(conn, r.service)
    finally:
        db.close()
    yield r
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(r.database)))
        for role in (r.service, r.migration):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.parametrize("statement", [
    "UPDATE audit.events SET payload = '{\"forged\": true}' WHERE seq = 1",
    "DELETE FROM audit.events WHERE seq = 1",
    "TRUNCATE audit.events",
    "UPDATE audit.checkpoints SET root_hash = 'x'",
    "DELETE FROM audit.checkpoints",
    "TRUNCATE audit.checkpoints",
    "ALTER TABLE audit.events DISABLE TRIGGER USER",
    "DROP TABLE audit.events",
    "ALTER TABLE audit.events OWNER TO CURRENT_USER",
])
def test_the_service_role_cannot_alter_history(pg_admin_url: str, roles: Roles,
                                               statement: str) -> None:
    svc = _as(pg_admin_url, roles.service, roles.database)
    db = TenantDatabase(svc, "acme", max_size=1)
    db.open()
    try:
        with db.transaction() as conn:
            db.append_audit(conn, actor="svc", event_type="t.ok", subject_kind="k",
                            subject_id="1", payload={})
    finally:
        db.close()
    with psycopg.connect(svc) as conn:
        conn.execute("SET frostbyte.audit_break_glass = 'on'")  # does not help the service
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            conn.execute(statement)
        # Refused by the privilege system (or ownership), before any trigger runs.
        assert "append-only" not in str(refused.value)
    with psycopg.connect(svc) as conn:
        assert conn.execute("SELECT count(*) FROM audit.events").fetchone() == (1,)


def test_the_owner_is_refused_too_unless_break_glass_is_on(pg_admin_url: str,
                                                           roles: Roles) -> None:
    svc = _as(pg_admin_url, roles.service, roles.database)
    db = TenantDatabase(svc, "acme", max_size=1)
    db.open()
    try:
        for i in range(3):
            with db.transaction() as conn:
                db.append_audit(conn, actor="svc", event_type="t.ok", subject_kind="k",
                                subject_id=str(i), payload={"i": i})
        mig = _as(pg_admin_url, roles.migration, roles.database)
        for statement in ("UPDATE audit.events SET actor = 'mallory' WHERE seq = 2",
                          "DELETE FROM audit.events WHERE seq = 2", "TRUNCATE audit.events"):
            with psycopg.connect(mig) as conn, pytest.raises(
                    psycopg.errors.InsufficientPrivilege) as refused:
                conn.execute(statement)
            assert "append-only" in str(refused.value)
        assert verify_chain(db.audit_events()).ok
        with psycopg.connect(mig) as conn:
            conn.execute("SET frostbyte.audit_break_glass = 'on'")
            conn.execute("UPDATE audit.events SET actor = 'mallory' WHERE seq = 2")
        verdict = verify_chain(db.audit_events())
        assert not verdict.ok and verdict.first_bad_seq == 2
    finally:
        db.close()


def test_the_service_role_still_does_its_everyday_work(pg_admin_url: str, roles: Roles) -> None:
    svc = _as(pg_admin_url, roles.service, roles.database)
    db = TenantDatabase(svc, "acme", max_size=1)
    db.open()
    try:
        db.add_vendor_key("k1", "f" * 64, ["audit"], "auditor")
        assert db.revoke_vendor_key("k1")
        assert [e.event_type for e in db.audit_events()] == ["vendor_key.issued",
                                                              "vendor_key.revoked"]
    finally:
        db.close()
    with psycopg.connect(svc) as conn:
        for table in ("procrastinate_jobs", "documents", "chunks"):
            row = conn.execute("SELECT has_table_privilege(%s, 'INSERT, UPDATE, DELETE')",
                               (table,)).fetchone()
            assert row == (True,), table
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.sneaky (x int)")
