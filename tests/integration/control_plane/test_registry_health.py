"""The PostgreSQL registry's side of health polling (issue 18): the last poll kept with the
tenant (migration 011) and the ``health.*`` / ``infra.drift`` events appended to its hash
chain in one transaction — only from the expected state, and never clobbered by a job
saving the tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from control_plane.adapters.registry import TenantRegistry
from control_plane.domain.health import TenantHealth
from control_plane.domain.lifecycle import Action, Tenant, TenantState
from control_plane.errors import ConcurrentUpdate

from .test_registry import run

AT = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def test_health_and_its_events_are_kept_together(fresh_database: str) -> None:
    async def body(registry: TenantRegistry) -> None:
        tenant, created = Tenant.request("acme", "Acme", "local", actor="admin")
        await registry.create(tenant, created)
        await registry.save(tenant, tenant.begin_provisioning(actor="control-plane"),
                            expected_state=TenantState.REQUESTED)
        await registry.save(tenant, tenant.mark_provisioned("https://127.0.0.1:8107",
                                                            actor="control-plane"),
                            expected_state=TenantState.PROVISIONING)
        assert (await registry.get("acme")).health is None  # never polled

        down = TenantHealth(AT, False, "its api process is not running", 1)
        noticed = tenant.observe(Action.HEALTH_FAILED, {"detail": down.detail},
                                 actor="control-plane", at=AT)
        await registry.observe("acme", noticed, expected_state=TenantState.ACTIVE, health=down)
        assert (await registry.get("acme")).health == down

        # a job saving the tenant (its copy has no health) keeps the poll
        tenant.display_name = "Acme Ltd"
        await registry.save(tenant, None, expected_state=TenantState.ACTIVE)
        assert (await registry.get("acme")).health == down

        # from another state: refused, nothing written
        up = TenantHealth(AT, True, "ready", 0)
        with pytest.raises(ConcurrentUpdate):
            await registry.observe("acme", tenant.observe(
                Action.HEALTH_REPAIRED, {}, actor="control-plane"),
                expected_state=TenantState.SUSPENDED, health=up)
        assert (await registry.get("acme")).health == down

        await registry.observe("acme", tenant.observe(
            Action.HEALTH_REPAIRED, {"attempt": 1}, actor="control-plane"),
            expected_state=TenantState.ACTIVE, health=up)
        await registry.observe("acme", tenant.observe(
            Action.INFRA_DRIFT, {"count": 0, "resources": []}, actor="control-plane"),
            expected_state=TenantState.ACTIVE)  # an event alone: the health stays
        loaded = await registry.get("acme")
        assert loaded.health == up and loaded.state is TenantState.ACTIVE
        events = await registry.events("acme")
        assert [(e.transition, e.action) for e in events[-3:]] == [
            (0, Action.HEALTH_FAILED), (0, Action.HEALTH_REPAIRED), (0, Action.INFRA_DRIFT)]
        assert (await registry.verify_events("acme")).ok

    run(fresh_database, body)
    with psycopg.connect(fresh_database) as conn:
        types = [r[0] for r in conn.execute(
            "SELECT event_type FROM tenant_events WHERE slug = 'acme' ORDER BY seq")]
    assert types[-3:] == ["health.failed", "health.repaired", "infra.drift"]
