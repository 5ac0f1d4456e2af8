"""The control plane's own audit chain: every lifecycle transition is a hash-chained event
per tenant; history cannot be edited without break-glass, and an edit is detected."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from control_plane.adapters.registry import TenantRegistry
from control_plane.adapters.tenant_audit import tenant_chain, verify_tenant_chain
from control_plane.domain.lifecycle import Tenant, TenantState
from frostbyte_common.audit_chain import ChainVerdict


def _lifecycle(conninfo: str) -> tuple[list[str], ChainVerdict, ChainVerdict]:
    async def main() -> tuple[list[str], ChainVerdict, ChainVerdict]:
        async with AsyncConnectionPool(conninfo, min_size=1, max_size=2, open=False) as pool:
            registry = TenantRegistry(pool)
            await registry.migrate()
            for slug in ("acme", "globex"):
                tenant, created = Tenant.request(slug, slug, "local", {}, actor="admin")
                await registry.create(tenant, created)
                step = tenant.begin_provisioning(actor="control-plane")
                await registry.save(tenant, step, expected_state=TenantState.REQUESTED)
            acme = await registry.get("acme")
            done = acme.mark_provisioned("http://127.0.0.1:8107", actor="control-plane")
            await registry.save(acme, done, expected_state=TenantState.PROVISIONING)
            suspended = acme.suspend(actor="admin")
            await registry.save(acme, suspended, expected_state=TenantState.ACTIVE)
            async with pool.connection() as conn:
                types = [e.event_type for e in await tenant_chain(conn, "acme")]
                return (types, await verify_tenant_chain(conn, "acme"),
                        await verify_tenant_chain(conn, "globex"))

    return asyncio.run(main())


def _verify(conninfo: str, slug: str) -> ChainVerdict:
    async def main() -> ChainVerdict:
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            return await verify_tenant_chain(conn, slug)

    return asyncio.run(main())


def test_each_transition_is_a_chained_event_per_tenant(fresh_database: str) -> None:
    types, acme, globex = _lifecycle(fresh_database)
    assert types == ["tenant.created", "tenant.provisioning_started", "tenant.provisioned",
                     "tenant.suspended"]
    assert acme.ok and acme.events == 4
    assert globex.ok and globex.events == 2


def test_history_is_append_only_and_an_edit_is_detected(fresh_database: str) -> None:
    _lifecycle(fresh_database)
    with psycopg.connect(fresh_database) as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE tenant_events SET actor = 'mallory' WHERE slug = 'acme'")
    with psycopg.connect(fresh_database) as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM tenant_events WHERE slug = 'acme' AND seq = 2")
    with psycopg.connect(fresh_database) as conn:
        conn.execute("SET frostbyte.audit_break_glass = 'on'")
        conn.execute("UPDATE tenant_events SET actor = 'mallory' WHERE slug = 'acme'"
                     " AND seq = 3")
    verdict = _verify(fresh_database, "acme")
    assert not verdict.ok and verdict.first_bad_seq == 3
    assert _verify(fresh_database, "globex").ok
