"""Can this machine host one more local tenant? The arithmetic only (no I/O): the local
provider measures the machine and asks :func:`shortfalls`; a non-empty answer refuses the
tenant at ``POST /v1/tenants`` (503 ``INSUFFICIENT_CAPACITY``) instead of a FAILED tenant
after its data plane could not connect or was killed for memory.

Connections: each local data plane is two long-lived processes (API and worker), each with
the tenant database's pool (``data_plane.adapters.postgres.TenantDatabase``: at most 8) and
procrastinate's queue pool (psycopg_pool's default: 4), plus the one-shot commands
(``migrate``, ``add-vendor-key``) that may run beside them. PostgreSQL keeps
``superuser_reserved_connections`` for superusers, and the control plane's own pool (10)
lives on the same cluster when it uses the project's.
"""

from __future__ import annotations

from dataclasses import dataclass

TENANT_DB_POOL_MAX = 8
QUEUE_POOL_MAX = 4
DATA_PLANE_PROCESSES = 2
ONE_SHOT_CONNECTIONS = 2
CONNECTIONS_PER_TENANT = DATA_PLANE_PROCESSES * (TENANT_DB_POOL_MAX + QUEUE_POOL_MAX) \
    + ONE_SHOT_CONNECTIONS
CONTROL_PLANE_POOL_MAX = 10


@dataclass(frozen=True, slots=True)
class HostMeasures:
    """What the provider measured: the cluster's ``max_connections`` and
    ``superuser_reserved_connections``, how many local tenants it already hosts, and
    ``MemAvailable`` of ``/proc/meminfo`` in bytes."""

    max_connections: int
    reserved_connections: int
    existing_tenants: int
    memory_available_bytes: int


@dataclass(frozen=True, slots=True)
class TenantNeeds:
    """What one more tenant takes: database connections and memory (API, worker, a parser
    child and clamd, measured)."""

    connections: int = CONNECTIONS_PER_TENANT
    memory_bytes: int = 1536 * 1024 * 1024


def free_connections(host: HostMeasures, needs: TenantNeeds) -> int:
    """Connection slots left once the reserved ones, the control plane's pool and the
    existing tenants' pools are counted."""
    return (host.max_connections - host.reserved_connections - CONTROL_PLANE_POOL_MAX
            - host.existing_tenants * needs.connections)


def shortfalls(host: HostMeasures, needs: TenantNeeds) -> list[str]:
    """Why this machine cannot host one more tenant; empty when it can."""
    reasons = []
    free = free_connections(host, needs)
    if free < needs.connections:
        reasons.append(
            f"PostgreSQL has {max(free, 0)} connection slots left (max_connections "
            f"{host.max_connections}, {host.reserved_connections} reserved, "
            f"{CONTROL_PLANE_POOL_MAX} for the control plane, {host.existing_tenants} "
            f"tenant(s) × {needs.connections}); a tenant needs {needs.connections}: raise "
            "max_connections or deprovision a tenant")
    if host.memory_available_bytes < needs.memory_bytes:
        reasons.append(
            f"{_mib(host.memory_available_bytes)} MiB of memory available, a tenant needs "
            f"{_mib(needs.memory_bytes)} MiB (FROSTBYTE_CP_LOCAL_TENANT_MEMORY_BYTES): free "
            "memory or deprovision a tenant")
    return reasons


def _mib(value: int) -> int:
    return value // (1024 * 1024)
