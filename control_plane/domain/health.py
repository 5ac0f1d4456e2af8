"""Health of the tenants' data planes as the control plane's poller sees it — pure domain
code, no I/O (the poller, :mod:`control_plane.services.health_polling`, does the probing,
the writing and the restarting).

* :class:`TenantHealth` is what the registry keeps per tenant after each poll (when, ready or
  not, why, how many polls in a row failed); the tenant's JSON shows it.
* :func:`assess` turns one poll's answer into the tenant's next :class:`TenantHealth` and
  the :class:`HealthNotice` that belongs in its event chain, if any: a failure is an event
  when it is *noticed* (the first failed poll), not at every poll it lasts.
* :class:`RepairBackoff` is when a tenant found not ready may be restarted again: at once
  the first time, then after 1, 2, 4 … poll intervals while restarts keep failing, capped,
  and from scratch once the data plane is ready again.
* :class:`DriftedResource` is one cloud resource whose real state differs from the stack's
  record (a drift check): its URN, kind, what changed by name — never a value, which may be
  a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # lifecycle imports this module (a tenant's health)
    from control_plane.domain.lifecycle import TenantEvent, TenantState

#: the longest detail kept and shown (a probe's reason; the end of a log is not kept)
MAX_DETAIL = 500


class HealthNotice(StrEnum):
    """What a poll or a repair tells the tenant's event chain (``health.*`` events)."""

    FAILED = "health_failed"  # noticed not ready (first failed poll)
    RECOVERED = "health_recovered"  # ready again without a restart of ours
    REPAIRED = "health_repaired"  # restarted by the poller and ready
    REPAIR_FAILED = "health_repair_failed"  # a restart that did not bring it back


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One probe's answer: ready or not, and why (safe to show an admin: no secret)."""

    ready: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TenantHealth:
    """The last poll of a tenant's data plane."""

    checked_at: datetime
    ready: bool
    detail: str
    consecutive_failures: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"checked_at": self.checked_at.isoformat(), "ready": self.ready,
                "detail": self.detail, "consecutive_failures": self.consecutive_failures}


def clip(detail: str) -> str:
    """``detail`` on one line, at most :data:`MAX_DETAIL` characters."""
    flat = " ".join(detail.split())
    return flat if len(flat) <= MAX_DETAIL else flat[:MAX_DETAIL - 1] + "…"


def assess(previous: TenantHealth | None, report: HealthReport,
           at: datetime) -> tuple[TenantHealth, HealthNotice | None]:
    """The tenant's health after a poll that answered ``report`` at ``at``, and the notice
    for its event chain: FAILED on the first failed poll (after a ready one, or the first
    poll of all), RECOVERED when a failing tenant is ready again by itself, else none."""
    detail = clip(report.detail or ("ready" if report.ready else "not ready"))
    if report.ready:
        failing = previous is not None and not previous.ready
        return (TenantHealth(at, True, detail, 0),
                HealthNotice.RECOVERED if failing else None)
    failures = 1 if previous is None or previous.ready else previous.consecutive_failures + 1
    return (TenantHealth(at, False, detail, failures),
            HealthNotice.FAILED if failures == 1 else None)


def repaired(at: datetime, detail: str = "ready after a restart") -> TenantHealth:
    """The tenant's health once a restart brought its data plane back."""
    return TenantHealth(at, True, clip(detail), 0)


@dataclass(frozen=True, slots=True)
class RepairBackoff:
    """When a tenant's next restart may run: ``failed`` restarts in a row so far, the
    earliest time of the next one (None: at once), and every restart tried since the data
    plane was last ready (``attempts``)."""

    failed: int = 0
    next_at: datetime | None = None
    attempts: int = 0

    def due(self, now: datetime) -> bool:
        return self.next_at is None or now >= self.next_at

    def started(self) -> RepairBackoff:
        return replace(self, attempts=self.attempts + 1)

    def after_failure(self, now: datetime, interval_s: float,
                      cap_intervals: int = 32) -> RepairBackoff:
        """One more restart failed: the next waits :func:`backoff_s` of the new count."""
        failed = self.failed + 1
        return replace(self, failed=failed,
                       next_at=now + timedelta(seconds=backoff_s(failed, interval_s,
                                                                 cap_intervals)))


def backoff_s(failed: int, interval_s: float, cap_intervals: int = 32) -> float:
    """Seconds to wait before the next restart after ``failed`` restarts in a row failed:
    0, then 1, 2, 4 … intervals, at most ``cap_intervals`` intervals."""
    if failed <= 0:
        return 0.0
    factor: int = min(2 ** (failed - 1), cap_intervals)
    return interval_s * factor


@dataclass(frozen=True, slots=True)
class DriftedResource:
    """A resource whose real state is not the stack's record: ``op`` is what a refresh would
    do to the record (``update``: it changed, ``delete``: it is gone), ``properties`` the
    names of the inputs or outputs that differ (names only: values may be secrets)."""

    urn: str
    kind: str
    op: str
    properties: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "kind": self.kind, "op": self.op,
                "properties": list(self.properties)}


def drift_detail(resources: tuple[DriftedResource, ...] | list[DriftedResource]
                 ) -> dict[str, Any]:
    """The ``infra.drift`` event's detail: the drifted resources, sorted by URN."""
    ordered = sorted(resources, key=lambda r: r.urn)
    return {"resources": [r.to_json() for r in ordered], "count": len(ordered)}


class TenantObservations(Protocol):
    """Where the poller keeps what it saw (the tenant registry implements it)."""

    async def observe(self, slug: str, event: TenantEvent | None, *,
                      expected_state: TenantState, health: TenantHealth | None = None) -> None:
        """Append ``event`` (one that moves no state) to the tenant's chain and keep
        ``health`` as its last poll, together, if the tenant is still in
        ``expected_state``; ``ConcurrentUpdate`` otherwise."""
        ...
