"""Durable tenant jobs: each (de)provisioning run of a tenant is a job of named steps
(:mod:`control_plane.services.provisioning_steps`).

A job is recorded in ``tenant_jobs`` and run by the queue's worker (procrastinate, one job at
a time per tenant). Every step is idempotent and recorded in ``tenant_job_steps`` as it starts
and ends; a step already ``done`` is skipped when the job runs again — after a ``kill -9`` of
the control plane the queue hands the job to the next worker and it continues where it was.
Before every step the runner checks the job was not cancelled and the tenant is still in the
job's state; if not it rolls back what it must (a provisioning job stops the data plane it may
have started) and ends ``cancelled``. A failed step moves the tenant to FAILED with the step's
message (no secrets: providers' messages are safe to show).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType

from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.jobs import JobRecord
from control_plane.domain.lifecycle import Operation, Tenant, TenantState
from control_plane.domain.ports import (
    ControlPlaneMetrics,
    JobQueue,
    JobStorePort,
    TenantRegistryPort,
)
from control_plane.domain.releases import UPDATE_OPERATION
from control_plane.errors import ConcurrentUpdate
from control_plane.providers.base import Provider
from control_plane.services.provisioning_steps import Cancelled, Step, StepContext, StepFailed
from frostbyte_common import logs
from frostbyte_common.errors import FrostbyteError

log = logging.getLogger(__name__)

# the operations whose jobs run on the queue (others, e.g. ``rotate``, run in their request)
QUEUED_OPERATIONS = frozenset({Operation.PROVISION.value, Operation.DEPROVISION.value,
                               UPDATE_OPERATION})
# the operations that run while the tenant is PROVISIONING and end it ACTIVE; a failed one
# fails the tenant's provisioning (retry re-provisions it on its recorded release)
_TO_ACTIVE = frozenset({Operation.PROVISION.value, UPDATE_OPERATION})


class JobRunner:
    """Creates, runs and recovers tenant jobs; ``plans`` holds each queued operation's steps
    (:func:`~control_plane.services.provisioning_steps.job_plans`)."""

    def __init__(self, registry: TenantRegistryPort, store: JobStorePort, queue: JobQueue,
                 providers: Mapping[str, Provider],
                 plans: Mapping[str, Sequence[Step]], *,
                 metrics: ControlPlaneMetrics | None = None) -> None:
        self._registry = registry
        self._metrics = metrics
        self._store = store
        self._queue = queue
        self._providers = dict(providers)
        self._plans = {operation: tuple(steps) for operation, steps in plans.items()}

    async def enqueue(self, tenant: Tenant, actor: str) -> JobRecord:
        """The tenant's open job, or a new one for the operation its state calls for, deferred
        to the queue (a second request while one is open gets the same job)."""
        operation = (Operation.DEPROVISION if tenant.state is TenantState.DEPROVISIONING
                     else Operation.PROVISION)
        job, _ = await self._store.open_or_create(tenant.slug, operation.value, actor)
        await self._queue.defer(job.job_id, tenant.slug)
        return job

    async def reserve(self, slug: str, operation: str, actor: str) -> JobRecord:
        """A new job for ``operation`` (e.g. an update), recorded but not yet on the queue
        (:meth:`defer` it once the tenant's transition is saved; a crash in between leaves
        an open job that recovery defers, and that ends ``cancelled`` if the tenant never
        moved). :class:`ConcurrentUpdate` (409) while another job of the tenant is open."""
        job, created = await self._store.open_or_create(slug, operation, actor)
        if not created:
            raise ConcurrentUpdate(f"tenant {slug!r} has a {job.operation} job running "
                                   f"({job.job_id}); try again when it ends")
        return job

    async def defer(self, job: JobRecord) -> None:
        """Put a job made by :meth:`reserve` on the queue."""
        await self._queue.defer(job.job_id, job.slug)

    async def cancel_open_job(self, slug: str) -> JobRecord | None:
        job = await self._store.open_job(slug)
        if job is not None:
            await self._store.set_status(job.job_id, "cancelled", "cancelled by admin")
        return job

    async def recover(self) -> int:
        """Put back the jobs whose worker died and open jobs missing from the queue. Only
        (de)provisioning jobs live on the queue: a ``rotate`` job runs inside its request
        (see :class:`~control_plane.services.rotation.SecretRotationService`) and is never
        the queue's to resume."""
        jobs = [j for j in await self._store.open_jobs() if j.operation in QUEUED_OPERATIONS]
        return await self._queue.recover([(j.job_id, j.slug) for j in jobs])

    # -- running a job ----------------------------------------------------------------------
    async def run(self, job_id: str) -> None:
        """The queue task: run the job's steps that are not done yet."""
        job = await self._one(job_id)
        if job is None or job.status not in ("queued", "running") or \
                job.operation not in QUEUED_OPERATIONS:
            return
        logs.bind(tenant=job.slug, job_id=job_id)  # on this job's lines (its own task)
        await self._store.set_status(job_id, "running")
        began = job.started_at or datetime.now(UTC)  # a resumed job counts from its start
        tenant = await self._registry.get(job.slug)
        provider = self._providers.get(tenant.provider)
        try:
            if provider is None:
                raise StepFailed(f"provider {tenant.provider!r} is not configured")
            await self._run_steps(job, self._plans[job.operation], provider)
        except Cancelled:
            log.info("tenant %s: job %s stopped (cancelled)", job.slug, job_id)
            if job.operation in _TO_ACTIVE and provider is not None:
                await self._rollback(job, provider)
            await self._store.set_status(job_id, "cancelled")
            self._ended(job, "cancelled", began)
            return
        except StepFailed as exc:
            await self._fail(job, exc.message)
            self._ended(job, "failed", began)
            return
        await self._store.set_status(job_id, "succeeded")
        self._ended(job, "succeeded", began)

    def _ended(self, job: JobRecord, outcome: str, began: datetime) -> None:
        if self._metrics is not None:
            seconds = (datetime.now(UTC) - began).total_seconds()
            self._metrics.observe_job(job.operation, outcome, seconds)

    async def _one(self, job_id: str) -> JobRecord | None:
        for job in await self._store.open_jobs():
            if job.job_id == job_id:
                return job
        return None

    async def _run_steps(self, job: JobRecord, steps: Sequence[Step],
                         provider: Provider) -> None:
        recorded = await self._store.steps(job.job_id)
        done = {s.step for s in recorded if s.status == "done"}
        results: dict[str, str | None] = {s.step: s.message for s in recorded}
        for position, step in enumerate(steps):
            name = step.name
            if name in done:
                log.info("tenant %s: job %s step %s already done, skipped", job.slug,
                         job.job_id, name)
                continue
            if position == len(steps) - 1 and await self._landed(job):
                # killed after the last step's effect (the tenant already moved to the job's
                # end state) but before its record: the job is done, not cancelled
                await self._store.end_step(job.job_id, name, "done",
                                           results.get(name) or "in effect before a restart")
                return
            tenant = await self._check(job, first=position == 0)
            await self._store.start_step(job.job_id, name, position)
            context = StepContext(job, tenant, provider, MappingProxyType(dict(results)))
            try:
                message = await step.run(context)
            except asyncio.CancelledError:
                raise  # shutdown: the step stays 'running' and runs again next time
            except Cancelled:
                await self._store.end_step(job.job_id, name, "skipped", "cancelled")
                raise
            except StepFailed as exc:
                await self._store.end_step(job.job_id, name, "failed", exc.message)
                raise
            except FrostbyteError as exc:
                await self._store.end_step(job.job_id, name, "failed", exc.message)
                raise StepFailed(exc.message) from exc
            except Exception as exc:
                log.exception("tenant %s: step %s crashed", job.slug, name)
                message = f"internal error in step {name} (see the control-plane log)"
                await self._store.end_step(job.job_id, name, "failed", message)
                raise StepFailed(message) from exc
            await self._store.end_step(job.job_id, name, "done", message)
            results[name] = message

    async def _landed(self, job: JobRecord) -> bool:
        """The tenant is already where the job was taking it (ACTIVE, DEPROVISIONED)."""
        if await self._store.status(job.job_id) == "cancelled":
            return False
        tenant = await self._registry.get(job.slug)
        end = (TenantState.ACTIVE if job.operation in _TO_ACTIVE
               else TenantState.DEPROVISIONED)
        return tenant.state is end

    async def _check(self, job: JobRecord, *, first: bool) -> Tenant:
        """Between steps: still wanted? (not cancelled, tenant still in the job's state)"""
        if await self._store.status(job.job_id) == "cancelled":
            raise Cancelled
        tenant = await self._registry.get(job.slug)
        running = (TenantState.PROVISIONING if job.operation in _TO_ACTIVE
                   else TenantState.DEPROVISIONING)
        allowed = {running, TenantState.REQUESTED} if first else {running}
        if tenant.state not in allowed:
            raise Cancelled
        return tenant

    async def _rollback(self, job: JobRecord, provider: Provider) -> None:
        tenant = await self._registry.get(job.slug)
        if tenant.state is TenantState.FAILED:
            log.info("tenant %s: rolling back: stopping its data plane", job.slug)
            await asyncio.to_thread(provider.stop, tenant)

    async def _fail(self, job: JobRecord, reason: str) -> None:
        await self._store.set_status(job.job_id, "failed", reason)
        tenant = await self._registry.get(job.slug)
        operation = (Operation.PROVISION if job.operation == UPDATE_OPERATION
                     else Operation(job.operation))
        expected = tenant.state
        if expected not in (TenantState.PROVISIONING, TenantState.DEPROVISIONING):
            return
        log.warning("tenant %s: %s failed: %s", job.slug, operation.value, reason)
        event = tenant.fail(operation, reason, actor=SYSTEM_ACTOR)
        event = dataclasses.replace(event, detail={**event.detail, "job_id": job.job_id})
        try:
            await self._registry.save(tenant, event, expected_state=expected)
        except ConcurrentUpdate:
            log.info("tenant %s moved on while its job failed", job.slug)
