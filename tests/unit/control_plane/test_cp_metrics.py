"""The control plane's Prometheus figures: what an operator's scrape shows after health
polls, jobs and provider failures (the served endpoint is scraped in
tests/e2e/test_metrics_scrape.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from control_plane.adapters.metrics import MeteredProvider, PrometheusControlPlaneMetrics
from control_plane.domain.lifecycle import Operation, Tenant, TenantState
from control_plane.errors import DataPlaneError, ProvisioningFailed
from control_plane.providers.base import CapacityCheck
from control_plane.services.provisioning import JobRunner
from control_plane.services.provisioning_steps import Apply, StepContext
from tests.unit.control_plane.doubles import RecordingProvider
from tests.unit.control_plane.test_provisioning_steps import World
from tests.unit.control_plane.test_services import Plane

ADMIN = "root"


def samples(metrics: PrometheusControlPlaneMetrics) -> dict[tuple[str, frozenset[Any]], float]:
    """Every sample of the exposition text, as Prometheus would read it."""
    text = metrics.exposition().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def tenant(slug: str, state: TenantState) -> Tenant:
    made, _ = Tenant.request(slug, slug.title(), "local", actor=ADMIN)
    made.state = state
    return made


def test_health_polls_show_readiness_and_count_each_result() -> None:
    metrics = PrometheusControlPlaneMetrics()
    metrics.observe_health("acme", True)
    metrics.observe_health("acme", False)
    metrics.observe_health("beta", True)
    seen = samples(metrics)
    assert seen[("frostbyte_cp_tenant_ready", frozenset({("tenant", "acme")}))] == 0
    assert seen[("frostbyte_cp_tenant_ready", frozenset({("tenant", "beta")}))] == 1
    for result in ("ready", "not_ready"):
        assert seen[("frostbyte_cp_health_checks_total",
                     frozenset({("tenant", "acme"), ("result", result)}))] == 1


def test_tenants_are_counted_by_state_and_a_gone_tenant_leaves_the_readiness_gauge() -> None:
    metrics = PrometheusControlPlaneMetrics()
    metrics.observe_health("acme", True)
    metrics.observe_health("gone", True)
    metrics.set_tenant_states([tenant("acme", TenantState.ACTIVE),
                               tenant("beta", TenantState.ACTIVE),
                               tenant("gone", TenantState.DEPROVISIONED)])
    seen = samples(metrics)
    states = {dict(labels)["state"]: value for (name, labels), value in seen.items()
              if name == "frostbyte_cp_tenants"}
    assert states == {state.value: 0 for state in TenantState} | {"ACTIVE": 2,
                                                                  "DEPROVISIONED": 1}
    ready = {dict(labels)["tenant"] for (name, labels) in seen
             if name == "frostbyte_cp_tenant_ready"}
    assert ready == {"acme"}


class Broken(RecordingProvider):
    def stop(self, tenant: Tenant) -> list[str]:
        raise ProvisioningFailed("the host is gone")

    @contextmanager
    def control_channel(self, tenant: Tenant) -> Iterator[str]:
        raise DataPlaneError("no tunnel")
        yield ""  # pragma: no cover


def test_a_provider_call_that_raises_is_counted_by_provider_and_operation() -> None:
    metrics = PrometheusControlPlaneMetrics()
    provider = MeteredProvider(Broken(), metrics)
    acme = tenant("acme", TenantState.ACTIVE)
    with pytest.raises(ProvisioningFailed, match="the host is gone"):
        provider.stop(acme)
    with pytest.raises(DataPlaneError), provider.control_channel(acme):
        pass  # pragma: no cover
    assert provider.is_healthy(acme) is False  # a call that returns is no error
    seen = samples(metrics)
    errors = {tuple(sorted(dict(labels).items())): value for (name, labels), value in seen.items()
              if name == "frostbyte_cp_provider_errors_total"}
    assert errors == {(("operation", "stop"), ("provider", "local")): 1,
                      (("operation", "control_channel"), ("provider", "local")): 1}


def test_the_metered_provider_offers_a_capacity_check_only_where_the_provider_has_one() -> None:
    class Sized(RecordingProvider):
        def check_capacity(self, slug: str) -> None:
            raise ProvisioningFailed(f"no room for {slug}")

    metrics = PrometheusControlPlaneMetrics()
    assert not isinstance(MeteredProvider(RecordingProvider(), metrics), CapacityCheck)
    sized = MeteredProvider(Sized(), metrics)
    assert isinstance(sized, CapacityCheck)
    with pytest.raises(ProvisioningFailed, match="no room for acme"):
        sized.check_capacity("acme")


def test_a_job_reports_its_operation_outcome_and_duration() -> None:
    world = World()
    metrics = PrometheusControlPlaneMetrics()

    class Unreachable(Apply):
        async def run(self, ctx: StepContext) -> str | None:
            raise DataPlaneError("the data plane never became healthy")

    async def scenario() -> None:
        ok = await world.runner().enqueue(await world.requested("acme"), ADMIN)
        await JobRunner(world.registry, world.store, world.queue, {"local": world.provider},
                        world.plans(), metrics=metrics).run(ok.job_id)
        plans = world.plans()
        plans[Operation.PROVISION] = tuple(Unreachable() if s.name == "apply" else s
                                           for s in plans[Operation.PROVISION])
        bad = await world.runner().enqueue(await world.requested("beta"), ADMIN)
        await JobRunner(world.registry, world.store, world.queue, {"local": world.provider},
                        plans, metrics=metrics).run(bad.job_id)

    asyncio.run(scenario())
    seen = samples(metrics)
    for outcome in ("succeeded", "failed"):
        key = ("frostbyte_cp_job_duration_seconds_count",
               frozenset({("operation", "provision"), ("outcome", outcome)}))
        assert seen[key] == 1
    assert seen[("frostbyte_cp_job_failures_total",
                 frozenset({("operation", "provision")}))] == 1


def test_the_wired_services_report_provisioning_and_rotation_jobs(tmp_path: Path) -> None:
    plane = Plane(tmp_path)

    async def scenario() -> None:
        await plane.active("acme")
        await plane.services.rotation.rotate("acme", actor=ADMIN)
        scraped = await plane.services.metrics.scrape()
        seen.update({(s.name, frozenset(s.labels.items())): s.value
                     for family in text_string_to_metric_families(scraped.decode())
                     for s in family.samples})

    seen: dict[tuple[str, frozenset[Any]], float] = {}
    asyncio.run(scenario())
    for operation in ("provision", "rotate"):
        assert seen[("frostbyte_cp_job_duration_seconds_count", frozenset(
            {("operation", operation), ("outcome", "succeeded")}))] == 1, operation
    assert seen[("frostbyte_cp_tenants", frozenset({("state", "ACTIVE")}))] == 1
