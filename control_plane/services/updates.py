"""Versioned data-plane updates (issue 18; SPEC §3 transition 6 for a version change).

``POST /v1/tenants/{slug}/update {"version": V}`` checks, before anything moves, that the
tenant is ACTIVE, its provider can update (:class:`~control_plane.providers.base.
ReleaseUpdates`), the release exists (404) and knows the tenant's database schema (409,
see :mod:`control_plane.domain.releases`); then it records an ``update`` job, moves the
tenant ACTIVE → PROVISIONING (the ``update`` event names both versions) and queues the job:

    update:  switch_release → activate

``switch_release`` has the provider stop the data plane, start it on the new release (its
migrations first) and wait until it is ready and reports the version; when it is not, the
provider restarts the previous release by itself. ``activate`` then ends the tenant ACTIVE:
on the new version (transition 3, the event names from/to), or — rolled back — on the old one
with a ``roll_back_update`` event (``update failed, rolled back`` and the reason), the job
ending ``failed`` with that reason. A rollback that fails too fails the step, and the tenant
lands in FAILED (operation ``provision``: a retry re-provisions it on its recorded version).

The job runs on the queue like a provisioning job (:class:`~control_plane.services.
provisioning.JobRunner`): a control plane killed during ``switch_release`` runs it again at
its next start, and the provider converges on the version asked for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Mapping

from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.lifecycle import Action, Tenant, TenantState
from control_plane.domain.ports import TenantRegistryPort
from control_plane.domain.releases import UPDATE_OPERATION, UpdatePlan, plan_update
from control_plane.domain.tenant_config import effective_config
from control_plane.errors import (
    ConcurrentUpdate,
    InvalidTransition,
    ProviderNotAvailable,
    UpdateRolledBack,
)
from control_plane.providers.base import Provider, ReleaseUpdates
from control_plane.services.providers import provider_for
from control_plane.services.provisioning import JobRunner
from control_plane.services.provisioning_steps import Cancelled, Step, StepContext, StepFailed

log = logging.getLogger(__name__)


def _updater(provider: Provider) -> ReleaseUpdates:
    if not isinstance(provider, ReleaseUpdates):
        raise ProviderNotAvailable(f"provider {provider.name!r} cannot update a data plane")
    return provider


class UpdateService:
    """Starts updates; the job's steps are :func:`update_steps`."""

    def __init__(self, registry: TenantRegistryPort, providers: Mapping[str, Provider],
                 runner: JobRunner) -> None:
        self._registry = registry
        self._providers = dict(providers)
        self._runner = runner

    async def update(self, slug: str, version: str, *, actor: str) -> Tenant:
        """Move an ACTIVE tenant to data-plane release ``version`` in the background."""
        tenant = await self._registry.get(slug)
        if tenant.state is not TenantState.ACTIVE:
            raise InvalidTransition(
                f"cannot update a tenant in state {tenant.state.value} (only ACTIVE)")
        provider = _updater(provider_for(self._providers, tenant))
        plan = plan_update(slug, tenant.version or provider.default_version(), version)
        await asyncio.to_thread(provider.check_release, tenant, plan.to_version)
        job = await self._runner.reserve(slug, UPDATE_OPERATION, actor)
        event = tenant.begin_update(plan.from_version, plan.to_version, actor=actor)
        event = dataclasses.replace(event, detail={**event.detail, "job_id": job.job_id})
        try:
            await self._registry.save(tenant, event, expected_state=TenantState.ACTIVE)
        except ConcurrentUpdate:
            await self._runner.cancel_open_job(slug)
            raise
        await self._runner.defer(job)
        log.info("tenant %s: update %s -> %s by %s (job %s)", slug, plan.from_version,
                 plan.to_version, actor, job.job_id)
        return tenant


async def _plan_of(registry: TenantRegistryPort, tenant: Tenant) -> UpdatePlan:
    """The update the tenant's latest ``update`` event asked for."""
    for event in reversed(await registry.events(tenant.slug)):
        if event.action is Action.UPDATE:
            return UpdatePlan(tenant.slug, str(event.detail["from_version"]),
                              str(event.detail["to_version"]))
    raise StepFailed("no update was asked for")


class SwitchRelease:
    """The provider moves the data plane to the new release, or back by itself."""

    name = "switch_release"

    def __init__(self, registry: TenantRegistryPort) -> None:
        self._registry = registry

    async def run(self, ctx: StepContext) -> str | None:
        plan = await _plan_of(self._registry, ctx.tenant)
        try:
            provider = _updater(ctx.provider)
        except ProviderNotAvailable as exc:
            raise StepFailed(exc.message) from None
        try:
            endpoint = await asyncio.to_thread(provider.update, ctx.tenant,
                                               effective_config(ctx.tenant), plan.to_version)
        except UpdateRolledBack as exc:
            return json.dumps({"rolled_back": True, "endpoint": exc.endpoint,
                               "reason": exc.reason, **plan.detail()})
        return json.dumps({"rolled_back": False, "endpoint": endpoint, **plan.detail()})


class ActivateUpdate:
    """PROVISIONING → ACTIVE on the version the tenant now runs; a rollback is recorded
    as such and fails the job (with the reason) after the tenant is ACTIVE again."""

    name = "activate"

    def __init__(self, registry: TenantRegistryPort) -> None:
        self._registry = registry

    async def run(self, ctx: StepContext) -> str | None:
        switched = json.loads(ctx.results.get(SwitchRelease.name) or "{}")
        if not switched.get("endpoint"):
            raise StepFailed("the switch_release step left no endpoint")
        tenant = ctx.tenant
        old, new = str(switched["from_version"]), str(switched["to_version"])
        if switched["rolled_back"]:
            event = tenant.roll_back_update(switched["endpoint"], old, new, switched["reason"],
                                            actor=SYSTEM_ACTOR)
        else:
            event = tenant.finish_update(switched["endpoint"], old, new, actor=SYSTEM_ACTOR)
        event = dataclasses.replace(event, detail={**event.detail, "job_id": ctx.job.job_id})
        try:
            await self._registry.save(tenant, event, expected_state=TenantState.PROVISIONING)
        except ConcurrentUpdate:
            raise Cancelled from None
        if switched["rolled_back"]:
            log.warning("tenant %s: update to %s failed, rolled back to %s: %s", tenant.slug,
                        new, old, switched["reason"])
            raise StepFailed(f"update to {new} failed, rolled back to {old}: "
                             f"{switched['reason']}")
        log.info("tenant %s: ACTIVE on version %s (was %s)", tenant.slug, new, old)
        return f"ACTIVE on version {new} at {switched['endpoint']}"


def update_steps(registry: TenantRegistryPort) -> tuple[Step, ...]:
    """The steps of an ``update`` job, in order."""
    return (SwitchRelease(registry), ActivateUpdate(registry))

