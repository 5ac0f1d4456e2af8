"""The tenant registry in PostgreSQL (psycopg 3, async): tenants, their lifecycle events and
their vendor-key hashes. A tenant and the event of its transition are written in one
transaction; a slug, once taken, stays taken (deprovisioned tenants keep their row)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from control_plane.adapters.tenant_audit import append_tenant_event, verify_tenant_chain
from control_plane.domain.health import TenantHealth
from control_plane.domain.lifecycle import (
    Action,
    Operation,
    Tenant,
    TenantEvent,
    TenantState,
)
from control_plane.domain.vendor_keys import VendorKeyRecord
from control_plane.errors import (
    ConcurrentUpdate,
    TenantExists,
    TenantNotFound,
    VendorKeyNotFound,
)
from frostbyte_common.audit_chain import ChainVerdict

# Any constant works; it only has to be the same in every control-plane process.
_MIGRATION_LOCK = 0x46524F5354  # "FROST"


def migration_sql() -> list[str]:
    """The registry's migration scripts, in order."""
    folder = resources.files("control_plane.adapters").joinpath("sql")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [folder.joinpath(name).read_text(encoding="utf-8") for name in names]


async def migrate(conn: AsyncConnection[Any]) -> None:
    """Apply the registry schema (idempotent; serialised by an advisory lock)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        for script in migration_sql():
            await conn.execute(script.encode("utf-8"))


def _port_of(endpoint: str | None) -> int | None:
    return urlsplit(endpoint).port if endpoint else None


def _tenant_from_row(row: dict[str, Any]) -> Tenant:
    return Tenant(
        slug=row["slug"],
        display_name=row["display_name"],
        provider=row["provider"],
        state=TenantState(row["state"]),
        config=dict(row["config"] or {}),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        endpoint=row["endpoint"],
        tls_fingerprint=row["tls_fingerprint"],
        health=_health_from_row(row),
        audit_public_key=row["audit_public_key"],
        failed_operation=Operation(row["failed_operation"]) if row["failed_operation"] else None,
        failure_reason=row["failure_reason"],
        version=row.get("version"),
    )


def _health_from_row(row: dict[str, Any]) -> TenantHealth | None:
    """The last health poll (migration 011's columns); None before the first."""
    if row.get("last_health_at") is None:
        return None
    return TenantHealth(checked_at=row["last_health_at"], ready=bool(row["last_health_ok"]),
                        detail=row["last_health_detail"] or "",
                        consecutive_failures=row["consecutive_failures"])


def _event_from_row(row: dict[str, Any]) -> TenantEvent:
    return TenantEvent(
        slug=row["slug"],
        transition=row["transition"],
        action=Action(row["action"]),
        from_state=TenantState(row["from_state"]) if row["from_state"] else None,
        to_state=TenantState(row["to_state"]),
        actor=row["actor"],
        at=row["at"],
        detail=dict(row["detail"] or {}),
    )


class TenantRegistry:
    """Tenants, lifecycle events and vendor-key hashes in the control plane's database."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]]) -> None:
        self._pool = pool

    async def migrate(self) -> None:
        async with self._pool.connection() as conn:
            await migrate(conn)

    async def ping(self) -> None:
        """Raise if the database cannot answer."""
        async with self._pool.connection() as conn:
            await conn.execute("SELECT 1")

    # -- tenants ---------------------------------------------------------------------------
    async def create(self, tenant: Tenant, event: TenantEvent) -> None:
        """Insert a new tenant with its creation event; :class:`TenantExists` if the slug was
        ever taken."""
        async with self._pool.connection() as conn, conn.transaction():
            try:
                await conn.execute(
                    """
                    INSERT INTO tenants (slug, display_name, provider, state, config, endpoint,
                                         tls_fingerprint, audit_public_key, failed_operation,
                                         failure_reason, port, created_at, updated_at,
                                         version)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    """,
                    (
                        tenant.slug,
                        tenant.display_name,
                        tenant.provider,
                        tenant.state.value,
                        Jsonb(tenant.config),
                        tenant.endpoint,
                        tenant.tls_fingerprint,
                        tenant.audit_public_key,
                        tenant.failed_operation.value if tenant.failed_operation else None,
                        tenant.failure_reason,
                        _port_of(tenant.endpoint),
                        tenant.created_at,
                        tenant.updated_at,
                        tenant.version,
                    ),
                )
            except errors.UniqueViolation:
                raise TenantExists(f"tenant {tenant.slug!r} already exists") from None
            await append_tenant_event(conn, event)

    async def save(
        self, tenant: Tenant, event: TenantEvent | None, *, expected_state: TenantState
    ) -> None:
        """Write the tenant's new state (and the event that led there) if it is still in
        ``expected_state``; :class:`ConcurrentUpdate` otherwise."""
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """
                UPDATE tenants SET display_name = %s, state = %s, config = %s, endpoint = %s,
                       tls_fingerprint = %s, audit_public_key = %s, failed_operation = %s,
                       failure_reason = %s, port = %s, updated_at = %s, version = %s
                WHERE slug = %s AND state = %s
                """,
                (
                    tenant.display_name,
                    tenant.state.value,
                    Jsonb(tenant.config),
                    tenant.endpoint,
                    tenant.tls_fingerprint,
                    tenant.audit_public_key,
                    tenant.failed_operation.value if tenant.failed_operation else None,
                    tenant.failure_reason,
                    _port_of(tenant.endpoint),
                    tenant.updated_at,
                    tenant.version,
                    tenant.slug,
                    expected_state.value,
                ),
            )
            if cur.rowcount != 1:
                raise ConcurrentUpdate(
                    f"tenant {tenant.slug!r} is no longer {expected_state.value}"
                )
            if event is not None:
                await append_tenant_event(conn, event)

    async def get(self, slug: str) -> Tenant:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM tenants WHERE slug = %s", (slug,))
            row = await cur.fetchone()
        if row is None:
            raise TenantNotFound(f"no tenant {slug!r}")
        return _tenant_from_row(row)

    async def list_tenants(self, states: Iterable[TenantState] | None = None) -> list[Tenant]:
        """All tenants (optionally only those in ``states``), oldest first."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            if states is None:
                await cur.execute("SELECT * FROM tenants ORDER BY created_at, slug")
            else:
                await cur.execute(
                    "SELECT * FROM tenants WHERE state = ANY(%s) ORDER BY created_at, slug",
                    ([s.value for s in states],),
                )
            rows = await cur.fetchall()
        return [_tenant_from_row(row) for row in rows]

    async def ports_in_use(self) -> set[int]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT port FROM tenants WHERE port IS NOT NULL AND state <> 'DEPROVISIONED'"
            )
            return {row[0] for row in await cur.fetchall()}

    async def observe(self, slug: str, event: TenantEvent | None, *,
                      expected_state: TenantState, health: TenantHealth | None = None) -> None:
        """Append an event that moves no state (a health notice, a drift found) and keep
        the tenant's last health poll (``health``), in one transaction, if the tenant is
        still in ``expected_state``; :class:`ConcurrentUpdate` otherwise. Touches the health
        columns only: a job saving the tenant meanwhile loses nothing."""
        async with self._pool.connection() as conn, conn.transaction():
            if health is None:
                cur = await conn.execute(
                    "SELECT 1 FROM tenants WHERE slug = %s AND state = %s FOR UPDATE",
                    (slug, expected_state.value))
            else:
                cur = await conn.execute(
                    "UPDATE tenants SET last_health_at = %s, last_health_ok = %s,"
                    " last_health_detail = %s, consecutive_failures = %s"
                    " WHERE slug = %s AND state = %s",
                    (health.checked_at, health.ready, health.detail,
                     health.consecutive_failures, slug, expected_state.value))
            if cur.rowcount != 1:
                raise ConcurrentUpdate(f"tenant {slug!r} is no longer {expected_state.value}")
            if event is not None:
                await append_tenant_event(conn, event)

    async def events(self, slug: str) -> list[TenantEvent]:
        """The tenant's lifecycle history in order."""
        await self.get(slug)  # 404 for an unknown tenant rather than an empty list
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM tenant_events WHERE slug = %s ORDER BY id", (slug,))
            rows = await cur.fetchall()
        return [_event_from_row(row) for row in rows]

    async def verify_events(self, slug: str) -> ChainVerdict:
        """Recompute the tenant's lifecycle hash chain (see :mod:`.tenant_audit`)."""
        await self.get(slug)
        async with self._pool.connection() as conn:
            return await verify_tenant_chain(conn, slug)

    # -- vendor keys -----------------------------------------------------------------------
    async def add_vendor_key(self, record: VendorKeyRecord) -> VendorKeyRecord:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                """
                INSERT INTO vendor_keys (key_id, slug, sha256, scopes, label)
                VALUES (%s, %s, %s, %s, %s) RETURNING *
                """,
                (record.key_id, record.slug, record.sha256, list(record.scopes), record.label),
            )
            row = await cur.fetchone()
        assert row is not None
        return _key_from_row(row)

    async def delete_vendor_key(self, key_id: str) -> None:
        """Forget a key that never reached its data plane (issuing failed half-way)."""
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM vendor_keys WHERE key_id = %s", (key_id,))

    async def vendor_key(self, slug: str, key_id: str) -> VendorKeyRecord:
        """One of the tenant's keys; :class:`VendorKeyNotFound` for another tenant's."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM vendor_keys WHERE slug = %s AND key_id = %s",
                              (slug, key_id))
            row = await cur.fetchone()
        if row is None:
            raise VendorKeyNotFound(f"tenant {slug!r} has no vendor key {key_id!r}")
        return _key_from_row(row)

    async def revoke_vendor_keys(self, slug: str, key_ids: Sequence[str] | None = None) -> int:
        """Mark the tenant's keys (``key_ids``, or all of them) revoked; returns how many
        were still valid. Revoking twice keeps the first time."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE vendor_keys SET revoked_at = now() WHERE slug = %s AND revoked_at IS NULL"
                " AND (%s::text[] IS NULL OR key_id = ANY(%s::text[]))",
                (slug, None if key_ids is None else list(key_ids),
                 None if key_ids is None else list(key_ids)),
            )
            return cur.rowcount

    async def vendor_keys(self, slug: str) -> list[VendorKeyRecord]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT * FROM vendor_keys WHERE slug = %s ORDER BY created_at, key_id", (slug,)
            )
            rows = await cur.fetchall()
        return [_key_from_row(row) for row in rows]


def _key_from_row(row: dict[str, Any]) -> VendorKeyRecord:
    scopes: Sequence[str] = row["scopes"]
    return VendorKeyRecord(
        key_id=row["key_id"],
        slug=row["slug"],
        sha256=row["sha256"],
        scopes=tuple(scopes),
        label=row["label"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )
