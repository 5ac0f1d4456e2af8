"""Readiness of a running data plane: its database answers and, when one is configured, its
malware scanner. (The embedding model and the index are loaded before the API serves at
all, so a built ``HealthService`` means they are ready.)"""

from __future__ import annotations

import logging
from typing import Protocol

from data_plane.domain.intake_scan import MalwareScanner

log = logging.getLogger(__name__)


class Pingable(Protocol):
    def ping(self) -> bool: ...


class HealthService:
    def __init__(self, database: Pingable, scanner: MalwareScanner | None) -> None:
        self._database = database
        self._scanner = scanner

    @property
    def scanner_configured(self) -> bool:
        return self._scanner is not None

    def checks(self) -> dict[str, bool]:
        """Each dependency's state now. A scanner that is down keeps intake answering
        (files are held as SCAN_PENDING), but the process is not ready."""
        checks = {"model": True}
        try:
            checks["database"] = bool(self._database.ping())
        except Exception as exc:  # a readiness probe answers, whatever the database does
            log.warning("database ping failed: %s", exc)
            checks["database"] = False
        if self._scanner is not None:
            checks["scanner"] = self._scanner.ping()
        return checks
