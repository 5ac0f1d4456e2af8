"""The tenant lifecycle as an admin drives it (SPEC §3): create, read, suspend, resume,
retry, deprovision, cancel, config patch.

The service loads a :class:`~control_plane.domain.lifecycle.Tenant`, asks it for a transition,
does the immediate work the new state calls for (through the tenant's
:class:`~control_plane.providers.base.Provider` and its data plane's control routes),
persists the new state together with the event (registry, with the actor) and queues the
durable job (:mod:`control_plane.services.provisioning`) that does the rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from control_plane.domain.lifecycle import Tenant, TenantEvent, TenantState
from control_plane.domain.ports import TenantRegistryPort
from control_plane.domain.tenant_config import effective_config, validate_overrides
from control_plane.errors import InvalidConfig, InvalidTransition, ProviderNotAvailable
from control_plane.providers.base import CapacityCheck, Provider
from control_plane.services.data_plane_control import DataPlaneControlService
from control_plane.services.providers import provider_for
from control_plane.services.provisioning import JobRunner
from control_plane.services.provisioning_steps import AUDIT_ARCHIVE_WAIVER
from frostbyte_common.audit_chain import ChainVerdict
from frostbyte_common.errors import FrostbyteError
from frostbyte_common.slugs import validate_slug
from frostbyte_common.tenant_config import merge_patch

log = logging.getLogger(__name__)

Work = Callable[[Tenant, Provider], Coroutine[Any, Any, dict[str, Any]]]


class TenantLifecycleService:
    def __init__(self, registry: TenantRegistryPort, providers: Mapping[str, Provider],
                 runner: JobRunner, control: DataPlaneControlService) -> None:
        self._registry = registry
        self._providers = dict(providers)
        self._runner = runner
        self._control = control

    # -- queries ---------------------------------------------------------------------------
    async def get(self, slug: str) -> Tenant:
        return await self._registry.get(slug)

    async def list_tenants(self) -> list[Tenant]:
        return await self._registry.list_tenants()

    async def events(self, slug: str) -> list[TenantEvent]:
        return await self._registry.events(slug)

    async def verify_events(self, slug: str) -> ChainVerdict:
        return await self._registry.verify_events(slug)

    # -- commands --------------------------------------------------------------------------
    async def create(self, slug: str, display_name: str, provider: str,
                     config: Mapping[str, object] | None, *, actor: str) -> Tenant:
        """Record a new tenant (REQUESTED) and start provisioning it in the background."""
        validate_slug(slug)
        if provider not in self._providers:
            known = ", ".join(sorted(self._providers)) or "none"
            raise ProviderNotAvailable(
                f"provider {provider!r} is not available here (available: {known})"
            )
        overrides = dict(config or {})
        validate_overrides(overrides)
        chosen = self._providers[provider]
        if isinstance(chosen, CapacityCheck):  # 503 now, not a FAILED tenant later
            await asyncio.to_thread(chosen.check_capacity, slug)
        tenant, event = Tenant.request(slug, display_name, provider, overrides, actor=actor)
        await self._registry.create(tenant, event)
        log.info("tenant %s requested by %s (provider %s)", slug, actor, provider)
        await self._enqueue(tenant, actor)
        return tenant

    async def suspend(self, slug: str, *, actor: str) -> Tenant:
        """Transition 7: the data plane keeps running and keeps its data, but answers every
        vendor call with 403 ``TENANT_SUSPENDED`` (set through its control routes, which
        only the control key reaches). Work it had already accepted is finished."""

        async def work(tenant: Tenant, provider: Provider) -> dict[str, Any]:
            await self._control.set_suspended(tenant, True, actor=actor)
            return {"vendor_endpoint": "refusing: 403 TENANT_SUSPENDED"}

        return await self._act(slug, lambda t: t.suspend(actor=actor), work)

    async def resume(self, slug: str, *, actor: str) -> Tenant:
        """Transition 8: make sure the data plane runs, then reopen its vendor endpoint."""

        async def work(tenant: Tenant, provider: Provider) -> dict[str, Any]:
            tenant.endpoint = await asyncio.to_thread(
                provider.start, tenant, effective_config(tenant))
            await self._control.set_suspended(tenant, False, actor=actor)
            return {"endpoint": tenant.endpoint}

        return await self._act(slug, lambda t: t.resume(actor=actor), work)

    async def retry(self, slug: str, *, actor: str) -> Tenant:
        """Transition 5 (or 11 for a failed teardown): resume the operation that failed."""
        tenant = await self._act(slug, lambda t: t.retry(actor=actor))
        await self._enqueue(tenant, actor)
        return tenant

    async def deprovision(self, slug: str, *, actor: str,
                          waive_audit_archive: str | None = None) -> Tenant:
        """Transitions 9, 10, 11: stop the data plane now (vendor keys stop working at once),
        then destroy and verify everything in a background job. ``waive_audit_archive`` (a
        reason) lets the job go on when the audit export cannot be archived; the waiver, its
        actor and reason are in the DEPROVISION event."""

        async def work(tenant: Tenant, provider: Provider) -> dict[str, Any]:
            # suspended first (best effort): the job restarts the data plane to archive its
            # audit export, and a suspended one refuses vendors from its first request
            healthy = bool(tenant.endpoint) and await asyncio.to_thread(
                provider.is_healthy, tenant)
            if healthy:
                try:
                    await self._control.set_suspended(tenant, True, actor=actor)
                except FrostbyteError as exc:
                    log.warning("tenant %s: not suspended before deprovisioning: %s",
                                slug, exc.message)
            detail: dict[str, Any] = {
                "stopped": await asyncio.to_thread(provider.stop, tenant)}
            if waive_audit_archive:
                detail[AUDIT_ARCHIVE_WAIVER] = {"by": actor, "reason": waive_audit_archive}
            return detail

        tenant = await self._act(slug, lambda t: t.deprovision(actor=actor), work)
        await self._enqueue(tenant, actor)
        return tenant

    async def cancel(self, slug: str, *, actor: str) -> Tenant:
        """Transitions 4 and 13 by an admin: the running job stops at its next step boundary
        (what it started is rolled back) and the tenant lands in FAILED."""
        tenant = await self._act(slug, lambda t: t.cancel(actor=actor))
        job = await self._runner.cancel_open_job(slug)
        if job is not None:
            log.info("tenant %s: job %s cancelled by %s", slug, job.job_id, actor)
        return tenant

    async def patch_config(self, slug: str, patch: object, *, actor: str) -> Tenant:
        """Apply a JSON Merge Patch (RFC 7396) to the tenant's config overrides. ACTIVE: the
        new config is re-applied to the running data plane (transition 6). FAILED: stored,
        applied by the next retry. Any other state: 409."""
        if not isinstance(patch, dict):
            raise InvalidConfig("a config patch must be a JSON object (RFC 7396 merge patch)")
        tenant = await self._registry.get(slug)
        if tenant.state not in (TenantState.ACTIVE, TenantState.FAILED):
            raise InvalidTransition(
                f"cannot change the config of a tenant in state {tenant.state.value}"
            )
        merged = merge_patch(tenant.config, patch)
        validate_overrides(merged)
        before = tenant.state
        event: TenantEvent | None = None
        if before is TenantState.ACTIVE:
            event = dataclasses.replace(tenant.reapply_config(actor=actor),
                                        detail={"patch": patch})
        tenant.config = merged
        await self._registry.save(tenant, event, expected_state=before)
        log.info("tenant %s: config patched by %s (%s)", slug, actor, before.value)
        if event is not None:
            await self._enqueue(tenant, actor)
        return tenant

    # -- helpers ---------------------------------------------------------------------------
    async def _act(self, slug: str, act: Callable[[Tenant], TenantEvent],
                   work: Work | None = None) -> Tenant:
        """Check the transition, do the provider ``work`` it needs (whose result goes into the
        event), then save the tenant and its event if nobody moved it meanwhile."""
        tenant = await self._registry.get(slug)
        before = tenant.state
        event = act(tenant)  # InvalidTransition (409) before anything is touched
        if work is not None:
            detail = await work(tenant, provider_for(self._providers, tenant))
            event = dataclasses.replace(event, detail={**event.detail, **detail})
        await self._registry.save(tenant, event, expected_state=before)
        log.info("tenant %s: %s -> %s by %s", slug, before.value, tenant.state.value,
                 event.actor)
        return tenant

    async def _enqueue(self, tenant: Tenant, actor: str) -> None:
        """Queue the durable job the tenant's state calls for (one open job per tenant)."""
        job = await self._runner.enqueue(tenant, actor)
        log.info("tenant %s: job %s (%s) queued", tenant.slug, job.job_id, job.operation)
