"""The control plane's own calls to a tenant's data plane, on its control routes
(``/control/v1``): suspension, quarantine, the audit key, the record of a secret rotation,
the audit export, the consistency check.

They go through the provider's control channel (the data plane API's Unix socket on
``local``'s process engine; the gateway's loopback control listener on ``local-podman``; an
SSH forward on ``hetzner``: never a vendor-facing listener) with the tenant's **control
key**, kept in its SOPS secrets; its hash is installed in the data plane by the provider. A
key the data plane refuses (never installed, or its data plane was rebuilt) is installed
once and the call retried.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.domain.ports import (
    ControlKeyRefused,
    DataPlaneClient,
    DataPlaneClientFactory,
    SecretStore,
)
from control_plane.domain.tenant_secrets import CONTROL_KEY
from control_plane.errors import DataPlaneError, TenantNotActive
from control_plane.providers.base import Provider
from control_plane.services.providers import provider_for
from frostbyte_common.audit_checkpoint import key_id_of as audit_key_id_of
from frostbyte_common.vendor_keys import CONTROL_SCOPE, generate_key, hash_key, key_id_of

log = logging.getLogger(__name__)

T = TypeVar("T")
ControlCall = Callable[[DataPlaneClient], Coroutine[Any, Any, T]]


@contextlib.asynccontextmanager
async def open_control_channel(provider: Provider, tenant: Tenant) -> AsyncIterator[str]:
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


class DataPlaneControlService:
    """Runs calls on tenants' control routes, managing their control keys."""

    def __init__(self, providers: Mapping[str, Provider], secrets: SecretStore,
                 clients: DataPlaneClientFactory) -> None:
        self._providers = dict(providers)
        self._secrets = secrets
        self._clients = clients

    async def control_key(self, tenant: Tenant, *, install: bool) -> str:
        """The tenant's control key from its SOPS secrets (made once for tenants created
        before it existed); with ``install`` its hash is (re-)installed in the data plane."""
        values = await asyncio.to_thread(self._secrets.get, tenant.slug)
        key = values.get(CONTROL_KEY)
        if key is None:
            key = generate_key().key
            await asyncio.to_thread(self._secrets.put, tenant.slug, {**values, CONTROL_KEY: key})
            install = True
        if install:
            await self.install_control_key(tenant, key)
        return key

    async def install_control_key(self, tenant: Tenant, key: str) -> None:
        """Install the hash of ``key`` in the tenant's data plane, scope ``control`` only."""
        key_id = key_id_of(key)
        assert key_id is not None  # made by generate_key
        await asyncio.to_thread(provider_for(self._providers, tenant).install_vendor_key,
                                tenant, key_id, hash_key(key), (CONTROL_SCOPE,), "control-plane")

    async def call(self, tenant: Tenant, actor: str, call: ControlCall[T]) -> T:
        """Run ``call`` against the tenant's control routes as ``actor``; a refused control
        key is installed once and the call retried."""
        if not tenant.endpoint:
            raise TenantNotActive(f"tenant {tenant.slug!r} has no data plane endpoint")
        key = await self.control_key(tenant, install=False)
        provider = provider_for(self._providers, tenant)
        async with open_control_channel(provider, tenant) as base_url:
            for attempt in (1, 2):
                try:
                    return await call(self._clients(base_url, key, actor=actor))
                except ControlKeyRefused:
                    if attempt == 2:
                        raise
                    log.info("tenant %s: installing the control key", tenant.slug)
                    await self.install_control_key(tenant, key)
        raise AssertionError("unreachable")

    async def set_suspended(self, tenant: Tenant, suspended: bool, *, actor: str) -> None:
        """Close (True) or reopen (False) the tenant's vendor endpoint; idempotent, audited
        by the data plane only on a change."""
        await self.call(tenant, actor, lambda dp: dp.set_suspended(suspended))

    async def audit_key(self, tenant: Tenant, *, actor: str) -> tuple[str, str]:
        """``(key_id, public_key)``: the key the tenant's data plane signs its audit
        checkpoints with (public key: raw Ed25519, canonical base64). A data plane that
        answers anything else is a :class:`DataPlaneError`."""
        answer = await self.call(tenant, actor, lambda dp: dp.audit_key())
        try:
            raw = base64.b64decode(answer.get("public_key", ""), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise DataPlaneError(f"the data plane of tenant {tenant.slug!r} answered no "
                                 "Ed25519 audit public key")
        public = base64.b64encode(raw).decode("ascii")
        key_id = audit_key_id_of(public)
        if answer.get("key_id") != key_id:
            raise DataPlaneError(f"the data plane of tenant {tenant.slug!r} names its audit "
                                 f"key {answer.get('key_id')!r}, but the key is {key_id}")
        return key_id, public

    async def record_rotation(self, tenant: Tenant, rotation: dict[str, Any], *,
                              actor: str) -> dict[str, Any]:
        """Append ``secrets.rotated`` (``rotation``: job id, names and key ids, no secret)
        to the tenant's audit chain as ``actor``; the appended event."""
        return await self.call(tenant, actor, lambda dp: dp.record_rotation(rotation))

    async def consistency(self, tenant: Tenant, *, repair: bool, first: int,
                          actor: str) -> dict[str, Any]:
        """The drift between the tenant's PostgreSQL, object store and index, as its data
        plane reports it; with ``repair``, after the data plane fixed what it can (it runs
        there: the process that owns the index). Needs a data plane (ACTIVE or
        SUSPENDED)."""
        if tenant.state not in (TenantState.ACTIVE, TenantState.SUSPENDED):
            raise TenantNotActive(f"tenant {tenant.slug!r} is {tenant.state.value}; its "
                                  "stores are checked in ACTIVE and SUSPENDED")
        return await self.call(tenant, actor,
                               lambda dp: dp.consistency(repair=repair, first=first))
