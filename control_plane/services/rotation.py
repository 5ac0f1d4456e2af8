"""Secret rotation: every credential of an ACTIVE or SUSPENDED tenant re-issued, with no
state change, recorded as a ``rotate`` job with its steps (``secrets``, ``vendor_keys``,
``audit``). The audit signing key is kept (an identity, not a credential: checkpoints signed
before stay valid), and the last step appends ``secrets.rotated`` (the job id, what was
re-issued, key ids: no secret) to the tenant's own audit chain through its control routes.

It runs inside the admin's request (the new vendor keys are in its answer only), so it is not
on the queue: a control plane that stops during a rotation marks the job failed at its next
start (:class:`~control_plane.services.recovery.RecoveryService`) and the admin runs it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from control_plane.domain.lifecycle import TenantState
from control_plane.domain.ports import (
    ControlPlaneMetrics,
    JobStorePort,
    SecretStore,
    TenantRegistryPort,
)
from control_plane.domain.tenant_config import effective_config
from control_plane.domain.tenant_secrets import (
    CONTROL_KEY,
    DATA_KEYS,
    ROTATED_NAMES,
    SIGNING_KEY,
    generate_tenant_secrets,
)
from control_plane.domain.vendor_keys import IssuedVendorKey, VendorKeyRecord
from control_plane.errors import ConcurrentUpdate, InvalidTransition
from control_plane.providers.base import Provider
from control_plane.services.data_plane_control import DataPlaneControlService
from control_plane.services.providers import provider_for
from frostbyte_common.audit_checkpoint import key_id_of as audit_key_id_of
from frostbyte_common.data_keys import DataKeyring
from frostbyte_common.errors import FrostbyteError
from frostbyte_common.vendor_keys import generate_key, key_id_of

log = logging.getLogger(__name__)

ROTATE = "rotate"  # the job's operation


class SecretRotationService:
    def __init__(self, registry: TenantRegistryPort, providers: Mapping[str, Provider],
                 store: JobStorePort, secrets: SecretStore,
                 control: DataPlaneControlService, *,
                 metrics: ControlPlaneMetrics | None = None) -> None:
        self._registry = registry
        self._metrics = metrics
        self._providers = dict(providers)
        self._store = store
        self._secrets = secrets
        self._control = control

    async def rotate(self, slug: str, *, actor: str) -> tuple[str, list[IssuedVendorKey]]:
        """New SOPS-encrypted secrets, and for each valid vendor key a new one with the same
        scopes (installed first, so the data plane keeps serving) after which the old one is
        revoked. Returns the job's id and the new keys (shown once)."""
        tenant = await self._registry.get(slug)
        if tenant.state not in (TenantState.ACTIVE, TenantState.SUSPENDED):
            raise InvalidTransition(
                f"cannot rotate the secrets of a tenant in state {tenant.state.value}")
        job, created = await self._store.open_or_create(slug, ROTATE, actor)
        if not created:
            raise ConcurrentUpdate(f"tenant {slug!r} has a {job.operation} job running "
                                   f"({job.job_id}); try again when it ends")
        issued: list[IssuedVendorKey] = []
        reissued: list[dict[str, str]] = []  # old and new vendor key ids
        started = time.monotonic()
        try:
            provider = provider_for(self._providers, tenant)
            await self._store.set_status(job.job_id, "running")
            await self._store.start_step(job.job_id, "secrets", 0)
            before = (await asyncio.to_thread(self._secrets.get, slug)
                      if await asyncio.to_thread(self._secrets.exists, slug) else {})
            fresh = generate_tenant_secrets(previous=before)
            await asyncio.to_thread(self._secrets.put, slug, fresh)
            # the data plane restarts on them: the database password changes now, and the
            # endpoint presents a newly issued certificate
            await asyncio.to_thread(provider.apply_secrets, tenant, effective_config(tenant))
            fingerprint = await asyncio.to_thread(provider.tls_fingerprint, tenant)
            if fingerprint != tenant.tls_fingerprint:
                tenant.tls_fingerprint = fingerprint
                await self._registry.save(tenant, None, expected_state=tenant.state)
            # the control key too: the new one installed, then the old one refused
            await self._control.install_control_key(tenant, fresh[CONTROL_KEY])
            old_control = key_id_of(before.get(CONTROL_KEY, ""))
            if old_control is not None:
                await asyncio.to_thread(provider.revoke_vendor_key, tenant, old_control)
            await self._store.end_step(
                job.job_id, "secrets", "done",
                "every credential re-issued and re-encrypted; a new data key encrypts new "
                "objects (old ones stay readable); the data plane restarted on them (new "
                "database password and object-store key, new TLS certificate)")
            await self._store.start_step(job.job_id, "vendor_keys", 1)
            old = [k for k in await self._registry.vendor_keys(slug) if k.revoked_at is None]
            for record in old:
                new = generate_key()
                await self._registry.add_vendor_key(VendorKeyRecord(
                    new.key_id, slug, new.sha256, record.scopes, record.label))
                await asyncio.to_thread(provider.install_vendor_key, tenant, new.key_id,
                                        new.sha256, record.scopes, record.label)
                await asyncio.to_thread(provider.revoke_vendor_key, tenant, record.key_id)
                await self._registry.revoke_vendor_keys(slug, [record.key_id])
                issued.append(IssuedVendorKey(new.key_id, new.key, record.scopes, record.label))
                reissued.append({"old_key_id": record.key_id, "new_key_id": new.key_id})
            await self._store.end_step(job.job_id, "vendor_keys", "done",
                                       f"{len(issued)} vendor key(s) re-issued, old revoked")
            await self._store.start_step(job.job_id, "audit", 2)
            event = await self._control.record_rotation(tenant, {
                "job_id": job.job_id, "reissued": list(ROTATED_NAMES), "kept": [SIGNING_KEY],
                "data_key_id": DataKeyring.parse(fresh[DATA_KEYS]).current_id,
                "control_key_id": key_id_of(fresh[CONTROL_KEY]), "vendor_keys": reissued,
                "tls_fingerprint": tenant.tls_fingerprint}, actor=actor)
            await self._store.end_step(job.job_id, "audit", "done",
                                       self._audit_message(tenant.audit_public_key, event))
        except FrostbyteError as exc:
            await self._store.set_status(job.job_id, "failed", exc.message)
            self._ended("failed", started)
            raise
        await self._store.set_status(job.job_id, "succeeded")
        self._ended("succeeded", started)
        log.info("tenant %s: secrets rotated by %s (%d vendor keys)", slug, actor, len(issued))
        return job.job_id, issued

    def _ended(self, outcome: str, started: float) -> None:
        if self._metrics is not None:
            self._metrics.observe_job(ROTATE, outcome, time.monotonic() - started)

    @staticmethod
    def _audit_message(recorded: str | None, event: dict[str, Any]) -> str:
        """The ``audit`` step's message: where the event is, and whether the data plane
        still signs with the key recorded at provisioning."""
        message = f"secrets.rotated is event {event.get('seq')} of the tenant's audit chain"
        signing = (event.get("payload") or {}).get("audit_key_id")
        if recorded is not None and signing != audit_key_id_of(recorded):
            log.error("the data plane signs its audit checkpoints with %s, not with the key "
                      "recorded at provisioning (%s)", signing, audit_key_id_of(recorded))
            return (f"{message}; WARNING: its checkpoints are signed with {signing}, not "
                    f"with the recorded key {audit_key_id_of(recorded)}")
        return f"{message}; audit signing key {signing} kept"
