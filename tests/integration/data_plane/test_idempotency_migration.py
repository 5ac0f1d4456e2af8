"""Migration 007 on a database made before it (real PostgreSQL): the Idempotency-Keys
already recorded (unique across the tenant then) are carried over, bound to no manifest and
live for a day from their batch; the old tenant-wide unique constraint goes, so another
vendor key may use the same value; and the migration runs again without a change."""

from __future__ import annotations

import uuid
from importlib import resources

import psycopg

from data_plane.adapters.postgres import TenantDatabase
from data_plane.domain.idempotency import IdempotentBatch


def _apply_migrations_before_007(conninfo: str) -> None:
    folder = resources.files("data_plane.adapters").joinpath("sql")
    with psycopg.connect(conninfo) as conn:
        for script in sorted(folder.iterdir(), key=lambda f: f.name):
            if script.name.endswith(".sql") and script.name < "007":
                conn.execute(script.read_text())


def test_keys_recorded_before_the_migration_are_carried_over(fresh_database: str) -> None:
    _apply_migrations_before_007(fresh_database)
    recent, old = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(fresh_database) as conn:
        conn.execute("INSERT INTO batches (batch_id, client_ref, idempotency_key, key_id)"
                     " VALUES (%s, 'r', 'in-flight', 'k1')", (recent,))
        conn.execute("INSERT INTO batches (batch_id, client_ref, idempotency_key, key_id,"
                     " received_at) VALUES (%s, 'r', 'last-week', 'k1',"
                     " now() - interval '7 days')", (old,))

    db = TenantDatabase(fresh_database, "acme", max_size=2)
    db.open()
    try:
        db.migrate()
        db.migrate()  # idempotent: nothing carried over twice, nothing fails
        assert db.idempotent_batch("k1", "in-flight") == IdempotentBatch(recent, None)
        assert db.idempotent_batch("k1", "last-week") is None  # expired
        assert db.idempotent_batch("k2", "in-flight") is None
        # another vendor key may now use the value; the carried-over one still refuses it
        theirs = uuid.uuid4()
        db.record_batch(batch_id=theirs, client_ref="r", idempotency_key="in-flight",
                        key_id="k2", documents=[], manifest_sha256="m")
        assert db.idempotent_batch("k2", "in-flight") == IdempotentBatch(theirs, "m")
    finally:
        db.close()
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute("SELECT count(*) FROM idempotency_keys").fetchone()
        constraint = conn.execute(
            "SELECT count(*) FROM pg_constraint"
            " WHERE conname = 'batches_idempotency_key_key'").fetchone()
    assert rows == (3,) and constraint == (0,)
