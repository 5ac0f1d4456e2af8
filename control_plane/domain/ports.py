"""The control plane's ports: what its services need from storage, the job queue, the
secret store and the tenants' data planes. Adapters (``control_plane.adapters``) implement
them; services see only these Protocols, and the composition root
(:mod:`control_plane.wiring`) hands in the implementations. Where a tenant's data plane runs
is the other port, :class:`~control_plane.providers.base.Provider`.

Every method here is a coroutine except :class:`SecretStore`'s and
:class:`CertificateAuthority`'s (blocking: call them from a worker thread) and
:class:`AuditArchiveStore`'s (blocking file I/O).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from control_plane.domain.admin_tokens import AdminToken
from control_plane.domain.jobs import JobRecord, StepRecord
from control_plane.domain.lifecycle import Tenant, TenantEvent, TenantState
from control_plane.domain.vendor_keys import VendorKeyRecord
from control_plane.errors import DataPlaneError, ProvisioningFailed
from frostbyte_common.audit_chain import ChainVerdict
from frostbyte_common.tls import KeyAndCertificate

QuarantineAction = Literal["release", "purge"]


class TenantRegistryPort(Protocol):
    """Tenants, their hash-chained lifecycle events and their vendor-key hashes."""

    async def ping(self) -> None:
        """Raise if the registry cannot answer."""
        ...

    async def create(self, tenant: Tenant, event: TenantEvent) -> None:
        """Insert a new tenant with its creation event; ``TenantExists`` if the slug was
        ever taken."""
        ...

    async def save(self, tenant: Tenant, event: TenantEvent | None, *,
                   expected_state: TenantState) -> None:
        """Write the tenant (and the event that led there) if it is still in
        ``expected_state``; ``ConcurrentUpdate`` otherwise."""
        ...

    async def get(self, slug: str) -> Tenant:
        """The tenant; ``TenantNotFound`` if there is none."""
        ...

    async def list_tenants(self, states: Iterable[TenantState] | None = None) -> list[Tenant]:
        ...

    async def events(self, slug: str) -> list[TenantEvent]:
        ...

    async def verify_events(self, slug: str) -> ChainVerdict:
        ...

    async def add_vendor_key(self, record: VendorKeyRecord) -> VendorKeyRecord:
        ...

    async def delete_vendor_key(self, key_id: str) -> None:
        ...

    async def vendor_key(self, slug: str, key_id: str) -> VendorKeyRecord:
        """The key's record; ``VendorKeyNotFound`` if the tenant has no such key."""
        ...

    async def revoke_vendor_keys(self, slug: str, key_ids: Sequence[str] | None = None) -> int:
        """Mark the keys (all the tenant's when None) revoked; how many were valid."""
        ...

    async def vendor_keys(self, slug: str) -> list[VendorKeyRecord]:
        ...


class JobStorePort(Protocol):
    """Tenant jobs and their steps; at most one open (queued or running) job per tenant."""

    async def open_or_create(self, slug: str, operation: str,
                             actor: str) -> tuple[JobRecord, bool]:
        """The tenant's open job, or a new queued one; True when it was created now."""
        ...

    async def open_job(self, slug: str) -> JobRecord | None:
        ...

    async def open_jobs(self) -> list[JobRecord]:
        ...

    async def get(self, slug: str, job_id: str) -> JobRecord:
        """The job; ``JobNotFound`` if the tenant has no such job."""
        ...

    async def list_jobs(self, slug: str) -> list[JobRecord]:
        ...

    async def set_status(self, job_id: str, status: str, error: str | None = None) -> None:
        """Move an open job on; a job that ended keeps its end."""
        ...

    async def status(self, job_id: str) -> str:
        ...

    async def steps(self, job_id: str) -> list[StepRecord]:
        ...

    async def start_step(self, job_id: str, step: str, position: int) -> None:
        """Record the step as running (its attempts counted when it runs again)."""
        ...

    async def end_step(self, job_id: str, step: str, status: str, message: str | None) -> None:
        ...


class JobQueue(Protocol):
    """Where (de)provisioning jobs wait for a worker."""

    async def defer(self, job_id: str, slug: str) -> None:
        ...

    async def recover(self, open_jobs: Iterable[tuple[str, str]]) -> int:
        """Put back the jobs whose worker died and open jobs missing from the queue."""
        ...


@runtime_checkable
class SecretStore(Protocol):
    """Where tenant secrets live, encrypted. Blocking; call from a worker thread."""

    def put(self, slug: str, values: Mapping[str, str]) -> None:
        """Encrypt ``values`` as the tenant's secrets (creating its key on first use);
        replaces what was there (rotation)."""
        ...

    def get(self, slug: str) -> dict[str, str]:
        """Decrypt the tenant's secrets with the control plane's key."""
        ...

    def exists(self, slug: str) -> bool: ...

    def shred(self, slug: str) -> dict[str, bool]:
        """Destroy the tenant's key and secrets; ``{"tenant_age_key": True, ...}`` where True
        means verified gone. Idempotent."""
        ...


class TenantBuckets(Protocol):
    """The S3 server's admin side for the local provider (SPEC §5.4): each tenant a bucket of
    its own and an access key that reaches only that bucket. Blocking; idempotent."""

    @property
    def endpoint(self) -> str:
        """The S3 URL the tenants' data planes use."""
        ...

    def ensure_tenant(self, bucket: str, access_key: str, secret_key: str) -> None:
        """Create the bucket if missing; create or replace the identity holding the key
        (replacing it retires the previous key at once)."""
        ...

    def remove_tenant(self, bucket: str, access_key: str) -> None:
        """Delete every object, the bucket and the identity (and ``access_key`` wherever it
        is still configured)."""
        ...

    def bucket_exists(self, bucket: str) -> bool: ...

    def identity_names(self) -> list[str]:
        """The tenants' identities (each named after its bucket)."""
        ...


class CertificateAuthority(Protocol):
    """The control plane's CA (SPEC §7): it issues each tenant endpoint's server
    certificate; clients trust its certificate. Blocking."""

    def certificate_pem(self) -> str:
        """The CA certificate (public)."""
        ...

    def issue(self, hosts: Sequence[str], *, common_name: str) -> KeyAndCertificate:
        """A new server key and certificate valid for ``hosts`` (IPs and DNS names)."""
        ...


class ControlKeyRefused(DataPlaneError):
    """The data plane does not know the control key (never installed, or rotated away)."""

    default_code = "CONTROL_KEY_REFUSED"


class DataPlaneClient(Protocol):
    """One tenant's control routes (``/control/v1``), reached with its control key. Raises
    ``DataPlaneError`` (502) when the data plane cannot be reached or fails,
    :class:`ControlKeyRefused` when it refuses the key, ``DocumentNotFound`` for an unknown
    quarantined document."""

    async def set_suspended(self, suspended: bool) -> dict[str, Any]:
        """Close (True) or reopen (False) the tenant's vendor endpoint."""
        ...

    async def quarantine(self, *, limit: int, offset: int) -> dict[str, Any]:
        ...

    async def quarantine_action(self, document_id: uuid.UUID,
                                action: QuarantineAction) -> dict[str, Any]:
        ...

    async def audit_export(self) -> bytes:
        """The tenant's signed audit export (JSON Lines, manifest first), as raw bytes."""
        ...

    async def audit_key(self) -> dict[str, str]:
        """The key the tenant's audit checkpoints are signed with: ``{"key_id",
        "public_key"}`` (raw Ed25519, base64)."""
        ...

    async def record_rotation(self, rotation: dict[str, Any]) -> dict[str, Any]:
        """Append ``secrets.rotated`` (job id, names and key ids re-issued: no secret) to
        the tenant's audit chain; the appended event."""
        ...

    async def record_restored(self, restore: dict[str, Any]) -> dict[str, Any]:
        """Append ``tenant.restored`` (source tenant, backup id, archive sha256, the tenant
        restored into: no secret) to the audit chain the data plane continues; the
        appended event."""
        ...

    async def consistency(self, *, repair: bool, first: int) -> dict[str, Any]:
        """The drift between the tenant's three stores (``first`` findings per kind); with
        ``repair``, after fixing what can be fixed (audited by the data plane)."""
        ...

    async def start_reembed(self, model: str) -> dict[str, Any]:
        """Start re-embedding the tenant's chunks into a new collection for ``model``
        (``EmbeddingModelUnknown``, ``ReembedInProgress``); ``{"reembed", "active"}``."""
        ...

    async def reembed_status(self) -> dict[str, Any]:
        """``{"reembed": the latest re-embedding or None, "active": the collection search
        uses now, with its model}``."""
        ...


class DataPlaneClientFactory(Protocol):
    """Makes a :class:`DataPlaneClient` for a control channel's base URL, authenticated with
    ``control_key`` and naming ``actor`` as the one who asked."""

    def __call__(self, base_url: str, control_key: str, *, actor: str) -> DataPlaneClient:
        ...


class AuditArchiveFailed(ProvisioningFailed):
    default_code = "AUDIT_ARCHIVE_FAILED"


@dataclass(frozen=True, slots=True)
class AuditArchive:
    """A tenant's signed audit export, verified and kept."""

    path: Path
    head_hash: str
    events: int

    def to_json(self) -> dict[str, Any]:
        return {"archive": str(self.path), "head_hash": self.head_hash, "events": self.events}


class AuditArchiveStore(Protocol):
    """Keeps tenants' audit exports after they are gone (SPEC §3). Blocking."""

    def store(self, slug: str, data: bytes, *, trusted_public_key: str,
              audit_chain: str | None = None) -> AuditArchive:
        """Verify ``data`` (an export of ``slug``'s chain: ``audit_chain`` for a tenant
        restored from a backup, which continues its source's chain; else ``slug``) against
        ``trusted_public_key`` (the tenant's audit key the control plane recorded, never one
        the export carries) and keep it; :class:`AuditArchiveFailed` if it does not verify
        or cannot be kept."""
        ...


class ControlPlaneMetrics(Protocol):
    """What the control plane's services report for Prometheus (the adapter,
    :mod:`control_plane.adapters.metrics`, keeps the figures; ``GET /metrics`` serves
    them). Cheap and non-blocking: call from anywhere, never raises."""

    def observe_health(self, slug: str, ready: bool) -> None:
        """One health poll of a tenant's data plane: ``frostbyte_cp_tenant_ready{tenant}``
        is set and ``frostbyte_cp_health_checks_total{tenant,result}`` counted."""
        ...

    def observe_job(self, operation: str, outcome: str, seconds: float) -> None:
        """A tenant job ended (``outcome``: succeeded, failed, cancelled) after ``seconds``."""
        ...

    def provider_error(self, provider: str, operation: str) -> None:
        """A provider's ``operation`` (its method: provision, start, stop, ...) raised."""
        ...


class MetricsExporter(ControlPlaneMetrics, Protocol):
    """The metrics' own side: counts the registry's tenants at a scrape and renders the
    figures in Prometheus' text format (``content_type``)."""

    content_type: str

    def set_tenant_states(self, tenants: Sequence[Tenant]) -> None:
        ...

    def exposition(self) -> bytes:
        ...


class AdminTokenStorePort(Protocol):
    """Admin tokens: a name, a role and the token's SHA-256 — never the token."""

    async def add(self, token_id: str, name: str, role: str, sha256: str,
                  created_by: str) -> AdminToken | None:
        """Insert a token; None if a token with that digest exists already."""
        ...

    async def any_exists(self) -> bool:
        ...

    async def active_by_sha256(self, sha256: str) -> AdminToken | None:
        ...

    async def list_tokens(self) -> list[AdminToken]:
        ...

    async def revoke(self, token_id: str) -> AdminToken:
        """Revoke a token (idempotent); ``LastAdminToken`` for the last admin token."""
        ...
