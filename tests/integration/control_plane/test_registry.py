"""The PostgreSQL tenant registry: round trips, uniqueness, optimistic state checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from psycopg_pool import AsyncConnectionPool

from control_plane.adapters.registry import TenantRegistry
from control_plane.domain.lifecycle import Action, Operation, Tenant, TenantState
from control_plane.domain.vendor_keys import VendorKeyRecord
from control_plane.errors import ConcurrentUpdate, TenantExists, TenantNotFound

T = TypeVar("T")


def run(conninfo: str, body: Callable[[TenantRegistry], Awaitable[T]]) -> T:
    async def main() -> T:
        async with AsyncConnectionPool(conninfo, min_size=1, max_size=2, open=False) as pool:
            registry = TenantRegistry(pool)
            await registry.migrate()
            await registry.migrate()  # idempotent
            return await body(registry)

    return asyncio.run(main())


def test_tenant_round_trip_with_events(fresh_database: str) -> None:
    async def body(registry: TenantRegistry) -> None:
        tenant, created = Tenant.request("acme", "Acme", "local", {"ocr": {"languages": ["fra"]}},
                                         actor="admin")
        await registry.create(tenant, created)
        step = tenant.begin_provisioning(actor="control-plane")
        await registry.save(tenant, step, expected_state=TenantState.REQUESTED)
        done = tenant.mark_provisioned("http://127.0.0.1:8107", actor="control-plane")
        await registry.save(tenant, done, expected_state=TenantState.PROVISIONING)

        loaded = await registry.get("acme")
        assert loaded == tenant
        assert loaded.config == {"ocr": {"languages": ["fra"]}}
        assert await registry.ports_in_use() == {8107}
        events = await registry.events("acme")
        assert [(e.action, e.from_state, e.to_state, e.actor) for e in events] == [
            (Action.REQUEST, None, TenantState.REQUESTED, "admin"),
            (Action.BEGIN_PROVISIONING, TenantState.REQUESTED, TenantState.PROVISIONING,
             "control-plane"),
            (Action.MARK_PROVISIONED, TenantState.PROVISIONING, TenantState.ACTIVE,
             "control-plane"),
        ]
        assert events[-1].detail == {"endpoint": "http://127.0.0.1:8107"}

    run(fresh_database, body)


def test_failed_state_round_trip_and_listing_by_state(fresh_database: str) -> None:
    async def body(registry: TenantRegistry) -> None:
        for slug in ("b-two", "a-one"):
            tenant, event = Tenant.request(slug, slug, "local", actor="admin")
            await registry.create(tenant, event)
        tenant = await registry.get("a-one")
        await registry.save(tenant, tenant.begin_provisioning(actor="cp"),
                            expected_state=TenantState.REQUESTED)
        await registry.save(tenant, tenant.fail(Operation.PROVISION, "no disk", actor="cp"),
                            expected_state=TenantState.PROVISIONING)
        loaded = await registry.get("a-one")
        assert (loaded.state, loaded.failed_operation, loaded.failure_reason) == (
            TenantState.FAILED, Operation.PROVISION, "no disk")
        assert [t.slug for t in await registry.list_tenants()] == ["b-two", "a-one"]
        assert [t.slug for t in await registry.list_tenants([TenantState.FAILED])] == ["a-one"]

    run(fresh_database, body)


def test_slugs_are_never_reused_and_unknown_slugs_are_not_found(fresh_database: str) -> None:
    async def body(registry: TenantRegistry) -> None:
        tenant, event = Tenant.request("gone", "Gone", "local", actor="admin")
        await registry.create(tenant, event)
        await registry.save(tenant, tenant.begin_provisioning(actor="cp"),
                            expected_state=TenantState.REQUESTED)
        await registry.save(tenant, tenant.mark_provisioned("http://127.0.0.1:8101", actor="cp"),
                            expected_state=TenantState.PROVISIONING)
        await registry.save(tenant, tenant.deprovision(actor="admin"),
                            expected_state=TenantState.ACTIVE)
        await registry.save(tenant, tenant.mark_deprovisioned(actor="cp"),
                            expected_state=TenantState.DEPROVISIONING)
        again, event = Tenant.request("gone", "Gone again", "local", actor="admin")
        with pytest.raises(TenantExists):
            await registry.create(again, event)
        assert await registry.ports_in_use() == set()
        with pytest.raises(TenantNotFound):
            await registry.get("never")
        with pytest.raises(TenantNotFound):
            await registry.events("never")

    run(fresh_database, body)


def test_save_refuses_a_stale_state(fresh_database: str) -> None:
    async def body(registry: TenantRegistry) -> None:
        tenant, event = Tenant.request("race", "Race", "local", actor="admin")
        await registry.create(tenant, event)
        copy = await registry.get("race")
        await registry.save(tenant, tenant.begin_provisioning(actor="a"),
                            expected_state=TenantState.REQUESTED)
        with pytest.raises(ConcurrentUpdate):
            await registry.save(copy, copy.begin_provisioning(actor="b"),
                                expected_state=TenantState.REQUESTED)
        assert len(await registry.events("race")) == 2  # the losing event was not written

    run(fresh_database, body)


def test_vendor_keys_store_only_hashes(fresh_database: str) -> None:
    async def body(registry: TenantRegistry) -> Any:
        tenant, event = Tenant.request("keys", "Keys", "local", actor="admin")
        await registry.create(tenant, event)
        stored = await registry.add_vendor_key(
            VendorKeyRecord("abcdef012345", "keys", "a" * 64, ("ingest", "read"), "dana"))
        assert stored.created_at is not None and stored.revoked_at is None
        assert [k.key_id for k in await registry.vendor_keys("keys")] == ["abcdef012345"]
        assert (await registry.vendor_keys("keys"))[0].scopes == ("ingest", "read")
        await registry.delete_vendor_key("abcdef012345")
        assert await registry.vendor_keys("keys") == []

    run(fresh_database, body)
