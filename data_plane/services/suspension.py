"""Suspension of the tenant (SPEC §3 transition 7): while suspended, the vendor endpoint
answers every ``/v1/...`` call with 403 ``TENANT_SUSPENDED``; health endpoints still answer,
the data stays, and work already accepted is finished by the worker (it is the tenant's
data; nothing new arrives and nothing can be read until the admin resumes).

Only the control plane sets or clears it (through the control routes, with the control
credential). The state is the tenant's audit chain itself: the latest ``tenant.suspended`` /
``tenant.resumed`` event decides, so it survives restarts, is recorded with its actor, and
needs no table a vendor role could write.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from data_plane.adapters.postgres import TenantDatabase

SUSPENDED = "tenant.suspended"
RESUMED = "tenant.resumed"


class SuspensionService:
    """Reads (cached for ``ttl_s``) and changes the tenant's suspension."""

    def __init__(self, db: TenantDatabase, *, ttl_s: float = 1.0) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, bool] | None = None

    def _read(self) -> bool:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT event_type FROM audit.events WHERE tenant = %s"
                " AND event_type IN (%s, %s) ORDER BY seq DESC LIMIT 1",
                (self._db.tenant, SUSPENDED, RESUMED)).fetchone()
        return row is not None and row["event_type"] == SUSPENDED

    def is_suspended(self) -> bool:
        """The current state; re-read from the database at most every ``ttl_s`` seconds, so
        another process of the same tenant sees a change within that time."""
        now = time.monotonic()
        with self._lock:
            cached = self._cached
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        state = self._read()
        with self._lock:
            self._cached = (now, state)
        return state

    def set(self, suspended: bool, *, actor: str) -> dict[str, Any]:
        """Suspend or resume; records an audit event only when the state changes."""
        with self._db.transaction() as conn:
            # One change at a time: the audit append serialises on the chain's head, and
            # reading the state in the same transaction makes the check-then-append exact.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                         (f"suspension:{self._db.tenant}",))
            row = conn.execute(
                "SELECT event_type FROM audit.events WHERE tenant = %s"
                " AND event_type IN (%s, %s) ORDER BY seq DESC LIMIT 1",
                (self._db.tenant, SUSPENDED, RESUMED)).fetchone()
            current = row is not None and row["event_type"] == SUSPENDED
            changed = current != suspended
            if changed:
                self._db.append_audit(conn, actor=actor,
                                      event_type=SUSPENDED if suspended else RESUMED,
                                      subject_kind="tenant", subject_id=self._db.tenant,
                                      payload={})
        with self._lock:
            self._cached = (time.monotonic(), suspended)
        return {"suspended": suspended, "changed": changed}
