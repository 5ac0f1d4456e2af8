"""Readiness of a running data plane: its database and its object store answer and, when one
is configured, its malware scanner. (The embedding model and the index are loaded before the
API serves at all, so a built ``HealthService`` means they are ready.)"""

from __future__ import annotations

import logging
from typing import Protocol

from data_plane.domain.intake_scan import MalwareScanner

log = logging.getLogger(__name__)


class Pingable(Protocol):
    def ping(self) -> bool: ...


class HealthService:
    def __init__(self, database: Pingable, scanner: MalwareScanner | None,
                 object_store: Pingable | None = None) -> None:
        self._database = database
        self._scanner = scanner
        self._object_store = object_store

    @property
    def scanner_configured(self) -> bool:
        return self._scanner is not None

    def checks(self) -> dict[str, bool]:
        """Each dependency's state now. A scanner that is down keeps intake answering
        (files are held as SCAN_PENDING), but the process is not ready."""
        checks = {"model": True, "database": _answers("database", self._database)}
        if self._object_store is not None:
            checks["object_store"] = _answers("object store", self._object_store)
        if self._scanner is not None:
            checks["scanner"] = self._scanner.ping()
        return checks


def _answers(what: str, dependency: Pingable) -> bool:
    try:
        return bool(dependency.ping())
    except Exception as exc:  # a readiness probe answers, whatever the dependency does
        log.warning("%s ping failed: %s", what, exc)
        return False
