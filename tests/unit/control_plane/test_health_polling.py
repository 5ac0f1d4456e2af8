"""Health polling (issue 18) without processes: the pure rules (what a poll notices, the
restart backoff schedule) table-driven, and the poller over in-memory ports and a provider
whose data plane goes down on demand — what lands in the tenant's events and health, how
often it is restarted, and what it leaves alone (SUSPENDED tenants, tenants with an open
job). Drift checks against a provider that reports drifted resources."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from control_plane.domain.health import (
    DriftedResource,
    HealthNotice,
    HealthReport,
    RepairBackoff,
    TenantHealth,
    assess,
    backoff_s,
    clip,
)
from control_plane.domain.lifecycle import Action, Tenant, TenantEvent, TenantState
from control_plane.errors import ConcurrentUpdate, InvalidTransition, ProvisioningFailed
from control_plane.services.health_polling import HealthPollingService
from frostbyte_common.tenant_config import TenantConfig

from .doubles import InMemoryJobStore, InMemoryRegistry, RecordingProvider

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
INTERVAL = 30.0


# -- the pure rules ------------------------------------------------------------------------------
@pytest.mark.parametrize(("failed", "intervals"), [
    (0, 0), (1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 32), (7, 32), (20, 32)])
def test_restarts_back_off_by_doubling_intervals_up_to_a_cap(failed: int,
                                                              intervals: int) -> None:
    assert backoff_s(failed, INTERVAL) == intervals * INTERVAL


def test_the_backoff_schedule_of_a_tenant_whose_restarts_keep_failing() -> None:
    backoff = RepairBackoff()
    assert backoff.due(T0)  # the first restart runs at once
    waits = []
    now = T0
    for _ in range(5):
        backoff = backoff.started().after_failure(now, INTERVAL)
        assert backoff.next_at is not None
        waits.append((backoff.next_at - now).total_seconds() / INTERVAL)
        assert not backoff.due(backoff.next_at - timedelta(seconds=1))
        now = backoff.next_at
        assert backoff.due(now)
    assert waits == [1, 2, 4, 8, 16]
    assert backoff.attempts == 5


@pytest.mark.parametrize(("previous", "ready", "failures", "notice"), [
    (None, True, 0, None),  # first poll, ready: nothing to tell
    (None, False, 1, HealthNotice.FAILED),  # first poll, down: noticed
    (TenantHealth(T0, True, "ready", 0), False, 1, HealthNotice.FAILED),
    (TenantHealth(T0, False, "x", 1), False, 2, None),  # still down: counted, not re-told
    (TenantHealth(T0, False, "x", 4), True, 0, HealthNotice.RECOVERED),
    (TenantHealth(T0, True, "ready", 0), True, 0, None),
])
def test_what_a_poll_notices(previous: TenantHealth | None, ready: bool, failures: int,
                             notice: HealthNotice | None) -> None:
    health, told = assess(previous, HealthReport(ready, "" if ready else "api gone"),
                          T0 + timedelta(seconds=30))
    assert (health.ready, health.consecutive_failures, told) == (ready, failures, notice)
    assert health.checked_at == T0 + timedelta(seconds=30)
    assert health.detail == ("ready" if ready else "api gone")


def test_a_long_detail_is_kept_on_one_line_and_short() -> None:
    kept = clip("line one\nline two " + "x" * 1000)
    assert "\n" not in kept and len(kept) == 500 and kept.startswith("line one line two")


def test_an_observation_moves_no_state_and_a_transition_is_no_observation() -> None:
    tenant, _ = Tenant.request("acme", "Acme", "local", actor="admin", at=T0)
    event = tenant.observe(Action.HEALTH_FAILED, {"detail": "api gone"}, actor="system")
    assert (event.transition, event.from_state, event.to_state) == (
        0, TenantState.REQUESTED, TenantState.REQUESTED)
    assert tenant.state is TenantState.REQUESTED
    with pytest.raises(InvalidTransition):
        tenant.observe(Action.SUSPEND, {}, actor="system")


# -- the poller ----------------------------------------------------------------------------------
class ObservingRegistry(InMemoryRegistry):
    """The registry's ``observe``: the event appended and the health kept, only from the
    expected state."""

    async def observe(self, slug: str, event: TenantEvent | None, *,
                      expected_state: TenantState, health: TenantHealth | None = None) -> None:
        if self.tenants[slug].state is not expected_state:
            raise ConcurrentUpdate(f"tenant {slug!r} is no longer {expected_state.value}")
        if health is not None:
            self.tenants[slug].health = health
        if event is not None:
            self.event_log.append(event)

    def health_events(self, slug: str) -> list[TenantEvent]:
        return [e for e in self.event_log if e.slug == slug and e.transition == 0]


class RepairingProvider(RecordingProvider):
    """A local-like provider: ``probe_health`` says why, ``repair`` restarts; restarts fail
    while ``broken`` is above zero (counting down)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = 0

    def probe_health(self, tenant: Tenant) -> HealthReport:
        if tenant.slug in self.running:
            return HealthReport(True, "ready")
        return HealthReport(False, "its api process is not running")

    def repair(self, tenant: Tenant, config: TenantConfig) -> str:
        self.calls.append(("repair", tenant.slug))
        if self.broken:
            self.broken -= 1
            raise ProvisioningFailed("data plane of 'acme' did not become ready: exited 1")
        self.running.add(tenant.slug)
        return self.endpoint(tenant.slug)


class DriftingProvider(RecordingProvider):
    name = "hetzner"

    def __init__(self) -> None:
        super().__init__()
        self.drifted: dict[str, list[DriftedResource]] = {}

    def check_drift(self, tenant: Tenant) -> list[DriftedResource]:
        self.calls.append(("check_drift", tenant.slug))
        return self.drifted.get(tenant.slug, [])


class RecordingMetrics:
    def __init__(self) -> None:
        self.health: list[tuple[str, bool]] = []
        self.errors: list[tuple[str, str]] = []

    def observe_health(self, slug: str, ready: bool) -> None:
        self.health.append((slug, ready))

    def observe_job(self, operation: str, outcome: str, seconds: float) -> None:
        return None

    def provider_error(self, provider: str, operation: str) -> None:
        self.errors.append((provider, operation))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Setup:
    def __init__(self) -> None:
        self.registry = ObservingRegistry()
        self.store = InMemoryJobStore()
        self.local = RepairingProvider()
        self.cloud = DriftingProvider()
        self.metrics = RecordingMetrics()
        self.clock = Clock()
        self.poller = HealthPollingService(
            self.registry, self.registry, {"local": self.local, "hetzner": self.cloud},
            self.store, self.metrics, interval_s=INTERVAL, drift_interval_s=6 * 3600,
            clock=self.clock)

    def add(self, slug: str, state: TenantState = TenantState.ACTIVE,
            provider: str = "local") -> None:
        tenant, event = Tenant.request(slug, slug, provider, actor="admin", at=T0)
        tenant.state, tenant.endpoint = state, self.local.endpoint(slug)
        self.registry.tenants[slug] = copy.deepcopy(tenant)
        self.registry.event_log.append(event)
        self.local.running.add(slug)

    async def poll(self) -> None:
        await self.poller.poll()
        await self.poller.wait_for_repairs()

    def events(self, slug: str) -> list[tuple[str, dict[str, Any]]]:
        return [(e.action.value, e.detail) for e in self.registry.health_events(slug)]


@pytest.fixture
def setup() -> Iterator[Setup]:
    yield Setup()


def test_a_dead_data_plane_is_noticed_restarted_once_and_reported(setup: Setup) -> None:
    setup.add("acme")
    asyncio.run(setup.poll())
    assert setup.registry.tenants["acme"].health == TenantHealth(T0, True, "ready", 0)
    assert setup.events("acme") == []  # healthy: no event

    setup.local.running.discard("acme")  # its API was killed
    setup.clock.advance(INTERVAL)
    asyncio.run(setup.poll())
    [(failed, noticed), (repaired, restart)] = setup.events("acme")
    assert (failed, noticed["detail"], noticed["consecutive_failures"]) == (
        "health_failed", "its api process is not running", 1)
    assert (repaired, restart["attempt"], restart["reason"]) == (
        "health_repaired", 1, "its api process is not running")
    assert setup.local.count("repair") == 1
    health = setup.registry.tenants["acme"].health
    assert health is not None and health.ready and health.consecutive_failures == 0
    assert setup.metrics.health == [("acme", True), ("acme", False), ("acme", True)]

    setup.clock.advance(INTERVAL)
    asyncio.run(setup.poll())  # ready again: nothing more to do or tell
    assert setup.local.count("repair") == 1 and len(setup.events("acme")) == 2


def test_failing_restarts_back_off_and_a_success_resets_the_schedule(setup: Setup) -> None:
    setup.add("acme")
    setup.local.running.discard("acme")
    setup.local.broken = 3
    attempts_at = []
    for poll in range(12):  # one poll per interval
        before = setup.local.count("repair")
        asyncio.run(setup.poll())
        if setup.local.count("repair") > before:
            attempts_at.append(poll)
        setup.clock.advance(INTERVAL)
    # at once, then after 1, 2 and 4 intervals; the fourth restart works
    assert attempts_at == [0, 1, 3, 7]
    events = setup.events("acme")
    assert [a for a, _ in events] == ["health_failed", "health_repair_failed",
                                      "health_repair_failed", "health_repair_failed",
                                      "health_repaired"]
    assert [d["next_attempt_in_s"] for a, d in events if a == "health_repair_failed"] == [
        INTERVAL, 2 * INTERVAL, 4 * INTERVAL]
    assert events[-1][1]["attempt"] == 4
    assert "did not become ready" in events[1][1]["reason"]
    assert setup.metrics.errors == [("local", "repair")] * 3
    assert setup.poller.backoff("acme") == RepairBackoff()  # reset once it is ready

    setup.local.running.discard("acme")  # down again later: restarted at once again
    asyncio.run(setup.poll())
    assert setup.local.count("repair") == 5


def test_suspended_tenants_are_neither_polled_nor_restarted(setup: Setup) -> None:
    setup.add("acme", TenantState.SUSPENDED)
    setup.local.running.discard("acme")
    for _ in range(3):
        asyncio.run(setup.poll())
        setup.clock.advance(INTERVAL)
    assert setup.local.count("repair") == 0 and setup.local.count("start") == 0
    assert setup.events("acme") == [] and setup.metrics.health == []
    assert setup.registry.tenants["acme"].health is None


def test_no_restart_while_a_job_of_the_tenant_is_open(setup: Setup) -> None:
    setup.add("acme")
    setup.local.running.discard("acme")  # e.g. a rotation restarting its processes
    job, _ = asyncio.run(setup.store.open_or_create("acme", "rotate", "admin"))
    asyncio.run(setup.poll())
    assert setup.local.count("repair") == 0 and setup.events("acme") == []
    asyncio.run(setup.store.set_status(job.job_id, "succeeded"))
    asyncio.run(setup.poll())
    assert setup.local.count("repair") == 1


def test_a_tenant_the_start_up_recovery_is_restarting_is_left_to_it(setup: Setup) -> None:
    restarting = {"acme"}
    poller = HealthPollingService(
        setup.registry, setup.registry, {"local": setup.local}, setup.store, setup.metrics,
        interval_s=INTERVAL, drift_interval_s=0, clock=setup.clock,
        busy=restarting.__contains__)
    setup.add("acme")
    setup.local.running.discard("acme")
    asyncio.run(poller.poll())
    assert setup.local.count("repair") == 0 and setup.events("acme") == []
    restarting.clear()  # the recovery's restart ended without success

    async def poll() -> None:
        await poller.poll()
        await poller.wait_for_repairs()

    asyncio.run(poll())
    assert setup.local.count("repair") == 1


def test_a_tenant_without_a_repairing_provider_is_reported_not_restarted(
        setup: Setup) -> None:
    setup.add("cloudy", provider="hetzner")
    setup.cloud.running.discard("cloudy")
    asyncio.run(setup.poll())
    assert setup.events("cloudy") == [("health_failed", {
        "detail": "its readiness check failed", "checked_at": T0.isoformat(),
        "consecutive_failures": 1})]
    assert setup.cloud.count("start") == 0
    setup.cloud.running.add("cloudy")  # back by itself
    setup.clock.advance(INTERVAL)
    asyncio.run(setup.poll())
    assert [a for a, _ in setup.events("cloudy")] == ["health_failed", "health_recovered"]


def test_drift_is_an_event_with_urns_kinds_and_property_names(setup: Setup) -> None:
    setup.add("calm", provider="hetzner")
    setup.add("moved", TenantState.SUSPENDED, provider="hetzner")
    setup.add("acme")  # local: no stack, no drift check
    firewall = "urn:pulumi:tenant-moved::frostbyte-tenant::hcloud:index/firewall:Firewall::fw"
    volume = "urn:pulumi:tenant-moved::frostbyte-tenant::hcloud:index/volume:Volume::data"
    setup.cloud.drifted["moved"] = [
        DriftedResource(volume, "hcloud:index/volume:Volume", "delete"),
        DriftedResource(firewall, "hcloud:index/firewall:Firewall", "update", ("rules",))]
    asyncio.run(setup.poller.check_drift())
    assert sorted(s for c, s in setup.cloud.calls if c == "check_drift") == ["calm", "moved"]
    assert setup.events("calm") == [] and setup.events("acme") == []
    [(action, detail)] = setup.events("moved")
    assert action == "infra_drift"
    assert detail == {"count": 2, "resources": [
        {"urn": firewall, "kind": "hcloud:index/firewall:Firewall", "op": "update",
         "properties": ["rules"]},
        {"urn": volume, "kind": "hcloud:index/volume:Volume", "op": "delete",
         "properties": []}]}


def test_the_loops_run_on_their_interval_and_stop_with_the_block() -> None:
    setup = Setup()
    setup.poller.interval_s = 0.01
    setup.add("acme")

    async def run() -> None:
        async with setup.poller.running():
            while setup.poller.rounds < 3:
                await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(run(), 10))
    assert setup.poller.rounds >= 3 and setup.poller.drift_rounds == 0


def test_the_cli_shows_the_last_poll() -> None:
    from rich.console import Console

    from frostbyte_cli.client import Tenant as TenantJson
    from frostbyte_cli.render import tenant_panel

    def shown(health: dict[str, Any] | None) -> str:
        console = Console(record=True, width=200)
        body: TenantJson = {"slug": "acme", "state": "ACTIVE", "provider": "local",
                            "endpoint": None, "health": health}
        console.print(tenant_panel(body))
        return console.export_text()

    assert "health" not in shown(None)
    assert "ready (polled 2026-12-02T10:00:00Z)" in shown(
        {"checked_at": "2026-12-02T10:00:00Z", "ready": True, "detail": "ready",
         "consecutive_failures": 0})
    assert "not ready: its api process is not running (2 polls, last 2026-12-02T10:01:00Z)" \
        in shown({"checked_at": "2026-12-02T10:01:00Z", "ready": False,
                  "detail": "its api process is not running", "consecutive_failures": 2})
