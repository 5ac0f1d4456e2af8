"""Durable provisioning jobs: each (de)provisioning run of a tenant is a job of named steps.

A job is recorded in ``tenant_jobs`` and run by the queue's worker (procrastinate, one job at
a time per tenant). Every step is idempotent and recorded in ``tenant_job_steps`` as it starts
and ends; a step already ``done`` is skipped when the job runs again — after a ``kill -9`` of
the control plane the queue hands the job to the next worker and it continues where it was.
Before every step the runner checks the job was not cancelled and the tenant is still in the
job's state; if not it rolls back what it must (a provisioning job stops the data plane it may
have started) and ends ``cancelled``. A failed step moves the tenant to FAILED with the step's
message (no secrets: providers' messages are safe to show).

    provision:   begin → secrets → stop_for_reapply (only when a data plane ran) → apply
                 → activate
    deprovision: archive_audit → stop → destroy → verify → shred → revoke_keys → finish

``secrets`` makes the tenant's age key and SOPS-encrypted credentials once (SPEC §6); ``shred``
destroys them (crypto-shred) only after ``verify`` found every resource gone.
``archive_audit`` fetches the tenant's signed audit export from its data plane, verifies it
offline and stores it under the control plane's state directory (SPEC §3); if that fails the
job fails there and nothing is destroyed — unless the DEPROVISION request waived the archive
with a reason (a data plane that is gone for good), in which case the failure and the waiver
are recorded and the job goes on. A tenant that never became ACTIVE has no data plane and
nothing to archive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from control_plane.adapters.job_store import JobRecord, JobStore
from control_plane.adapters.registry import TenantRegistry
from control_plane.adapters.secret_store import SecretStore, generate_tenant_secrets
from control_plane.domain.lifecycle import Action, Operation, Tenant, TenantState
from control_plane.errors import ConcurrentUpdate
from control_plane.providers.base import Provider
from frostbyte_common.errors import FrostbyteError
from frostbyte_common.tenant_config import TenantConfig

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "control-plane"
# the operations whose jobs run on the queue (others, e.g. ``rotate``, run in their request)
QUEUED_OPERATIONS = frozenset({Operation.PROVISION.value, Operation.DEPROVISION.value})


class Queue(Protocol):
    async def defer(self, job_id: str, slug: str) -> None: ...

    async def recover(self, open_jobs: list[tuple[str, str]]) -> int: ...


class Cancelled(Exception):
    """The job was cancelled or its tenant moved on: stop at this step boundary."""


class StepFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


Step = Callable[[Tenant, Provider], Awaitable[str | None]]
# fetches, verifies and stores a tenant's signed audit export; returns what to log
# ({"archive": path, "head_hash": ..., "events": n})
Archiver = Callable[[Tenant, Provider], Awaitable[dict[str, Any]]]
# key of the DEPROVISION event's detail holding an admin's waiver of the audit archive
# ({"by": actor, "reason": ...}): a failed archive then no longer stops the job
AUDIT_ARCHIVE_WAIVER = "audit_archive_waived"


class JobRunner:
    """Creates, runs and recovers tenant jobs."""

    def __init__(self, registry: TenantRegistry, store: JobStore, queue: Queue,
                 providers: Mapping[str, Provider], secrets: SecretStore,
                 archiver: Archiver | None = None) -> None:
        self._secrets = secrets
        self._archiver = archiver
        self._registry = registry
        self._store = store
        self._queue = queue
        self._providers = dict(providers)

    async def enqueue(self, tenant: Tenant, actor: str) -> JobRecord:
        """The tenant's open job, or a new one for the operation its state calls for, deferred
        to the queue (a second request while one is open gets the same job)."""
        operation = (Operation.DEPROVISION if tenant.state is TenantState.DEPROVISIONING
                     else Operation.PROVISION)
        job, _ = await self._store.open_or_create(tenant.slug, operation.value, actor)
        await self._queue.defer(job.job_id, tenant.slug)
        return job

    async def cancel_open_job(self, slug: str) -> JobRecord | None:
        job = await self._store.open_job(slug)
        if job is not None:
            await self._store.set_status(job.job_id, "cancelled", "cancelled by admin")
        return job

    async def recover(self) -> int:
        """Put back the jobs whose worker died and open jobs missing from the queue. Only
        (de)provisioning jobs live on the queue: a ``rotate`` job runs inside its request
        (see :meth:`TenantService.rotate_secrets`) and is never the queue's to resume."""
        jobs = [j for j in await self._store.open_jobs() if j.operation in QUEUED_OPERATIONS]
        return await self._queue.recover([(j.job_id, j.slug) for j in jobs])

    # -- running a job ----------------------------------------------------------------------
    async def run(self, job_id: str) -> None:
        """The queue task: run the job's steps that are not done yet."""
        job = await self._one(job_id)
        if job is None or job.status not in ("queued", "running") or \
                job.operation not in QUEUED_OPERATIONS:
            return
        await self._store.set_status(job_id, "running")
        tenant = await self._registry.get(job.slug)
        provider = self._providers.get(tenant.provider)
        try:
            if provider is None:
                raise StepFailed(f"provider {tenant.provider!r} is not configured")
            if job.operation == Operation.PROVISION.value:
                await self._run_steps(job, self._provision_steps(job), provider)
            else:
                await self._run_steps(job, self._deprovision_steps(job), provider)
        except Cancelled:
            log.info("tenant %s: job %s stopped (cancelled)", job.slug, job_id)
            if job.operation == Operation.PROVISION.value and provider is not None:
                await self._rollback(job, provider)
            await self._store.set_status(job_id, "cancelled")
            return
        except StepFailed as exc:
            await self._fail(job, exc.message)
            return
        await self._store.set_status(job_id, "succeeded")

    async def _one(self, job_id: str) -> JobRecord | None:
        for job in await self._store.open_jobs():
            if job.job_id == job_id:
                return job
        return None

    async def _run_steps(self, job: JobRecord, steps: list[tuple[str, Step]],
                         provider: Provider) -> None:
        done = {s.step: s for s in await self._store.steps(job.job_id) if s.status == "done"}
        for position, (name, step) in enumerate(steps):
            if name in done:
                log.info("tenant %s: job %s step %s already done, skipped", job.slug,
                         job.job_id, name)
                continue
            tenant = await self._check(job, first=position == 0)
            await self._store.start_step(job.job_id, name, position)
            try:
                message = await step(tenant, provider)
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

    async def _check(self, job: JobRecord, *, first: bool) -> Tenant:
        """Between steps: still wanted? (not cancelled, tenant still in the job's state)"""
        if await self._store.status(job.job_id) == "cancelled":
            raise Cancelled
        tenant = await self._registry.get(job.slug)
        running = (TenantState.PROVISIONING if job.operation == Operation.PROVISION.value
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
        operation = Operation(job.operation)
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

    async def _step_message(self, job_id: str, step: str) -> str | None:
        for record in await self._store.steps(job_id):
            if record.step == step:
                return record.message
        return None

    # -- the steps --------------------------------------------------------------------------
    def _provision_steps(self, job: JobRecord) -> list[tuple[str, Step]]:
        async def begin(tenant: Tenant, provider: Provider) -> str | None:
            if tenant.state is TenantState.REQUESTED:
                event = tenant.begin_provisioning(actor=SYSTEM_ACTOR)
                await self._registry.save(tenant, event, expected_state=TenantState.REQUESTED)
            return "re-apply" if tenant.endpoint else "first provisioning"

        async def make_secrets(tenant: Tenant, provider: Provider) -> str | None:
            if await asyncio.to_thread(self._secrets.exists, tenant.slug):
                return "kept (already made)"
            await asyncio.to_thread(self._secrets.put, tenant.slug, generate_tenant_secrets())
            return "tenant age key and SOPS-encrypted credentials made"

        async def stop_for_reapply(tenant: Tenant, provider: Provider) -> str | None:
            if tenant.endpoint is None:
                return "nothing running"
            stopped = await asyncio.to_thread(provider.stop, tenant)
            return f"stopped {len(stopped)} process(es) to restart with the new config"

        async def apply(tenant: Tenant, provider: Provider) -> str | None:
            config = TenantConfig.model_validate(tenant.config)
            return await asyncio.to_thread(provider.provision, tenant, config)

        async def activate(tenant: Tenant, provider: Provider) -> str | None:
            endpoint = await self._step_message(job.job_id, "apply")
            if not endpoint:
                raise StepFailed("the apply step left no endpoint")
            event = tenant.mark_provisioned(endpoint, actor=SYSTEM_ACTOR)
            try:
                await self._registry.save(tenant, event, expected_state=TenantState.PROVISIONING)
            except ConcurrentUpdate:
                raise Cancelled from None
            log.info("tenant %s: ACTIVE at %s", tenant.slug, endpoint)
            return f"ACTIVE at {endpoint}"

        return [("begin", begin), ("secrets", make_secrets),
                ("stop_for_reapply", stop_for_reapply), ("apply", apply), ("activate", activate)]

    async def _archive_waiver(self, slug: str) -> dict[str, Any] | None:
        """The waiver of the latest DEPROVISION request, if it carried one."""
        for event in reversed(await self._registry.events(slug)):
            if event.action is Action.DEPROVISION:
                waiver = event.detail.get(AUDIT_ARCHIVE_WAIVER)
                return dict(waiver) if isinstance(waiver, dict) else None
        return None

    def _deprovision_steps(self, job: JobRecord) -> list[tuple[str, Step]]:
        async def archive_audit(tenant: Tenant, provider: Provider) -> str | None:
            if tenant.endpoint is None:
                log.info("tenant %s: never became ACTIVE, no audit trail to archive",
                         tenant.slug)
                return "nothing to archive (the tenant never had a data plane)"
            if self._archiver is None:
                raise StepFailed("no audit archive is configured; refusing to destroy the "
                                 "tenant's audit trail")
            try:
                archived = await self._archiver(tenant, provider)
            except FrostbyteError as exc:
                waiver = await self._archive_waiver(tenant.slug)
                if waiver is None:
                    raise
                log.warning("tenant %s: audit export not archived (%s); waived by %s: %s",
                            tenant.slug, exc.message, waiver.get("by"), waiver.get("reason"))
                return json.dumps({"waived": waiver, "error": exc.message}, sort_keys=True)
            log.info("tenant %s: audit export archived at %s (head %s, %s events)",
                     tenant.slug, archived["archive"], archived["head_hash"],
                     archived["events"])
            return json.dumps(archived, sort_keys=True)

        async def stop(tenant: Tenant, provider: Provider) -> str | None:
            stopped = await asyncio.to_thread(provider.stop, tenant)
            return f"stopped {len(stopped)} process(es)"

        async def destroy(tenant: Tenant, provider: Provider) -> str | None:
            await asyncio.to_thread(provider.deprovision, tenant)
            return "resources destroyed"

        async def verify(tenant: Tenant, provider: Provider) -> str | None:
            checks = await asyncio.to_thread(provider.verify_deprovisioned, tenant)
            left = sorted(name for name, gone in checks.items() if not gone)
            if left:
                raise StepFailed(f"verification found still present: {', '.join(left)}")
            return json.dumps(checks, sort_keys=True)

        async def shred(tenant: Tenant, provider: Provider) -> str | None:
            checks = await asyncio.to_thread(self._secrets.shred, tenant.slug)
            left = sorted(name for name, gone in checks.items() if not gone)
            if left:
                raise StepFailed(f"crypto-shred left: {', '.join(left)}")
            return json.dumps(checks, sort_keys=True)

        async def revoke_keys(tenant: Tenant, provider: Provider) -> str | None:
            return str(await self._registry.revoke_vendor_keys(tenant.slug))

        async def finish(tenant: Tenant, provider: Provider) -> str | None:
            verified: dict[str, Any] = {
                **json.loads(await self._step_message(job.job_id, "verify") or "{}"),
                **json.loads(await self._step_message(job.job_id, "shred") or "{}")}
            revoked = int(await self._step_message(job.job_id, "revoke_keys") or 0)
            archived = await self._step_message(job.job_id, "archive_audit") or ""
            event = tenant.mark_deprovisioned(actor=SYSTEM_ACTOR)
            event = dataclasses.replace(event, detail={
                "verified_gone": verified, "vendor_keys_revoked": revoked,
                "audit_archive": json.loads(archived) if archived.startswith("{") else None,
                "job_id": job.job_id})
            try:
                await self._registry.save(tenant, event,
                                          expected_state=TenantState.DEPROVISIONING)
            except ConcurrentUpdate:
                raise Cancelled from None
            log.info("tenant %s: DEPROVISIONED, verified gone: %s", tenant.slug,
                     ", ".join(verified))
            return "DEPROVISIONED"

        return [("archive_audit", archive_audit), ("stop", stop), ("destroy", destroy),
                ("verify", verify), ("shred", shred), ("revoke_keys", revoke_keys),
                ("finish", finish)]

