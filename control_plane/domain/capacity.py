"""Can this machine host one more local tenant? The arithmetic only (no I/O): the local
provider measures the machine and asks :func:`shortfalls`; a non-empty answer refuses the
tenant at ``POST /v1/tenants`` (503 ``INSUFFICIENT_CAPACITY``) instead of a FAILED tenant
after its data plane could not connect or was killed for memory.

Connections: each local data plane is two long-lived processes, the API and the worker, and
each is given a budget (:class:`PoolBudget`, passed as ``FROSTBYTE_DP_DB_POOL_MAX_SIZE`` and
``FROSTBYTE_DP_QUEUE_POOL_MAX_SIZE``): the tenant database's pool
(``data_plane.adapters.postgres.TenantDatabase``), procrastinate's queue pool, and the one
connection procrastinate's worker holds for ``LISTEN`` outside its pool (the API runs the
index queue's worker, the worker the process queue's). The one-shot commands (``migrate``,
``add-vendor-key``) take one or two beside them. PostgreSQL keeps
``superuser_reserved_connections`` for superusers, and the control plane's own pool (10)
lives on the same cluster when it uses the project's.

Before issue 18 each process had psycopg_pool's defaults (8 and 4, the queue pool keeping
all 4 open): 26 a tenant, 11 tenants on the project's cluster (``max_connections`` 300).
Now each pool keeps one connection open and grows to its budget when busy: ``bench/
tenants.py`` counted 8 a freshly started tenant (``pg_stat_activity``); 14 a tenant fit 20
tenants.

Memory: one more tenant needs what it takes busy — the API, the worker with its pipeline
loaded (torch, the embedding model, the parser child) and clamd — about 1.5 GiB
(``FROSTBYTE_CP_LOCAL_TENANT_MEMORY_BYTES``). Idle, a tenant's worker and API drop the heavy
parts (``FROSTBYTE_CP_LOCAL_IDLE_STOP_S``), so the tenants already there take far less: the
check asks for MemAvailable to cover one more busy tenant, not the sum of all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTROL_PLANE_POOL_MAX = 10


@dataclass(frozen=True, slots=True)
class PoolBudget:
    """The connections each process of a local tenant may open to its database."""

    api_db: int = 4
    api_queue: int = 2
    worker_db: int = 2
    worker_queue: int = 2
    listeners: int = 2  # procrastinate's LISTEN connection, one per process
    one_shot: int = 2   # migrate / add-vendor-key beside the running processes

    def __post_init__(self) -> None:
        if min(self.api_db, self.api_queue, self.worker_db, self.worker_queue) < 1:
            raise ValueError("every pool needs at least one connection")

    @property
    def per_tenant(self) -> int:
        """The most connections one tenant opens at once."""
        return (self.api_db + self.api_queue + self.worker_db + self.worker_queue
                + self.listeners + self.one_shot)

    def pools(self, process: str) -> tuple[int, int]:
        """``(database pool, queue pool)`` maxima of ``process`` (``api`` or ``worker``)."""
        if process == "api":
            return self.api_db, self.api_queue
        if process == "worker":
            return self.worker_db, self.worker_queue
        raise ValueError(f"no pool budget for process {process!r}")


POOL_BUDGET = PoolBudget()
CONNECTIONS_PER_TENANT = POOL_BUDGET.per_tenant


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
    """What one more tenant takes: database connections (its pools' budget) and memory
    (API, worker with its pipeline loaded, a parser child and clamd, measured busy)."""

    connections: int = CONNECTIONS_PER_TENANT
    memory_bytes: int = 1536 * 1024 * 1024


def tenants_that_fit(max_connections: int, reserved_connections: int,
                     needs: TenantNeeds) -> int:
    """How many local tenants a cluster's connection slots hold."""
    return max(0, (max_connections - reserved_connections - CONTROL_PLANE_POOL_MAX)
               // needs.connections)


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
