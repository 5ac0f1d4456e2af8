"""Health polling, repair and drift checks (issue 18): what the control plane does, while it
runs, about tenants' data planes that stop answering and infrastructure that drifts.

* Every ``FROSTBYTE_CP_HEALTH_POLL_INTERVAL_S`` (0: never) each ACTIVE tenant's data plane
  is checked once through its provider (:class:`~control_plane.providers.base.HealthProbe`
  where the provider has one, else ``is_healthy``). The answer is kept as the tenant's
  ``health`` (registry), reported to :class:`~control_plane.domain.ports.
  ControlPlaneMetrics` (``frostbyte_cp_tenant_ready``) and logged; a failure is a
  ``health.failed`` event of the tenant's chain when it is noticed, a comeback by itself
  ``health.recovered``.
* A tenant found not ready whose provider can restart it (``local``, ``local-podman``) is
  restarted in the background through the provider's start path — at once, then, while
  restarts keep failing, after 1, 2, 4 … intervals (capped at 32), from scratch once it is
  ready (:class:`~control_plane.domain.health.RepairBackoff`). Each restart is an event:
  ``health.repaired``, or ``health.repair_failed`` with the reason and the wait before the
  next. Never while a job of the tenant is open (it owns the tenant: a rotation or an update
  restarts processes itself), never for a tenant that is not ACTIVE (SUSPENDED ones are
  not polled; their data planes are put back at the control plane's start,
  :mod:`.recovery`, whose restarts the poller leaves alone), one restart at a time per
  tenant.
* Every ``FROSTBYTE_CP_DRIFT_CHECK_INTERVAL_S`` (0: never) each ACTIVE or SUSPENDED tenant
  whose provider keeps its infrastructure in a Pulumi stack
  (:class:`~control_plane.providers.base.DriftCheck`: ``hetzner``) gets a preview of
  ``pulumi refresh``; resources that differ are an ``infra.drift`` event (URNs, kinds,
  changed property names: no value) and a warning in the log. The stack is not changed:
  an admin decides (re-apply the config, or fix the resource by hand).

Nothing here blocks the event loop: providers are called from worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.health import (
    HealthNotice,
    HealthReport,
    RepairBackoff,
    TenantObservations,
    assess,
    backoff_s,
    clip,
    drift_detail,
    repaired,
)
from control_plane.domain.lifecycle import Action, Tenant, TenantState
from control_plane.domain.ports import ControlPlaneMetrics, JobStorePort, TenantRegistryPort
from control_plane.domain.tenant_config import effective_config
from control_plane.errors import ConcurrentUpdate
from control_plane.providers.base import DriftCheck, HealthProbe, Provider
from frostbyte_common.errors import FrostbyteError

log = logging.getLogger(__name__)

#: probes running at once (a hetzner probe is a playbook run; a local one a few syscalls)
PROBES_AT_ONCE = 8


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HealthPollingService:
    """Polls the tenants' data planes, restarts the local ones that are down, and checks
    the hetzner ones' infrastructure for drift (see the module docstring)."""

    def __init__(self, registry: TenantRegistryPort, observations: TenantObservations,
                 providers: Mapping[str, Provider], store: JobStorePort,
                 metrics: ControlPlaneMetrics, *, interval_s: float, drift_interval_s: float,
                 clock: Callable[[], datetime] = _utc_now,
                 busy: Callable[[str], bool] | None = None) -> None:
        """``busy(slug)``: True while something else is putting the tenant's data plane back
        (the start-up recovery's restart): such a tenant is not polled meanwhile."""
        self._registry = registry
        self._observations = observations
        self._providers = dict(providers)
        self._store = store
        self._metrics = metrics
        self.interval_s = interval_s
        self.drift_interval_s = drift_interval_s
        self._clock = clock
        self._busy = busy or (lambda slug: False)
        self._probes = asyncio.Semaphore(PROBES_AT_ONCE)
        self._backoff: dict[str, RepairBackoff] = {}
        self._repairs: dict[str, asyncio.Task[None]] = {}
        #: health polls and drift checks done (each a round over every tenant)
        self.rounds = 0
        self.drift_rounds = 0

    # -- the loops ---------------------------------------------------------------------------
    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Poll (and check drift) on the configured intervals while the block runs, the
        first round one interval after the start; on exit the loops and any restart under
        way are cancelled (a cancelled restart is resumed by the next start's recovery)."""
        loops = [asyncio.get_running_loop().create_task(self._every(seconds, work),
                                                        name=f"tenant-{what}")
                 for what, seconds, work in (("health-poll", self.interval_s, self.poll),
                                             ("drift-check", self.drift_interval_s,
                                              self.check_drift))
                 if seconds > 0]
        if self.interval_s > 0:
            log.info("health polling every %.0f s", self.interval_s)
        try:
            yield
        finally:
            tasks = [*loops, *(t for t in self._repairs.values() if not t.done())]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._repairs.clear()

    @staticmethod
    async def _every(seconds: float, work: Callable[[], Awaitable[None]]) -> None:
        """``work`` every ``seconds``, from one round's start to the next's (a round that
        ran long is followed at once)."""
        loop = asyncio.get_running_loop()
        next_at = loop.time() + seconds
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at = loop.time() + seconds
            try:
                await work()
            except Exception:
                log.exception("%s failed; trying again in %.0f s", work.__name__, seconds)

    # -- health polls -------------------------------------------------------------------------
    async def poll(self) -> None:
        """One round: every ACTIVE tenant checked once (restarts start in the background)."""
        tenants = await self._registry.list_tenants([TenantState.ACTIVE])
        await asyncio.gather(*(self._poll_tenant(tenant) for tenant in tenants))
        self.rounds += 1

    async def _poll_tenant(self, tenant: Tenant) -> None:
        slug = tenant.slug
        provider = self._providers.get(tenant.provider)
        if provider is None or self.repairing(slug) or self._busy(slug):
            return
        if await self._store.open_job(slug) is not None:
            log.debug("tenant %s: a job is open; not polled", slug)
            return
        async with self._probes:
            report = await asyncio.to_thread(self._probe, provider, tenant)
        now = self._clock()
        self._metrics.observe_health(slug, report.ready)
        health, notice = assess(tenant.health, report, now)
        event = None if notice is None else tenant.observe(
            Action(notice.value), {"detail": health.detail, "checked_at": now.isoformat(),
                                   "consecutive_failures": health.consecutive_failures},
            actor=SYSTEM_ACTOR, at=now)
        try:
            await self._observations.observe(slug, event, expected_state=TenantState.ACTIVE,
                                             health=health)
        except ConcurrentUpdate:
            return  # it left ACTIVE meanwhile: whatever moved it owns it now
        if notice is HealthNotice.FAILED:
            log.warning("tenant %s: data plane not ready: %s", slug, health.detail)
        elif notice is HealthNotice.RECOVERED:
            log.info("tenant %s: data plane ready again (without a restart)", slug)
        if report.ready:
            self._backoff.pop(slug, None)
            return
        if isinstance(provider, HealthProbe):
            backoff = self._backoff.get(slug, RepairBackoff())
            if backoff.due(now):
                self._repairs[slug] = asyncio.get_running_loop().create_task(
                    self._repair(slug, provider, health.detail), name=f"repair:{slug}")
            else:
                log.info("tenant %s: still not ready (%s); next restart at %s", slug,
                         health.detail, backoff.next_at)

    @staticmethod
    def _probe(provider: Provider, tenant: Tenant) -> HealthReport:
        try:
            if isinstance(provider, HealthProbe):
                return provider.probe_health(tenant)
            ready = provider.is_healthy(tenant)
        except FrostbyteError as exc:
            return HealthReport(False, f"the check failed: {exc.message}")
        except Exception as exc:  # a probe's defect is logged, and counts as not ready
            log.exception("tenant %s: health check raised", tenant.slug)
            return HealthReport(False, f"the check failed ({type(exc).__name__})")
        return HealthReport(ready, "ready" if ready else "its readiness check failed")

    # -- repairs ------------------------------------------------------------------------------
    def repairing(self, slug: str) -> bool:
        """True while a restart of the tenant's data plane is under way."""
        task = self._repairs.get(slug)
        return task is not None and not task.done()

    def backoff(self, slug: str) -> RepairBackoff:
        """The tenant's restart schedule (a fresh one when it needs none)."""
        return self._backoff.get(slug, RepairBackoff())

    async def wait_for_repairs(self) -> None:
        """Wait until every restart under way has ended (tests)."""
        while pending := [t for t in self._repairs.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _repair(self, slug: str, provider: HealthProbe, why: str) -> None:
        # looked at again just before: a job or a state change since the poll wins
        tenant = await self._registry.get(slug)
        if tenant.state is not TenantState.ACTIVE or await self._store.open_job(slug):
            log.info("tenant %s: not restarted (%s, or a job is open)", slug,
                     tenant.state.value)
            return
        backoff = self.backoff(slug).started()
        self._backoff[slug] = backoff
        log.warning("tenant %s: restarting its data plane (%s; attempt %d)", slug, why,
                    backoff.attempts)
        started = time.monotonic()
        try:
            endpoint = await asyncio.to_thread(provider.repair, tenant,
                                               effective_config(tenant))
        except Exception as exc:
            reason = exc.message if isinstance(exc, FrostbyteError) else type(exc).__name__
            if not isinstance(exc, FrostbyteError):
                log.exception("tenant %s: the restart raised", slug)
            await self._repair_failed(tenant, backoff, clip(reason))
            return
        seconds = round(time.monotonic() - started, 1)
        self._backoff.pop(slug, None)
        now = self._clock()
        self._metrics.observe_health(slug, True)
        detail: dict[str, Any] = {"attempt": backoff.attempts, "reason": why,
                                  "restart_s": seconds, "endpoint": endpoint}
        try:
            if endpoint != tenant.endpoint:
                log.warning("tenant %s: data plane moved from %s to %s", slug,
                            tenant.endpoint, endpoint)
                tenant.endpoint = endpoint
                await self._registry.save(tenant, None, expected_state=TenantState.ACTIVE)
            await self._observations.observe(
                slug, tenant.observe(Action.HEALTH_REPAIRED, detail, actor=SYSTEM_ACTOR,
                                     at=now),
                expected_state=TenantState.ACTIVE, health=repaired(now))
        except ConcurrentUpdate:
            log.info("tenant %s: restarted, but it left ACTIVE meanwhile", slug)
            return
        log.warning("tenant %s: data plane restarted and ready after %.1f s (attempt %d)",
                    slug, seconds, backoff.attempts)

    async def _repair_failed(self, tenant: Tenant, backoff: RepairBackoff,
                             reason: str) -> None:
        now = self._clock()
        backoff = backoff.after_failure(now, self.interval_s)
        self._backoff[tenant.slug] = backoff
        wait = backoff_s(backoff.failed, self.interval_s)
        self._metrics.provider_error(tenant.provider, "repair")
        log.error("tenant %s: restart %d failed: %s; next in %.0f s", tenant.slug,
                  backoff.attempts, reason, wait)
        event = tenant.observe(Action.HEALTH_REPAIR_FAILED, {
            "attempt": backoff.attempts, "reason": reason, "next_attempt_in_s": wait},
            actor=SYSTEM_ACTOR, at=now)
        try:
            await self._observations.observe(tenant.slug, event,
                                             expected_state=TenantState.ACTIVE)
        except ConcurrentUpdate:
            return

    # -- drift checks -------------------------------------------------------------------------
    async def check_drift(self) -> None:
        """One round: each ACTIVE or SUSPENDED tenant on a :class:`DriftCheck` provider."""
        for tenant in await self._registry.list_tenants([TenantState.ACTIVE,
                                                         TenantState.SUSPENDED]):
            provider = self._providers.get(tenant.provider)
            if not isinstance(provider, DriftCheck):
                continue
            if await self._store.open_job(tenant.slug) is not None:
                continue  # a job may be updating the stack right now
            try:
                drifted = await asyncio.to_thread(provider.check_drift, tenant)
            except FrostbyteError as exc:
                log.warning("tenant %s: drift check failed: %s", tenant.slug, exc.message)
                continue
            if not drifted:
                log.info("tenant %s: no drift in its infrastructure", tenant.slug)
                continue
            detail = drift_detail(drifted)
            try:
                await self._observations.observe(
                    tenant.slug, tenant.observe(Action.INFRA_DRIFT, detail,
                                                actor=SYSTEM_ACTOR, at=self._clock()),
                    expected_state=tenant.state)
            except ConcurrentUpdate:
                continue
            log.warning("tenant %s: its infrastructure drifted from the stack: %s",
                        tenant.slug, ", ".join(f"{r['urn']} ({r['op']})"
                                               for r in detail["resources"]))
        self.drift_rounds += 1
