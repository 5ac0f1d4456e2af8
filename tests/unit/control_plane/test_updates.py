"""Data-plane updates (issue 18) on in-memory ports: the version logic, the lifecycle's update
transitions, and the update job as the runner runs it — to the new version, rolled back by
the provider (ACTIVE on the old version, the job failed with the reason), or failed with its
rollback (FAILED); and every refusal before anything moves."""

from __future__ import annotations

from typing import Any

import pytest

from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.lifecycle import Operation, Tenant, TenantState
from control_plane.domain.releases import (
    UPDATE_OPERATION,
    check_schema,
    image_tag,
    normalize_version,
    plan_update,
)
from control_plane.errors import (
    ConcurrentUpdate,
    InvalidTransition,
    InvalidVersion,
    ProviderNotAvailable,
    ProvisioningFailed,
    ReleaseNotFound,
    SchemaAhead,
    UpdateRolledBack,
)
from control_plane.providers.base import ReleaseUpdates
from control_plane.services.provisioning import JobRunner
from control_plane.services.provisioning_steps import job_plans
from control_plane.services.updates import UpdateService, update_steps
from frostbyte_common.tenant_config import TenantConfig
from tests.unit.control_plane.doubles import (
    InMemoryJobStore,
    InMemoryRegistry,
    InMemorySecrets,
    RecordingProvider,
    RecordingQueue,
    run,
)

ADMIN = "admin"


class UpdatingProvider(RecordingProvider):
    """A provider with releases ``0.1.0`` (default), ``0.2.0`` and ``0.3.0``; ``outcome``
    says what the next update does: ``ok``, ``rolled_back`` or ``rollback_failed``."""

    releases = ("0.1.0", "0.2.0", "0.3.0")

    def __init__(self) -> None:
        super().__init__()
        self.outcome = "ok"
        self.versions: dict[str, str] = {}  # what each tenant's data plane runs

    def default_version(self) -> str:
        return "0.1.0"

    def check_release(self, tenant: Tenant, version: str) -> None:
        if version not in self.releases:
            raise ReleaseNotFound(f"no data-plane release {version}")
        if version == "0.1.0" and (tenant.version or "0.1.0") != "0.1.0":
            check_schema(plan_update(tenant.slug, tenant.version or "0.1.0", version),
                         ["009_new.sql"], [])

    def update(self, tenant: Tenant, config: TenantConfig, version: str) -> str:
        self.calls.append(("update", f"{tenant.slug}@{version}"))
        if self.outcome == "rolled_back":
            self.versions[tenant.slug] = tenant.version or "0.1.0"
            raise UpdateRolledBack(f"data plane of {tenant.slug!r} did not become ready",
                                   endpoint=self.endpoint(tenant.slug))
        if self.outcome == "rollback_failed":
            raise ProvisioningFailed(f"update to {version} failed; the rollback failed too")
        self.versions[tenant.slug] = version
        return self.endpoint(tenant.slug)


class World:
    def __init__(self, provider: RecordingProvider | None = None) -> None:
        self.registry = InMemoryRegistry()
        self.store = InMemoryJobStore()
        self.queue = RecordingQueue()
        self.provider = provider or UpdatingProvider()
        plans = {**job_plans(self.registry, InMemorySecrets(), None),
                 UPDATE_OPERATION: update_steps(self.registry)}
        self.runner = JobRunner(self.registry, self.store, self.queue,
                                {"local": self.provider}, plans)
        self.updates = UpdateService(self.registry, {"local": self.provider}, self.runner)

    async def active(self, slug: str = "acme", version: str | None = "0.1.0") -> Tenant:
        tenant, event = Tenant.request(slug, slug, "local", None, actor=ADMIN)
        await self.registry.create(tenant, event)
        for move in (lambda t: t.begin_provisioning(actor=SYSTEM_ACTOR),
                     lambda t: t.mark_provisioned(self.provider.endpoint(slug),
                                                  actor=SYSTEM_ACTOR)):
            before = tenant.state
            await self.registry.save(tenant, move(tenant), expected_state=before)
        tenant.version = version
        await self.registry.save(tenant, None, expected_state=TenantState.ACTIVE)
        return tenant

    async def update_and_run(self, version: str) -> Tenant:
        tenant = await self.updates.update("acme", version, actor=ADMIN)
        assert tenant.state is TenantState.PROVISIONING
        [job] = [j for j in await self.store.open_jobs() if j.slug == "acme"]
        await self.runner.run(job.job_id)
        result: Tenant = await self.registry.get("acme")
        return result

    async def last_job(self) -> Any:
        return (await self.store.list_jobs("acme"))[-1]


# -- versions -----------------------------------------------------------------------------
def test_versions_are_pep_440_and_safe_as_folder_names_and_image_tags() -> None:
    assert normalize_version(" v0.2.0 ") == "0.2.0"
    assert normalize_version("0.1.0+Hotfix.1") == "0.1.0+hotfix.1"
    assert image_tag("0.1.0+hotfix1") == "0.1.0-hotfix1"
    for bad in ("latest", "../0.1.0", "0.1.0/x", ""):
        with pytest.raises(InvalidVersion):
            normalize_version(bad)


def test_an_update_names_both_versions_and_refuses_the_one_running() -> None:
    plan = plan_update("acme", "0.2.0", "0.1.0")
    assert plan.detail() == {"from_version": "0.2.0", "to_version": "0.1.0"}
    assert plan.downgrade and not plan_update("acme", "0.1.0", "0.2.0").downgrade
    with pytest.raises(InvalidVersion, match=r"already runs version 0\.2\.0"):
        plan_update("acme", "0.2.0", "v0.2.0")


def test_a_release_that_lacks_an_applied_migration_is_refused() -> None:
    plan = plan_update("acme", "0.2.0", "0.1.0")
    check_schema(plan, ["001_a.sql"], ["001_a.sql", "002_b.sql"])  # a newer schema: fine
    with pytest.raises(SchemaAhead, match=r"002_b\.sql") as refused:
        check_schema(plan, ["001_a.sql", "002_b.sql"], ["001_a.sql"])
    assert refused.value.status_code == 409 and "backup" in refused.value.message


def test_only_an_active_tenant_starts_an_update() -> None:
    world = World()
    tenant = run(world.active())
    event = tenant.begin_update("0.1.0", "0.2.0", actor=ADMIN)
    assert (event.transition, event.action.value, event.to_state) == (
        6, "update", TenantState.PROVISIONING)
    assert event.detail == {"from_version": "0.1.0", "to_version": "0.2.0"}
    with pytest.raises(InvalidTransition):
        tenant.begin_update("0.1.0", "0.2.0", actor=ADMIN)
    back = tenant.roll_back_update("http://e", "0.1.0", "0.2.0", "no", actor=SYSTEM_ACTOR)
    assert (back.transition, back.to_state, tenant.version) == (3, TenantState.ACTIVE, "0.1.0")


# -- the job ------------------------------------------------------------------------------
def test_an_update_moves_the_tenant_to_the_new_version() -> None:
    world = World()
    run(world.active())
    tenant = run(world.update_and_run("0.2.0"))
    assert (tenant.state, tenant.version) == (TenantState.ACTIVE, "0.2.0")
    assert world.provider.versions == {"acme": "0.2.0"}  # type: ignore[attr-defined]
    started, done = world.registry.event_log[-2:]
    assert (started.transition, started.action.value, started.actor) == (6, "update", ADMIN)
    assert started.detail["from_version"] == "0.1.0"
    assert started.detail["to_version"] == "0.2.0"
    assert (done.transition, done.action.value, done.detail["version"]) == (
        3, "mark_provisioned", "0.2.0")
    assert done.detail["update"] == {"from_version": "0.1.0", "to_version": "0.2.0"}
    job = run(world.last_job())
    assert (job.operation, job.status) == ("update", "succeeded")


def test_a_failed_update_rolled_back_ends_active_on_the_old_version_with_the_reason() -> None:
    world = World()
    run(world.active())
    world.provider.outcome = "rolled_back"  # type: ignore[attr-defined]
    tenant = run(world.update_and_run("0.2.0"))
    assert (tenant.state, tenant.version) == (TenantState.ACTIVE, "0.1.0")
    rolled = world.registry.event_log[-1]
    assert (rolled.transition, rolled.action.value, rolled.to_state) == (
        3, "roll_back_update", TenantState.ACTIVE)
    assert rolled.detail["outcome"] == "update failed, rolled back"
    assert "did not become ready" in rolled.detail["reason"]
    assert (rolled.detail["from_version"], rolled.detail["to_version"],
            rolled.detail["version"]) == ("0.1.0", "0.2.0", "0.1.0")
    job = run(world.last_job())
    assert job.status == "failed"
    assert job.error.startswith("update to 0.2.0 failed, rolled back to 0.1.0:")


def test_an_update_whose_rollback_fails_too_leaves_the_tenant_failed() -> None:
    world = World()
    run(world.active())
    world.provider.outcome = "rollback_failed"  # type: ignore[attr-defined]
    tenant = run(world.update_and_run("0.2.0"))
    assert (tenant.state, tenant.failed_operation) == (TenantState.FAILED, Operation.PROVISION)
    assert "rollback failed too" in (tenant.failure_reason or "")
    assert tenant.version == "0.1.0"  # what a retry re-provisions


def test_refused_before_anything_moves() -> None:
    world = World()
    run(world.active(version="0.2.0"))
    for version, error in (("9.9.9", ReleaseNotFound), ("latest", InvalidVersion),
                           ("0.2.0", InvalidVersion), ("0.1.0", SchemaAhead)):
        with pytest.raises(error):
            run(world.updates.update("acme", version, actor=ADMIN))
    assert run(world.registry.get("acme")).state is TenantState.ACTIVE
    assert world.registry.event_log[-1].action.value == "mark_provisioned"
    assert run(world.store.list_jobs("acme")) == []
    assert world.provider.count("update") == 0


def test_one_job_at_a_time_and_only_providers_that_can_update() -> None:
    world = World()
    run(world.active())
    run(world.updates.update("acme", "0.2.0", actor=ADMIN))
    with pytest.raises(InvalidTransition):  # PROVISIONING now
        run(world.updates.update("acme", "0.3.0", actor=ADMIN))
    plain = World(RecordingProvider())
    run(plain.active())
    assert not isinstance(plain.provider, ReleaseUpdates)
    with pytest.raises(ProviderNotAvailable, match=r"cannot update"):
        run(plain.updates.update("acme", "0.2.0", actor=ADMIN))


def test_a_job_already_open_refuses_the_update_and_moves_nothing() -> None:
    world = World()
    run(world.active())
    run(world.store.open_or_create("acme", "rotate", ADMIN))  # a rotation is running
    with pytest.raises(ConcurrentUpdate):
        run(world.updates.update("acme", "0.2.0", actor=ADMIN))
    assert run(world.registry.get("acme")).state is TenantState.ACTIVE
