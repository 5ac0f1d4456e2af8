"""Tenant use cases: create, read, provision, recover, issue and revoke vendor keys, and the
admin lifecycle actions of SPEC §3 (suspend, resume, retry, deprovision, cancel, config patch).

The service loads a :class:`~control_plane.domain.lifecycle.Tenant`, asks it for a transition,
persists the new state together with the event (registry, with the actor) and runs the work
the new state calls for through a :class:`~control_plane.providers.base.Provider`.

(De)provisioning runs as durable jobs (:mod:`control_plane.services.provisioning`) on the
control plane's PostgreSQL-backed queue, one open job per tenant, each step recorded; at
start-up :meth:`recover` puts back what a crash left and restarts the data planes of ACTIVE
tenants that are not healthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from control_plane.adapters.data_plane_control import (
    ControlKeyRefused,
    DataPlaneControl,
    QuarantineAction,
)
from control_plane.adapters.job_store import JobRecord, JobStore, StepRecord
from control_plane.adapters.registry import TenantRegistry
from control_plane.adapters.secret_store import SecretStore, generate_tenant_secrets
from control_plane.domain.lifecycle import (
    Tenant,
    TenantEvent,
    TenantState,
)
from control_plane.domain.vendor_keys import VendorKeyRecord
from control_plane.errors import (
    ConcurrentUpdate,
    InvalidConfig,
    InvalidTransition,
    ProviderNotAvailable,
    TenantNotActive,
)
from control_plane.providers.base import JobOutput, Provider
from control_plane.services.audit_archive import AuditArchiveFailed, store_export
from control_plane.services.provisioning import AUDIT_ARCHIVE_WAIVER, JobRunner, Queue
from frostbyte_common.audit_chain import ChainVerdict
from frostbyte_common.errors import FrostbyteError, ValidationFailed
from frostbyte_common.slugs import validate_slug
from frostbyte_common.tenant_config import TenantConfig, merge_patch
from frostbyte_common.vendor_keys import SCOPES, generate_key, hash_key, key_id_of

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "control-plane"
CONTROL_SCOPE = "control"  # the data plane's scope for the control plane's own credential
CONTROL_KEY = "control_key"  # its name among the tenant's SOPS secrets
JOB_OUTPUT_LINES = 2000  # the tail of a job's provider output shown in its log


@dataclass(frozen=True, slots=True)
class IssuedVendorKey:
    key_id: str
    key: str  # shown once, never stored
    scopes: tuple[str, ...]
    label: str | None


@contextlib.asynccontextmanager
async def _control_channel(provider: Provider, tenant: Tenant) -> AsyncIterator[str]:
    """The provider's (blocking) control channel, opened and closed in worker threads. A
    caller cancelled while the channel opens still closes it once it is open: the provider
    may have started a process (an ssh forward) that must not outlive the call."""
    channel = provider.control_channel(tenant)
    opening = asyncio.ensure_future(asyncio.to_thread(channel.__enter__))
    try:
        base_url = await asyncio.shield(opening)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await opening
            await asyncio.to_thread(channel.__exit__, None, None, None)
        raise
    try:
        yield base_url
    finally:
        await asyncio.to_thread(channel.__exit__, None, None, None)


def effective_config(tenant: Tenant) -> TenantConfig:
    """The tenant's full configuration: its stored overrides over the product defaults."""
    return TenantConfig.model_validate(tenant.config)


class TenantService:
    """Tenant lifecycle use cases over a registry and the configured providers."""

    def __init__(self, registry: TenantRegistry, providers: Mapping[str, Provider],
                 store: JobStore, queue: Queue, secrets: SecretStore, *,
                 data_plane_transport: httpx.AsyncBaseTransport | None = None,
                 archive_dir: Path | None = None) -> None:
        self._registry = registry
        self._archive_dir = archive_dir
        self._data_plane_transport = data_plane_transport
        self._providers = dict(providers)
        self._store = store
        self._secrets = secrets
        self._runner = JobRunner(registry, store, queue, providers, secrets,
                                 archiver=self._archive_audit if archive_dir else None)
        self._jobs: dict[str, asyncio.Task[None]] = {}  # restarts of ACTIVE data planes

    async def run_job(self, job_id: str) -> None:
        """The queue's task: run a tenant job (see :mod:`control_plane.services.provisioning`)."""
        await self._runner.run(job_id)

    # -- queries ---------------------------------------------------------------------------
    async def get(self, slug: str) -> Tenant:
        return await self._registry.get(slug)

    async def list_tenants(self) -> list[Tenant]:
        return await self._registry.list_tenants()

    async def events(self, slug: str) -> list[TenantEvent]:
        return await self._registry.events(slug)

    async def verify_events(self, slug: str) -> ChainVerdict:
        return await self._registry.verify_events(slug)

    async def vendor_keys(self, slug: str) -> list[VendorKeyRecord]:
        await self._registry.get(slug)
        return await self._registry.vendor_keys(slug)

    # -- commands --------------------------------------------------------------------------
    async def create(
        self,
        slug: str,
        display_name: str,
        provider: str,
        config: Mapping[str, object] | None,
        *,
        actor: str,
    ) -> Tenant:
        """Record a new tenant (REQUESTED) and start provisioning it in the background."""
        validate_slug(slug)
        if provider not in self._providers:
            known = ", ".join(sorted(self._providers)) or "none"
            raise ProviderNotAvailable(
                f"provider {provider!r} is not available here (available: {known})"
            )
        overrides = dict(config or {})
        try:
            TenantConfig.model_validate(overrides)
        except ValidationError as exc:
            raise InvalidConfig(_describe(exc)) from None
        tenant, event = Tenant.request(slug, display_name, provider, overrides, actor=actor)
        await self._registry.create(tenant, event)
        log.info("tenant %s requested by %s (provider %s)", slug, actor, provider)
        await self._enqueue(tenant, actor)
        return tenant

    async def issue_vendor_key(
        self, slug: str, scopes: Sequence[str], label: str | None, *, actor: str
    ) -> IssuedVendorKey:
        """Generate a vendor key for an ACTIVE tenant: its hash goes to the registry and to the
        tenant's data plane; the key itself is returned once and never stored."""
        wanted = tuple(dict.fromkeys(scopes))
        unknown = [s for s in wanted if s not in SCOPES]
        if not wanted or unknown:
            raise ValidationFailed(
                f"scopes must be a non-empty subset of {list(SCOPES)}; unknown: {unknown}",
                code="INVALID_SCOPES",
            )
        tenant = await self._registry.get(slug)
        if tenant.state is not TenantState.ACTIVE:
            raise TenantNotActive(
                f"tenant {slug!r} is {tenant.state.value}; vendor keys need an ACTIVE tenant"
            )
        issued = generate_key()
        await self._registry.add_vendor_key(
            VendorKeyRecord(issued.key_id, slug, issued.sha256, wanted, label)
        )
        provider = self._providers[tenant.provider]
        try:
            await asyncio.to_thread(
                provider.install_vendor_key, tenant, issued.key_id, issued.sha256, wanted, label
            )
        except Exception:
            await self._registry.delete_vendor_key(issued.key_id)
            raise
        log.info("tenant %s: vendor key %s issued by %s, scopes %s", slug, issued.key_id,
                 actor, ",".join(wanted))
        return IssuedVendorKey(issued.key_id, issued.key, wanted, label)

    # -- provisioning jobs -----------------------------------------------------------------
    async def _enqueue(self, tenant: Tenant, actor: str) -> None:
        """Queue the durable job the tenant's state calls for (one open job per tenant)."""
        job = await self._runner.enqueue(tenant, actor)
        log.info("tenant %s: job %s (%s) queued", tenant.slug, job.job_id, job.operation)

    async def jobs(self, slug: str) -> list[JobRecord]:
        await self._registry.get(slug)
        return await self._store.list_jobs(slug)

    async def job_log(self, slug: str, job_id: str
                      ) -> tuple[JobRecord, list[StepRecord], JobOutput]:
        """The job, its steps, and the tail of its provider's output: what the provider
        wrote for the tenant from the job's creation until it finished (one open job per
        tenant, so that window is the job's). No output when the provider is not
        configured here."""
        tenant = await self._registry.get(slug)
        job = await self._store.get(slug, job_id)
        steps = await self._store.steps(job.job_id)
        provider = self._providers.get(tenant.provider)
        output = JobOutput() if provider is None else await asyncio.to_thread(
            provider.job_output, tenant, job.created_at, job.finished_at, JOB_OUTPUT_LINES)
        return job, steps, output

    # -- admin lifecycle actions (SPEC §3) -------------------------------------------------
    def _provider(self, tenant: Tenant) -> Provider:
        provider = self._providers.get(tenant.provider)
        if provider is None:
            raise ProviderNotAvailable(f"provider {tenant.provider!r} is not configured")
        return provider

    async def _act(
        self,
        slug: str,
        act: Callable[[Tenant], TenantEvent],
        work: Callable[[Tenant, Provider], Coroutine[Any, Any, dict[str, Any]]] | None = None,
    ) -> Tenant:
        """Check the transition, do the provider ``work`` it needs (whose result goes into the
        event), then save the tenant and its event if nobody moved it meanwhile."""
        tenant = await self._registry.get(slug)
        before = tenant.state
        event = act(tenant)  # InvalidTransition (409) before anything is touched
        if work is not None:
            detail = await work(tenant, self._provider(tenant))
            event = dataclasses.replace(event, detail={**event.detail, **detail})
        await self._registry.save(tenant, event, expected_state=before)
        log.info("tenant %s: %s -> %s by %s", slug, before.value, tenant.state.value,
                 event.actor)
        return tenant

    async def suspend(self, slug: str, *, actor: str) -> Tenant:
        """Transition 7: the data plane keeps running and keeps its data, but answers every
        vendor call with 403 ``TENANT_SUSPENDED`` (set through its control routes, which
        only the control key reaches). Work it had already accepted is finished."""

        async def work(tenant: Tenant, provider: Provider) -> dict[str, Any]:
            await self._control(tenant, actor, lambda dp: dp.set_suspended(True))
            return {"vendor_endpoint": "refusing: 403 TENANT_SUSPENDED"}

        return await self._act(slug, lambda t: t.suspend(actor=actor), work)

    async def resume(self, slug: str, *, actor: str) -> Tenant:
        """Transition 8: make sure the data plane runs, then reopen its vendor endpoint."""

        async def work(tenant: Tenant, provider: Provider) -> dict[str, Any]:
            tenant.endpoint = await asyncio.to_thread(
                provider.start, tenant, effective_config(tenant))
            await self._control(tenant, actor, lambda dp: dp.set_suspended(False))
            return {"endpoint": tenant.endpoint}

        return await self._act(slug, lambda t: t.resume(actor=actor), work)

    # -- the control plane's own calls to a data plane ------------------------------------
    async def _control_key(self, tenant: Tenant, *, install: bool) -> str:
        """The tenant's control key from its SOPS secrets (made once for tenants created
        before it existed); with ``install`` its hash is (re-)installed in the data plane."""
        values = await asyncio.to_thread(self._secrets.get, tenant.slug)
        key = values.get(CONTROL_KEY)
        if key is None:
            key = generate_key().key
            await asyncio.to_thread(self._secrets.put, tenant.slug, {**values, CONTROL_KEY: key})
            install = True
        if install:
            await self._install_control_key(tenant, key)
        return key

    async def _install_control_key(self, tenant: Tenant, key: str) -> None:
        key_id = key_id_of(key)
        assert key_id is not None  # made by generate_key
        await asyncio.to_thread(self._provider(tenant).install_vendor_key, tenant, key_id,
                                hash_key(key), (CONTROL_SCOPE,), "control-plane")

    async def _control(
        self, tenant: Tenant, actor: str,
        call: Callable[[DataPlaneControl], Coroutine[Any, Any, dict[str, Any]]],
    ) -> dict[str, Any]:
        """Run ``call`` against the tenant's control routes as ``actor``; a refused control
        key (never installed, or its data plane was rebuilt) is installed once and retried."""
        if not tenant.endpoint:
            raise TenantNotActive(f"tenant {tenant.slug!r} has no data plane endpoint")
        key = await self._control_key(tenant, install=False)
        async with _control_channel(self._provider(tenant), tenant) as base_url:
            for attempt in (1, 2):
                client = DataPlaneControl(base_url, key, actor=actor,
                                          transport=self._data_plane_transport)
                try:
                    return await call(client)
                except ControlKeyRefused:
                    if attempt == 2:
                        raise
                    log.info("tenant %s: installing the control key", tenant.slug)
                    await self._install_control_key(tenant, key)
        raise AssertionError("unreachable")

    async def _archive_audit(self, tenant: Tenant, provider: Provider) -> dict[str, Any]:
        """The deprovision job's first step (SPEC §3): fetch the tenant's signed audit export
        through its control routes, verify it offline and store it under the archive dir.
        The data plane was stopped when deprovisioning began; it is started again (suspended
        first thing, so vendors stay out) for the export. Raises when anything fails."""
        assert self._archive_dir is not None
        if not await asyncio.to_thread(provider.is_healthy, tenant):
            log.info("tenant %s: starting its data plane to export its audit trail",
                     tenant.slug)
            await asyncio.to_thread(provider.start, tenant, effective_config(tenant))
        data = b""

        async def fetch(dp: DataPlaneControl) -> dict[str, Any]:
            nonlocal data
            await dp.set_suspended(True)
            data = await dp.audit_export()
            return {}

        try:
            await self._control(tenant, SYSTEM_ACTOR, fetch)
        except FrostbyteError as exc:
            raise AuditArchiveFailed(f"cannot fetch the audit export of tenant "
                                     f"{tenant.slug!r}: {exc.message}") from None
        archived = await asyncio.to_thread(store_export, self._archive_dir, tenant.slug, data)
        return archived.to_json()

    async def quarantine(self, slug: str, *, limit: int, offset: int, actor: str
                         ) -> dict[str, Any]:
        """The tenant's quarantined documents (SPEC §9), read through its control routes."""
        tenant = await self._with_data_plane(slug)
        return await self._control(tenant, actor,
                                   lambda dp: dp.quarantine(limit=limit, offset=offset))

    async def quarantine_action(self, slug: str, document_id: uuid.UUID,
                                action: QuarantineAction, *, actor: str) -> dict[str, Any]:
        """Release a quarantined document into the pipeline, or purge it — admin only; the
        data plane records it in the tenant's audit chain with the admin as actor."""
        tenant = await self._with_data_plane(slug)
        result = await self._control(
            tenant, actor, lambda dp: dp.quarantine_action(document_id, action))
        log.info("tenant %s: quarantined document %s %s by %s", slug, document_id,
                 "released" if action == "release" else "purged", actor)
        return result

    async def _with_data_plane(self, slug: str) -> Tenant:
        tenant = await self._registry.get(slug)
        if tenant.state not in (TenantState.ACTIVE, TenantState.SUSPENDED):
            raise TenantNotActive(f"tenant {slug!r} is {tenant.state.value}; its quarantine "
                                  "is reachable in ACTIVE and SUSPENDED")
        return tenant

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
                    await self._control(tenant, actor, lambda dp: dp.set_suspended(True))
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
        try:
            TenantConfig.model_validate(merged)
        except ValidationError as exc:
            raise InvalidConfig(_describe(exc)) from None
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

    async def rotate_secrets(self, slug: str, *, actor: str) -> tuple[str, list[IssuedVendorKey]]:
        """Re-issue every credential of an ACTIVE or SUSPENDED tenant (no state change): new
        SOPS-encrypted secrets, and for each valid vendor key a new one with the same scopes
        (installed first, so the data plane keeps serving) after which the old one is revoked.
        Recorded as a ``rotate`` job with its steps; returns its id and the new keys (shown
        once)."""
        tenant = await self._registry.get(slug)
        if tenant.state not in (TenantState.ACTIVE, TenantState.SUSPENDED):
            raise InvalidTransition(
                f"cannot rotate the secrets of a tenant in state {tenant.state.value}")
        job, created = await self._store.open_or_create(slug, "rotate", actor)
        if not created:
            raise ConcurrentUpdate(f"tenant {slug!r} has a {job.operation} job running "
                                   f"({job.job_id}); try again when it ends")
        issued: list[IssuedVendorKey] = []
        try:
            await self._store.set_status(job.job_id, "running")
            await self._store.start_step(job.job_id, "secrets", 0)
            before = (await asyncio.to_thread(self._secrets.get, slug)
                      if await asyncio.to_thread(self._secrets.exists, slug) else {})
            fresh = generate_tenant_secrets()
            await asyncio.to_thread(self._secrets.put, slug, fresh)
            # the data plane restarts on them: the database password changes now
            await asyncio.to_thread(self._provider(tenant).apply_secrets, tenant,
                                    effective_config(tenant))
            # the control key too: the new one installed, then the old one refused
            await self._install_control_key(tenant, fresh[CONTROL_KEY])
            old_control = key_id_of(before.get(CONTROL_KEY, ""))
            if old_control is not None:
                await asyncio.to_thread(self._provider(tenant).revoke_vendor_key, tenant,
                                        old_control)
            await self._store.end_step(
                job.job_id, "secrets", "done",
                "every credential re-issued and re-encrypted; the data plane restarted "
                "on them (new database password)")
            await self._store.start_step(job.job_id, "vendor_keys", 1)
            old = [k for k in await self._registry.vendor_keys(slug) if k.revoked_at is None]
            provider = self._provider(tenant)
            for record in old:
                new = generate_key()
                await self._registry.add_vendor_key(VendorKeyRecord(
                    new.key_id, slug, new.sha256, record.scopes, record.label))
                await asyncio.to_thread(provider.install_vendor_key, tenant, new.key_id,
                                        new.sha256, record.scopes, record.label)
                await asyncio.to_thread(provider.revoke_vendor_key, tenant, record.key_id)
                await self._registry.revoke_vendor_keys(slug, [record.key_id])
                issued.append(IssuedVendorKey(new.key_id, new.key, record.scopes, record.label))
            await self._store.end_step(job.job_id, "vendor_keys", "done",
                                       f"{len(issued)} vendor key(s) re-issued, old revoked")
        except FrostbyteError as exc:
            await self._store.set_status(job.job_id, "failed", exc.message)
            raise
        await self._store.set_status(job.job_id, "succeeded")
        log.info("tenant %s: secrets rotated by %s (%d vendor keys)", slug, actor, len(issued))
        return job.job_id, issued

    async def revoke_vendor_key(self, slug: str, key_id: str, *, actor: str) -> VendorKeyRecord:
        """Make the tenant's data plane refuse the key, then mark it revoked in the registry."""
        tenant = await self._registry.get(slug)
        record = await self._registry.vendor_key(slug, key_id)
        if record.revoked_at is None and tenant.state is not TenantState.DEPROVISIONED:
            await asyncio.to_thread(self._provider(tenant).revoke_vendor_key, tenant, key_id)
        await self._registry.revoke_vendor_keys(slug, [key_id])
        log.info("tenant %s: vendor key %s revoked by %s", slug, key_id, actor)
        return await self._registry.vendor_key(slug, key_id)

    async def recover(self) -> None:
        """At start-up: queue a job for every tenant left mid-operation without one, put back
        jobs whose worker died, and restart the data planes of ACTIVE tenants that are not
        healthy (every step is idempotent)."""
        for job in await self._store.open_jobs():
            if job.operation == "rotate":  # ran inside a request of the previous process
                await self._store.set_status(
                    job.job_id, "failed",
                    "the control plane stopped during the rotation; run it again")
        for tenant in await self._registry.list_tenants(
            [TenantState.REQUESTED, TenantState.PROVISIONING, TenantState.ACTIVE,
             TenantState.SUSPENDED, TenantState.DEPROVISIONING]
        ):
            if tenant.state in (TenantState.ACTIVE, TenantState.SUSPENDED):
                self._jobs.setdefault(
                    tenant.slug,
                    asyncio.get_running_loop().create_task(
                        self._guarded(tenant.slug, self._restart(tenant)),
                        name=f"restart:{tenant.slug}",
                    ),
                )
            elif await self._store.open_job(tenant.slug) is None:
                log.info("tenant %s: %s without a job; queueing one", tenant.slug,
                         tenant.state.value)
                await self._enqueue(tenant, SYSTEM_ACTOR)
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
                await self._control(tenant, SYSTEM_ACTOR, lambda dp: dp.set_suspended(True))
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

    async def wait_for_jobs(self) -> None:
        """Wait until every background job has finished (tests, orderly shutdown)."""
        while pending := [t for t in self._jobs.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel running jobs; what they left is resumed by :meth:`recover` next start."""
        tasks = [t for t in self._jobs.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._jobs.clear()


def _describe(exc: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
        for err in exc.errors()[:5]
    ]
    return "invalid config: " + "; ".join(parts)
