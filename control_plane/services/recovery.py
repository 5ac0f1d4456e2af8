"""What the control plane does at start-up and while it runs to put back what a crash left:
jobs queued for tenants left mid-operation, jobs whose worker died put back on the queue, a
rotation cut short marked failed, and the data planes of ACTIVE and SUSPENDED tenants that are
not healthy restarted (a SUSPENDED one told again to refuse vendors). Every step is
idempotent. While the control plane runs, :mod:`.health_polling` keeps checking the ACTIVE
tenants' data planes and restarts those found not ready."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.domain.ports import JobStorePort, TenantRegistryPort
from control_plane.domain.tenant_config import effective_config
from control_plane.errors import ConcurrentUpdate
from control_plane.providers.base import Provider
from control_plane.services.data_plane_control import DataPlaneControlService
from control_plane.services.provisioning import JobRunner
from control_plane.services.rotation import ROTATE
from frostbyte_common.errors import FrostbyteError

log = logging.getLogger(__name__)


class RecoveryService:
    def __init__(self, registry: TenantRegistryPort, providers: Mapping[str, Provider],
                 store: JobStorePort, runner: JobRunner,
                 control: DataPlaneControlService) -> None:
        self._registry = registry
        self._providers = dict(providers)
        self._store = store
        self._runner = runner
        self._control = control
        self._restarts: dict[str, asyncio.Task[None]] = {}  # of ACTIVE tenants' data planes

    async def recover(self) -> None:
        """At start-up: queue a job for every tenant left mid-operation without one, put back
        jobs whose worker died, and restart the data planes of ACTIVE tenants that are not
        healthy (in the background)."""
        for job in await self._store.open_jobs():
            if job.operation == ROTATE:  # ran inside a request of the previous process
                await self._store.set_status(
                    job.job_id, "failed",
                    "the control plane stopped during the rotation; run it again")
        for tenant in await self._registry.list_tenants(
            [TenantState.REQUESTED, TenantState.PROVISIONING, TenantState.ACTIVE,
             TenantState.SUSPENDED, TenantState.DEPROVISIONING]
        ):
            if tenant.state in (TenantState.ACTIVE, TenantState.SUSPENDED):
                self._restarts.setdefault(
                    tenant.slug,
                    asyncio.get_running_loop().create_task(
                        self._guarded(tenant.slug, self._restart(tenant)),
                        name=f"restart:{tenant.slug}",
                    ),
                )
            elif await self._store.open_job(tenant.slug) is None:
                log.info("tenant %s: %s without a job; queueing one", tenant.slug,
                         tenant.state.value)
                job = await self._runner.enqueue(tenant, SYSTEM_ACTOR)
                log.info("tenant %s: job %s (%s) queued", tenant.slug, job.job_id,
                         job.operation)
        await self.recover_jobs()

    async def recover_jobs(self) -> int:
        """Put back jobs whose worker died (stale heartbeat) or that left the queue."""
        count = await self._runner.recover()
        if count:
            log.warning("put back %d tenant job(s)", count)
        return count

    async def _restart(self, tenant: Tenant) -> None:
        provider = self._providers.get(tenant.provider)
        if provider is None:
            log.warning("tenant %s: provider %s not configured; not started", tenant.slug,
                        tenant.provider)
            return
        if not await asyncio.to_thread(provider.is_healthy, tenant):
            log.info("tenant %s: data plane not healthy, starting it", tenant.slug)
            try:
                endpoint = await asyncio.to_thread(provider.start, tenant,
                                                   effective_config(tenant))
            except FrostbyteError as exc:
                log.error("tenant %s: could not restart its data plane: %s", tenant.slug,
                          exc.message)
                return
            if endpoint != tenant.endpoint:
                log.warning("tenant %s: data plane moved from %s to %s", tenant.slug,
                            tenant.endpoint, endpoint)
                tenant.endpoint = endpoint
                await self._registry.save(tenant, None, expected_state=tenant.state)
        if tenant.state is TenantState.SUSPENDED:
            # a data plane suspended before suspension lived in the data plane (or rebuilt
            # since) must refuse vendors too; idempotent, audited only on a change
            try:
                await self._control.set_suspended(tenant, True, actor=SYSTEM_ACTOR)
            except FrostbyteError as exc:
                log.error("tenant %s: could not re-assert its suspension: %s", tenant.slug,
                          exc.message)

    async def _guarded(self, slug: str, job: Coroutine[Any, Any, object]) -> None:
        try:
            await job
        except asyncio.CancelledError:
            raise
        except ConcurrentUpdate as exc:
            log.warning("tenant %s: job stopped: %s", slug, exc.message)
        except Exception:
            log.exception("tenant %s: background job failed", slug)

    def restarting(self, slug: str) -> bool:
        """True while this start's restart of the tenant's data plane runs (the health
        poller leaves the tenant to it meanwhile)."""
        task = self._restarts.get(slug)
        return task is not None and not task.done()

    async def wait_for_restarts(self) -> None:
        """Wait until every background restart has finished (tests, orderly shutdown)."""
        while pending := [t for t in self._restarts.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel running restarts; what they left is resumed by :meth:`recover` next start."""
        tasks = [t for t in self._restarts.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._restarts.clear()
