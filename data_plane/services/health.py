"""Readiness of a running data plane: its database and its object store answer and, when one
is configured, its malware scanner, with an official signature database loaded (or test
signatures where a setting allows them). (The embedding model and the index are loaded
before the API serves at all, so a built ``HealthService`` means they are ready.)"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from data_plane.domain.intake_scan import MalwareScanner
from data_plane.domain.scanner_signatures import judge_signatures, parse_version_reply

log = logging.getLogger(__name__)


class Pingable(Protocol):
    def ping(self) -> bool: ...


class SignatureSource(Protocol):
    """The scanner's ``VERSION`` (clamd's reply text)."""

    def version(self) -> str: ...


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, bool]
    #: the loaded signatures as ``/readyz`` shows them (None: no scanner, or it is down)
    signatures: dict[str, Any] | None = None

    @property
    def ready(self) -> bool:
        return all(self.checks.values())


class HealthService:
    def __init__(self, database: Pingable, scanner: MalwareScanner | None,
                 object_store: Pingable | None = None, *,
                 signatures: SignatureSource | None = None,
                 allow_test_signatures: bool = False,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """``signatures``: where the scanner's loaded database is read (the clamd client);
        ``allow_test_signatures``: the project's test signatures alone count as ready
        (tests, ``make demo``), with a warning in ``/readyz``."""
        self._database = database
        self._scanner = scanner
        self._object_store = object_store
        self._signatures = signatures
        self._allow_test_signatures = allow_test_signatures
        self._clock = clock

    @property
    def scanner_configured(self) -> bool:
        return self._scanner is not None

    def checks(self) -> dict[str, bool]:
        return self.readiness().checks

    def readiness(self) -> Readiness:
        """Each dependency's state now. A scanner that is down keeps intake answering
        (files are held as SCAN_PENDING), but the process is not ready; nor is it with only
        test signatures loaded, unless allowed."""
        checks = {"model": True, "database": _answers("database", self._database)}
        if self._object_store is not None:
            checks["object_store"] = _answers("object store", self._object_store)
        report = None
        if self._scanner is not None:
            checks["scanner"] = self._scanner.ping()
            if checks["scanner"] and self._signatures is not None:
                checks["signatures"], report = self._judge_signatures(self._signatures)
        return Readiness(checks, report)

    def _judge_signatures(self, source: SignatureSource) -> tuple[bool, dict[str, Any]]:
        try:
            state = parse_version_reply(source.version())
        except Exception as exc:  # a readiness probe answers, whatever the scanner does
            log.warning("scanner VERSION failed: %s", exc)
            return False, {"reason": f"the scanner's signature version is unknown: {exc}"}
        judged = judge_signatures(state, allow_test_signatures=self._allow_test_signatures,
                                  now=self._clock())
        return judged.ready, judged.report()


def _answers(what: str, dependency: Pingable) -> bool:
    try:
        return bool(dependency.ping())
    except Exception as exc:  # a readiness probe answers, whatever the dependency does
        log.warning("%s ping failed: %s", what, exc)
        return False
