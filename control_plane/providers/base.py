"""The Provider port: where and how a tenant's data plane runs.

Every method is blocking (processes, SSH, cloud APIs) and idempotent; the service calls them
from a worker thread. A provider reports failures as
:class:`~control_plane.errors.ProvisioningFailed` (or a subclass) with a message that is safe
to show an admin — no secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from control_plane.domain.health import DriftedResource, HealthReport
from control_plane.domain.lifecycle import Tenant
from frostbyte_common.tenant_config import TenantConfig


@dataclass(frozen=True, slots=True)
class JobOutput:
    """What a provider's tools printed for a tenant in a window of time: the last lines,
    oldest first, and how many lines the window holds (more than ``len(lines)`` when only
    the tail was kept)."""

    lines: tuple[str, ...] = ()
    total: int = 0


@runtime_checkable
class Provider(Protocol):
    """Port implemented by ``local`` (processes on this machine) and ``hetzner``."""

    name: str

    def provision(self, tenant: Tenant, config: TenantConfig) -> str:
        """Create or converge the tenant's resources, deploy its data plane with ``config``,
        wait for it to be healthy and return its endpoint (base URL, scheme, no path).
        Running it again on a provisioned tenant is safe and keeps what is healthy."""
        ...

    def start(self, tenant: Tenant, config: TenantConfig) -> str:
        """Make sure an already provisioned data plane runs (e.g. after a control-plane
        restart); keeps it when healthy. Returns the endpoint."""
        ...

    def tls_fingerprint(self, tenant: Tenant) -> str | None:
        """``sha256:<hex>`` of the server certificate the tenant's endpoint presents (issued
        by the control plane's CA when the provider deployed it; re-issued by
        :meth:`apply_secrets`), or None where the provider serves no TLS."""
        ...

    def is_healthy(self, tenant: Tenant) -> bool:
        """True if the tenant's data plane answers its readiness check."""
        ...

    def apply_secrets(self, tenant: Tenant, config: TenantConfig) -> str:
        """Restart the tenant's data plane on the secrets now in its SOPS file (after a
        rotation): its database role gets the new password, the processes the new
        credentials, the endpoint a newly issued certificate; data, vendor keys and
        suspension are kept. Returns the endpoint."""
        ...

    def stop(self, tenant: Tenant) -> list[str]:
        """Stop the tenant's data-plane processes, keeping its data (before a config
        re-apply restarts them, and before deprovisioning). Suspension does not stop
        anything: the control plane tells the running data plane to refuse vendors.
        Returns what it stopped."""
        ...

    def install_vendor_key(
        self, tenant: Tenant, key_id: str, sha256: str, scopes: Sequence[str], label: str | None
    ) -> None:
        """Install a vendor key's hash (never the key) in the tenant's data plane."""
        ...

    def revoke_vendor_key(self, tenant: Tenant, key_id: str) -> None:
        """Make the tenant's data plane refuse ``key_id`` from now on. Idempotent."""
        ...

    def control_channel(self, tenant: Tenant) -> AbstractContextManager[str]:
        """A base URL (scheme, no path) on which the control plane reaches the tenant's
        control routes (``/control/v1``), valid inside the ``with`` block only. ``local``
        (process engine): ``http+unix://<percent-encoded socket path>``, the data plane
        API's own Unix socket, never the vendor-facing gateway (see
        :func:`control_plane.adapters.data_plane_control.unix_socket_url`). ``hetzner``: an
        SSH forward to the server's loopback (the vendor port is closed to the control
        plane), ended when the block exits. Entering
        and leaving block; a channel that cannot be opened raises
        :class:`~control_plane.errors.DataPlaneError` (502)."""
        ...

    def deprovision(self, tenant: Tenant) -> None:
        """Destroy the tenant's processes, database, role and files. Idempotent."""
        ...

    def verify_deprovisioned(self, tenant: Tenant) -> dict[str, bool]:
        """Check, resource by resource, that :meth:`deprovision` left nothing behind:
        ``{"database": True, ...}`` where True means *verified gone*."""
        ...

    def job_output(self, tenant: Tenant, since: datetime, until: datetime | None,
                   limit: int) -> JobOutput:
        """The output of the provider's tools (Pulumi, Ansible, ...) for ``tenant`` written
        from ``since`` to ``until`` (open-ended when None), at most its last ``limit``
        lines. One job per tenant is open at a time, so a job's window holds its output.
        A provider that records no such output returns an empty :class:`JobOutput`."""
        ...


@runtime_checkable
class CapacityCheck(Protocol):
    """A provider that hosts tenants on a machine of its own with a fixed size (``local``)
    and can tell, before a tenant is recorded, whether one more fits."""

    def check_capacity(self, slug: str) -> None:
        """Raise :class:`~control_plane.errors.InsufficientCapacity` (503, with the reason)
        when this machine cannot host one more tenant; return when it can."""
        ...


@runtime_checkable
class ReleaseUpdates(Protocol):
    """A provider that can move a tenant's data plane to another release (issue 18:
    ``POST /v1/tenants/{slug}/update``) and back by itself when the new one fails."""

    def default_version(self) -> str:
        """The release a tenant provisioned without a recorded version runs."""
        ...

    def check_release(self, tenant: Tenant, version: str) -> None:
        """Refuse before anything moves: :class:`~control_plane.errors.ReleaseNotFound`
        (404) for a release this provider cannot run, :class:`~control_plane.errors.
        SchemaAhead` (409) for one older than the tenant's database schema."""
        ...

    def update(self, tenant: Tenant, config: TenantConfig, version: str) -> str:
        """Stop the tenant's data plane, start it on release ``version`` (its migrations
        first), wait until it is ready and reports ``version``; return the endpoint. When it
        does not, put the release it ran (``tenant.version``) back, start that, and raise
        :class:`~control_plane.errors.UpdateRolledBack` (with the reason) once it is
        healthy again; any other :class:`~control_plane.errors.ProvisioningFailed` means
        the rollback failed too. Idempotent: run again, it converges on ``version``."""
        ...


@runtime_checkable
class HealthProbe(Protocol):
    """A provider that says why a data plane is not ready and restarts it on a machine of
    its own (``local``, ``local-podman``): the health poller
    (:mod:`control_plane.services.health_polling`) repairs only these providers' tenants;
    the others' are polled with :meth:`Provider.is_healthy` and reported, not restarted."""

    def probe_health(self, tenant: Tenant) -> HealthReport:
        """One readiness check, not a wait: ready, or what is wrong (a process gone, the
        socket missing, ``/readyz`` failing), safe to show an admin."""
        ...

    def repair(self, tenant: Tenant, config: TenantConfig) -> str:
        """Restart the data plane of a provisioned tenant through the provider's start path,
        under the tenant's lock, and wait until it is ready; returns the endpoint. Never
        creates one: :class:`~control_plane.errors.ProvisioningFailed` when the tenant's
        resources are gone (deprovisioned meanwhile)."""
        ...


@runtime_checkable
class DriftCheck(Protocol):
    """A provider whose tenants' infrastructure is a Pulumi stack (``hetzner``): it can tell
    what differs between the cloud and the stack's record, without changing either."""

    def check_drift(self, tenant: Tenant) -> list[DriftedResource]:
        """A preview of ``pulumi refresh`` of the tenant's stack: the resources whose real
        state differs from the record (empty: none). Raises
        :class:`~control_plane.errors.ProvisioningFailed` when the stack cannot be read."""
        ...
