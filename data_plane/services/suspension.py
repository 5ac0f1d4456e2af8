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

from data_plane.domain.ports import TenantState


class SuspensionService:
    """Reads (cached for ``ttl_s``) and changes the tenant's suspension."""

    def __init__(self, db: TenantState, *, ttl_s: float = 1.0) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, bool] | None = None

    def is_suspended(self) -> bool:
        """The current state; re-read from the database at most every ``ttl_s`` seconds, so
        another process of the same tenant sees a change within that time."""
        now = time.monotonic()
        with self._lock:
            cached = self._cached
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        state = self._db.suspended()
        with self._lock:
            self._cached = (now, state)
        return state

    def set(self, suspended: bool, *, actor: str) -> dict[str, Any]:
        """Suspend or resume; records an audit event only when the state changes."""
        changed = self._db.set_suspended(suspended, actor=actor)
        with self._lock:
            self._cached = (time.monotonic(), suspended)
        return {"suspended": suspended, "changed": changed}
