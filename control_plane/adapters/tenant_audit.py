"""The control plane's audit chain: each tenant's lifecycle events (``tenant_events``) are
hash-chained per tenant with the shared event model (``frostbyte_common.audit_chain``).

An event is appended inside the transaction that changes the tenant, serialised per tenant
by an advisory lock; ``(slug, seq)`` is unique, so a conflicting append cannot fork the chain.
"""

from __future__ import annotations

import hashlib
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from control_plane.domain.lifecycle import Action, TenantEvent
from frostbyte_common.audit_chain import (
    GENESIS_HASH,
    AuditEvent,
    ChainVerdict,
    next_event,
    verify_chain,
)

# The audit event type of each lifecycle action.
EVENT_TYPES: dict[Action, str] = {
    Action.REQUEST: "tenant.created",
    Action.BEGIN_PROVISIONING: "tenant.provisioning_started",
    Action.MARK_PROVISIONED: "tenant.provisioned",
    Action.FAIL: "tenant.failed",
    Action.CANCEL: "tenant.cancelled",
    Action.RETRY: "tenant.retried",
    Action.REAPPLY_CONFIG: "tenant.config_updated",
    Action.UPDATE: "tenant.update_started",
    Action.ROLL_BACK_UPDATE: "tenant.update_rolled_back",
    Action.SUSPEND: "tenant.suspended",
    Action.RESUME: "tenant.resumed",
    Action.DEPROVISION: "tenant.deprovisioning",
    Action.MARK_DEPROVISIONED: "tenant.deprovisioned",
    Action.HEALTH_FAILED: "health.failed",
    Action.HEALTH_RECOVERED: "health.recovered",
    Action.HEALTH_REPAIRED: "health.repaired",
    Action.HEALTH_REPAIR_FAILED: "health.repair_failed",
    Action.INFRA_DRIFT: "infra.drift",
    Action.BACKUP_CREATED: "backup.created",
    Action.BACKUP_DELETED: "backup.deleted",
    Action.BACKUPS_PURGED: "backup.purged",
}


def _lock_key(slug: str) -> int:
    digest = hashlib.sha256(f"frostbyte.tenant_events:{slug}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _payload(event: TenantEvent) -> dict[str, Any]:
    return {"transition": event.transition, "action": event.action.value,
            "from_state": event.from_state.value if event.from_state else None,
            "to_state": event.to_state.value, "detail": event.detail}


async def append_tenant_event(conn: AsyncConnection[Any], event: TenantEvent) -> AuditEvent:
    """Insert ``event`` as the next link of its tenant's chain (caller's transaction)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(event.slug),))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT seq, hash FROM tenant_events WHERE slug = %s AND seq IS NOT NULL"
            " ORDER BY seq DESC LIMIT 1", (event.slug,))
        head = await cur.fetchone()
    link = next_event(tenant=event.slug, seq=(head["seq"] + 1) if head else 1,
                      prev_hash=head["hash"] if head else GENESIS_HASH, actor=event.actor,
                      event_type=EVENT_TYPES[event.action], subject_kind="tenant",
                      subject_id=event.slug, payload=_payload(event), occurred_at=event.at)
    await conn.execute(
        "INSERT INTO tenant_events (slug, transition, action, from_state, to_state, actor, at,"
        " detail, seq, event_id, event_type, prev_hash, hash)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
        (event.slug, event.transition, event.action.value,
         event.from_state.value if event.from_state else None, event.to_state.value,
         event.actor, link.occurred_at, Jsonb(event.detail), link.seq, link.event_id,
         link.event_type, link.prev_hash, link.hash))
    return link


async def tenant_chain(conn: AsyncConnection[Any], slug: str) -> list[AuditEvent]:
    """The tenant's chained lifecycle events, in order, rebuilt from the table's columns."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM tenant_events WHERE slug = %s AND seq IS NOT NULL"
                          " ORDER BY seq", (slug,))
        rows = await cur.fetchall()
    return [
        AuditEvent(tenant=r["slug"], seq=r["seq"], occurred_at=r["at"], actor=r["actor"],
                   event_type=r["event_type"], subject_kind="tenant", subject_id=r["slug"],
                   payload={"transition": r["transition"], "action": r["action"],
                            "from_state": r["from_state"], "to_state": r["to_state"],
                            "detail": r["detail"]},
                   prev_hash=r["prev_hash"], hash=r["hash"], event_id=str(r["event_id"]))
        for r in rows
    ]


async def verify_tenant_chain(conn: AsyncConnection[Any], slug: str) -> ChainVerdict:
    """Recompute the tenant's lifecycle chain."""
    return verify_chain(await tenant_chain(conn, slug))
