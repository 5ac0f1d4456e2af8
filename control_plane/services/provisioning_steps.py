"""The steps of a tenant job, each a named unit the :class:`~control_plane.services.
provisioning.JobRunner` runs in order and records (SPEC §3):

    provision:   begin → secrets → stop_for_reapply (acts only when a data plane ran)
                 → apply → activate
    deprovision: archive_audit → stop → destroy → verify → shred → revoke_keys → finish

A step is *what* is done; the runner decides *whether and when*: it skips a step recorded
``done``, checks before each step that the job is still wanted, and turns what a step raises
into the step's and the job's outcome. Every step is idempotent, because a control plane
killed during a step runs it again on restart: a step whose effect is already there finds it
and says so. A step returns the message recorded for it (an admin reads it in the job's log;
later steps read earlier ones through :attr:`StepContext.results`), raises
:class:`StepFailed` with a message safe to show, or :class:`Cancelled` when the tenant moved
on meanwhile.

``activate`` records the key the data plane signs its audit checkpoints with (read on its
control routes), and refuses a data plane that signs with another key than the one recorded
before (its earlier checkpoints would no longer verify).
``secrets`` makes the tenant's age key and SOPS-encrypted credentials once (SPEC §6);
``shred`` destroys them (crypto-shred) only after ``verify`` found every resource gone.
``archive_audit`` fetches the tenant's signed audit export from its data plane, verifies it
offline and keeps it (SPEC §3); if that fails the job fails there and nothing is destroyed —
unless the DEPROVISION request waived the archive with a reason (a data plane that is gone
for good), in which case the failure and the waiver are recorded and the job goes on. A
tenant that never became ACTIVE has no data plane and nothing to archive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.jobs import JobRecord
from control_plane.domain.lifecycle import Action, Operation, Tenant, TenantEvent, TenantState
from control_plane.domain.ports import SecretStore, TenantRegistryPort
from control_plane.domain.tenant_config import effective_config
from control_plane.domain.tenant_secrets import generate_tenant_secrets
from control_plane.errors import ConcurrentUpdate
from control_plane.providers.base import Provider, ReleaseUpdates
from frostbyte_common.audit_checkpoint import key_id_of as audit_key_id_of
from frostbyte_common.errors import FrostbyteError
from frostbyte_common.version import __version__

log = logging.getLogger(__name__)

# fetches, verifies and keeps a tenant's signed audit export; returns what was kept
# ({"archive": path, "head_hash": ..., "events": n})
Archiver = Callable[[Tenant, Provider], Awaitable[dict[str, Any]]]
# reads (key id, public key) of the audit signing key of a tenant's running data plane
AuditKeyReader = Callable[[Tenant], Awaitable[tuple[str, str]]]
# key of the DEPROVISION event's detail holding an admin's waiver of the audit archive
# ({"by": actor, "reason": ...}): a failed archive then no longer stops the job
AUDIT_ARCHIVE_WAIVER = "audit_archive_waived"


def default_version(provider: Provider) -> str:
    """The release a provider deploys to a tenant that records none: its own default, else
    this control plane's version (what the hetzner playbooks deploy)."""
    if isinstance(provider, ReleaseUpdates):
        return provider.default_version()
    return __version__


class RestoreHooks(Protocol):
    """A tenant made from a backup (:mod:`control_plane.services.backups`): its data is
    loaded in the ``secrets`` step, before the first start, and finished (index re-projected,
    ``tenant.restored`` appended) in ``activate``. Both answer None for any other tenant."""

    async def load_pending(self, tenant: Tenant, provider: Provider) -> str | None: ...

    async def finish_pending(self, tenant: Tenant) -> str | None: ...


class Cancelled(Exception):
    """The job was cancelled or its tenant moved on: stop at this step boundary."""


class StepFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a step works on: its job, the tenant as loaded just before the step, the
    tenant's provider, and the messages of the job's steps recorded so far (by name)."""

    job: JobRecord
    tenant: Tenant
    provider: Provider
    results: Mapping[str, str | None]


class Step(Protocol):
    """One named, idempotent unit of a job."""

    @property
    def name(self) -> str: ...

    async def run(self, ctx: StepContext) -> str | None:
        """Do the step's work (or find it done); the message to record."""
        ...


async def _save_or_cancel(registry: TenantRegistryPort, tenant: Tenant, event: TenantEvent,
                          expected: TenantState) -> None:
    """Save a job's transition; a tenant moved on meanwhile (an admin cancelled) stops it."""
    try:
        await registry.save(tenant, event, expected_state=expected)
    except ConcurrentUpdate:
        raise Cancelled from None


# -- provision ----------------------------------------------------------------------------
class Begin:
    """REQUESTED → PROVISIONING (transition 2); a re-apply or a retry is already there."""

    name = "begin"

    def __init__(self, registry: TenantRegistryPort) -> None:
        self._registry = registry

    async def run(self, ctx: StepContext) -> str | None:
        tenant = ctx.tenant
        if tenant.state is TenantState.REQUESTED:
            event = tenant.begin_provisioning(actor=SYSTEM_ACTOR)
            await self._registry.save(tenant, event, expected_state=TenantState.REQUESTED)
        return "re-apply" if tenant.endpoint else "first provisioning"


class MakeSecrets:
    """The tenant's age key and SOPS-encrypted credentials, made once (SPEC §6)."""

    name = "secrets"

    def __init__(self, secrets: SecretStore, restores: RestoreHooks | None = None) -> None:
        self._secrets = secrets
        self._restores = restores

    async def run(self, ctx: StepContext) -> str | None:
        slug = ctx.tenant.slug
        if await asyncio.to_thread(self._secrets.exists, slug):
            made = "kept (already made)"
        else:
            await asyncio.to_thread(self._secrets.put, slug, generate_tenant_secrets())
            made = "tenant age key and SOPS-encrypted credentials made"
        loaded = None if self._restores is None else \
            await self._restores.load_pending(ctx.tenant, ctx.provider)
        return made if loaded is None else f"{made}; {loaded}"


class StopForReapply:
    """A data plane that ran (config re-apply, retry) is stopped to restart on the config."""

    name = "stop_for_reapply"

    async def run(self, ctx: StepContext) -> str | None:
        if ctx.tenant.endpoint is None:
            return "nothing running"
        stopped = await asyncio.to_thread(ctx.provider.stop, ctx.tenant)
        return f"stopped {len(stopped)} process(es) to restart with the new config"


class Apply:
    """The provider creates or converges the tenant's resources; the message is the
    endpoint of its healthy data plane."""

    name = "apply"

    async def run(self, ctx: StepContext) -> str | None:
        return await asyncio.to_thread(ctx.provider.provision, ctx.tenant,
                                       effective_config(ctx.tenant))


class Activate:
    """PROVISIONING → ACTIVE at the endpoint ``apply`` reported (transition 3), with the
    audit public key of its data plane (when ``audit_keys`` reads it) recorded."""

    name = "activate"

    def __init__(self, registry: TenantRegistryPort,
                 audit_keys: AuditKeyReader | None = None,
                 restores: RestoreHooks | None = None) -> None:
        self._registry = registry
        self._audit_keys = audit_keys
        self._restores = restores

    async def _audit_key(self, tenant: Tenant, endpoint: str) -> tuple[str, str] | None:
        if self._audit_keys is None:
            return None
        try:
            key_id, public = await self._audit_keys(dataclasses.replace(tenant,
                                                                        endpoint=endpoint))
        except FrostbyteError as exc:
            raise StepFailed("cannot read the audit signing key of the data plane: "
                             f"{exc.message}") from None
        recorded = tenant.audit_public_key
        if recorded is not None and recorded != public:
            raise StepFailed(
                f"the data plane signs its audit checkpoints with {key_id}, not with the "
                f"tenant's recorded key {audit_key_id_of(recorded)}: the checkpoints signed "
                "before would no longer verify; restore the tenant's audit signing key")
        return key_id, public

    async def run(self, ctx: StepContext) -> str | None:
        endpoint = ctx.results.get(Apply.name)
        if not endpoint:
            raise StepFailed("the apply step left no endpoint")
        tenant = ctx.tenant
        fingerprint = await asyncio.to_thread(ctx.provider.tls_fingerprint, tenant)
        audit_key = await self._audit_key(tenant, endpoint)
        if self._restores is not None:  # a tenant made from a backup: finished before ACTIVE
            finished = await self._restores.finish_pending(
                dataclasses.replace(tenant, endpoint=endpoint))
            if finished is not None:
                log.info("tenant %s: restore finished: %s", tenant.slug, finished)
        if tenant.version is None:  # the release a first provisioning deployed
            tenant.version = default_version(ctx.provider)
        event = tenant.mark_provisioned(endpoint, actor=SYSTEM_ACTOR,
                                        tls_fingerprint=fingerprint, audit_key=audit_key)
        event = dataclasses.replace(event, detail={**event.detail, "version": tenant.version})
        await _save_or_cancel(self._registry, tenant, event, TenantState.PROVISIONING)
        log.info("tenant %s: ACTIVE at %s (certificate %s)", tenant.slug, endpoint,
                 fingerprint or "none")
        return f"ACTIVE at {endpoint}"


# -- deprovision --------------------------------------------------------------------------
class ArchiveAudit:
    """The tenant's signed audit export, kept before anything is destroyed; a failure stops
    the job unless the DEPROVISION request waived the archive."""

    name = "archive_audit"

    def __init__(self, registry: TenantRegistryPort, archiver: Archiver | None) -> None:
        self._registry = registry
        self._archiver = archiver

    async def run(self, ctx: StepContext) -> str | None:
        tenant = ctx.tenant
        if tenant.endpoint is None:
            log.info("tenant %s: never became ACTIVE, no audit trail to archive",
                     tenant.slug)
            return "nothing to archive (the tenant never had a data plane)"
        if self._archiver is None:
            raise StepFailed("no audit archive is configured; refusing to destroy the "
                             "tenant's audit trail")
        try:
            archived = await self._archiver(tenant, ctx.provider)
        except FrostbyteError as exc:
            waiver = await self._waiver(tenant.slug)
            if waiver is None:
                raise
            log.warning("tenant %s: audit export not archived (%s); waived by %s: %s",
                        tenant.slug, exc.message, waiver.get("by"), waiver.get("reason"))
            return json.dumps({"waived": waiver, "error": exc.message}, sort_keys=True)
        log.info("tenant %s: audit export archived at %s (head %s, %s events)",
                 tenant.slug, archived["archive"], archived["head_hash"], archived["events"])
        return json.dumps(archived, sort_keys=True)

    async def _waiver(self, slug: str) -> dict[str, Any] | None:
        """The waiver of the latest DEPROVISION request, if it carried one."""
        for event in reversed(await self._registry.events(slug)):
            if event.action is Action.DEPROVISION:
                waiver = event.detail.get(AUDIT_ARCHIVE_WAIVER)
                return dict(waiver) if isinstance(waiver, dict) else None
        return None


class Stop:
    """The data plane's processes stopped (its data kept until ``destroy``)."""

    name = "stop"

    async def run(self, ctx: StepContext) -> str | None:
        stopped = await asyncio.to_thread(ctx.provider.stop, ctx.tenant)
        return f"stopped {len(stopped)} process(es)"


class Destroy:
    """The provider destroys the tenant's processes, database, role and files."""

    name = "destroy"

    async def run(self, ctx: StepContext) -> str | None:
        await asyncio.to_thread(ctx.provider.deprovision, ctx.tenant)
        return "resources destroyed"


def _all_gone(checks: dict[str, bool], what: str) -> str:
    left = sorted(name for name, gone in checks.items() if not gone)
    if left:
        raise StepFailed(f"{what}: {', '.join(left)}")
    return json.dumps(checks, sort_keys=True)


class Verify:
    """Every resource checked gone, one by one; the secrets are kept until they are."""

    name = "verify"

    async def run(self, ctx: StepContext) -> str | None:
        checks = await asyncio.to_thread(ctx.provider.verify_deprovisioned, ctx.tenant)
        return _all_gone(checks, "verification found still present")


class Shred:
    """Crypto-shred: the tenant's age key and secrets file destroyed and checked gone."""

    name = "shred"

    def __init__(self, secrets: SecretStore) -> None:
        self._secrets = secrets

    async def run(self, ctx: StepContext) -> str | None:
        checks = await asyncio.to_thread(self._secrets.shred, ctx.tenant.slug)
        return _all_gone(checks, "crypto-shred left")


class RevokeKeys:
    """Every vendor key of the tenant marked revoked; the message is how many were valid."""

    name = "revoke_keys"

    def __init__(self, registry: TenantRegistryPort) -> None:
        self._registry = registry

    async def run(self, ctx: StepContext) -> str | None:
        return str(await self._registry.revoke_vendor_keys(ctx.tenant.slug))


class Finish:
    """DEPROVISIONING → DEPROVISIONED (transition 12), the event holding what the earlier
    steps verified, revoked and archived."""

    name = "finish"

    def __init__(self, registry: TenantRegistryPort) -> None:
        self._registry = registry

    async def run(self, ctx: StepContext) -> str | None:
        results = ctx.results
        verified: dict[str, Any] = {**json.loads(results.get(Verify.name) or "{}"),
                                    **json.loads(results.get(Shred.name) or "{}")}
        revoked = int(results.get(RevokeKeys.name) or 0)
        archived = results.get(ArchiveAudit.name) or ""
        tenant = ctx.tenant
        event = tenant.mark_deprovisioned(actor=SYSTEM_ACTOR)
        event = dataclasses.replace(event, detail={
            "verified_gone": verified, "vendor_keys_revoked": revoked,
            "audit_archive": json.loads(archived) if archived.startswith("{") else None,
            "job_id": ctx.job.job_id})
        await _save_or_cancel(self._registry, tenant, event, TenantState.DEPROVISIONING)
        log.info("tenant %s: DEPROVISIONED, verified gone: %s", tenant.slug,
                 ", ".join(verified))
        return "DEPROVISIONED"


def job_plans(registry: TenantRegistryPort, secrets: SecretStore,
              archiver: Archiver | None,
              audit_keys: AuditKeyReader | None = None,
              restores: RestoreHooks | None = None) -> dict[str, tuple[Step, ...]]:
    """The steps of each queued operation, in order (``restores``: how a tenant made from a
    backup gets its data, in the provisioning's ``secrets`` and ``activate`` steps)."""
    return {
        Operation.PROVISION: (Begin(registry), MakeSecrets(secrets, restores),
                              StopForReapply(), Apply(), Activate(registry, audit_keys, restores)),
        Operation.DEPROVISION: (ArchiveAudit(registry, archiver), Stop(), Destroy(), Verify(),
                                Shred(secrets), RevokeKeys(registry), Finish(registry)),
    }
