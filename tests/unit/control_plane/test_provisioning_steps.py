"""The tenant job's steps, one by one and run by the JobRunner, on in-memory ports: the
state transitions and events an admin reads, what each step records, and that a control
plane killed during any step finishes the job after a restart without doing anything twice
that shows (one event per transition, secrets made once, the data plane not left stopped)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.jobs import JobRecord
from control_plane.domain.lifecycle import Operation, Tenant, TenantEvent, TenantState
from control_plane.domain.ports import AuditArchiveFailed
from control_plane.domain.tenant_secrets import SECRET_NAMES
from control_plane.domain.vendor_keys import VendorKeyRecord
from control_plane.errors import DataPlaneError
from control_plane.services.provisioning import JobRunner
from control_plane.services.provisioning_steps import (
    AUDIT_ARCHIVE_WAIVER,
    Activate,
    Apply,
    ArchiveAudit,
    Begin,
    Cancelled,
    Destroy,
    Finish,
    MakeSecrets,
    RevokeKeys,
    Shred,
    Step,
    StepContext,
    StepFailed,
    Stop,
    StopForReapply,
    Verify,
    job_plans,
)
from frostbyte_common.version import __version__
from tests.unit.control_plane.doubles import (
    InMemoryJobStore,
    InMemoryRegistry,
    InMemorySecrets,
    RecordingProvider,
    RecordingQueue,
    run,
)

ADMIN = "admin"
ARCHIVED = {"archive": "/state/archive/acme/audit-export-1.jsonl", "head_hash": "ab" * 32,
            "events": 3}


class World:
    """The ports a job runs on, and the tenant ``acme``."""

    def __init__(self) -> None:
        self.registry = InMemoryRegistry()
        self.store = InMemoryJobStore()
        self.queue = RecordingQueue()
        self.secrets = InMemorySecrets()
        self.provider = RecordingProvider()
        self.archived: list[str] = []
        self.archive_fails: str | None = None

    async def archiver(self, tenant: Tenant, provider: object) -> dict[str, Any]:
        if self.archive_fails is not None:
            raise AuditArchiveFailed(self.archive_fails)
        self.archived.append(tenant.slug)
        return dict(ARCHIVED)

    def plans(self) -> dict[Operation, tuple[Step, ...]]:
        return job_plans(self.registry, self.secrets, self.archiver)

    def runner(self, plans: dict[Operation, tuple[Step, ...]] | None = None) -> JobRunner:
        return JobRunner(self.registry, self.store, self.queue, {"local": self.provider},
                         plans or self.plans())

    # -- tenants in a given state ------------------------------------------------------------
    async def requested(self, slug: str = "acme", config: dict[str, Any] | None = None
                        ) -> Tenant:
        tenant, event = Tenant.request(slug, slug.title(), "local", config, actor=ADMIN)
        await self.registry.create(tenant, event)
        return tenant

    async def advance(self, tenant: Tenant, *moves: Callable[[Tenant], TenantEvent]) -> None:
        """Move the tenant on through the registry, one transition after the other."""
        for move in moves:
            before = tenant.state
            await self.registry.save(tenant, move(tenant), expected_state=before)

    async def active(self, slug: str = "acme") -> Tenant:
        tenant = await self.requested(slug)
        endpoint = self.provider.endpoint(slug)
        await self.advance(tenant, lambda t: t.begin_provisioning(actor=SYSTEM_ACTOR),
                           lambda t: t.mark_provisioned(endpoint, actor=SYSTEM_ACTOR))
        self.provider.running.add(slug)
        self.secrets.put(slug, {name: f"{name}-0" for name in SECRET_NAMES})
        return tenant

    async def deprovisioning(self, slug: str = "acme", *, waiver: str | None = None) -> Tenant:
        tenant = await self.active(slug)
        event = tenant.deprovision(actor=ADMIN)
        if waiver is not None:
            event.detail[AUDIT_ARCHIVE_WAIVER] = {"by": ADMIN, "reason": waiver}
        await self.registry.save(tenant, event, expected_state=TenantState.ACTIVE)
        return tenant

    async def job(self, tenant: Tenant) -> JobRecord:
        return await self.runner().enqueue(tenant, ADMIN)

    async def context(self, slug: str = "acme", results: dict[str, str | None] | None = None,
                      operation: str = "provision") -> StepContext:
        tenant = await self.registry.get(slug)
        job, _ = await self.store.open_or_create(slug, operation, ADMIN)
        return StepContext(job, tenant, self.provider, results or {})

    def steps_of(self, job_id: str) -> list[tuple[str, str, int]]:
        return [(s.step, s.status, s.attempts)
                for s in asyncio.run(self.store.steps(job_id))]


@pytest.fixture
def world() -> World:
    return World()


# -- provision steps, one by one --------------------------------------------------------------
def test_begin_moves_a_requested_tenant_to_provisioning_once(world: World) -> None:
    run(world.requested())
    step = Begin(world.registry)
    assert run(step.run(run(world.context()))) == "first provisioning"
    assert run(world.registry.get("acme")).state is TenantState.PROVISIONING
    [event] = [e for e in world.registry.event_log if e.action.value == "begin_provisioning"]
    assert (event.actor, event.transition) == (SYSTEM_ACTOR, 2)

    # run again (a restart, or a retry already in PROVISIONING): no second event
    assert run(step.run(run(world.context()))) == "first provisioning"
    assert world.registry.actions("acme") == ["request", "begin_provisioning"]


def test_begin_of_a_reapply_says_so(world: World) -> None:
    tenant = run(world.active())
    event = tenant.reapply_config(actor=ADMIN)
    run(world.registry.save(tenant, event, expected_state=TenantState.ACTIVE))
    assert run(Begin(world.registry).run(run(world.context()))) == "re-apply"


def test_secrets_are_made_once(world: World) -> None:
    run(world.requested())
    step = MakeSecrets(world.secrets)
    assert run(step.run(run(world.context()))) == \
        "tenant age key and SOPS-encrypted credentials made"
    made = world.secrets.get("acme")
    assert set(made) == set(SECRET_NAMES)
    assert run(step.run(run(world.context()))) == "kept (already made)"
    assert world.secrets.get("acme") == made and world.secrets.writes == 1


def test_stop_for_reapply_stops_only_a_data_plane_that_ran(world: World) -> None:
    run(world.requested())
    assert run(StopForReapply().run(run(world.context()))) == "nothing running"
    assert world.provider.count("stop") == 0

    run(world.active("other"))
    message = run(StopForReapply().run(run(world.context("other"))))
    assert message == "stopped 2 process(es) to restart with the new config"
    assert "other" not in world.provider.running


def test_apply_provisions_with_the_effective_config_and_records_the_endpoint(
    world: World,
) -> None:
    run(world.requested(config={"chunking": {"max_tokens": 512}}))
    endpoint = run(Apply().run(run(world.context())))
    assert endpoint == world.provider.endpoint("acme")
    [config] = world.provider.configs
    assert config.chunking.max_tokens == 512


def test_activate_makes_the_tenant_active_at_the_applied_endpoint(world: World) -> None:
    run(world.requested())
    run(Begin(world.registry).run(run(world.context())))
    endpoint = world.provider.endpoint("acme")
    ctx = run(world.context(results={"apply": endpoint}))
    assert run(Activate(world.registry).run(ctx)) == f"ACTIVE at {endpoint}"
    tenant = run(world.registry.get("acme"))
    # a first provisioning records the release it deployed (the provider's default)
    assert (tenant.state, tenant.endpoint, tenant.version) == (
        TenantState.ACTIVE, endpoint, __version__)
    event = world.registry.event_log[-1]
    assert (event.action.value, event.actor, event.detail) == (
        "mark_provisioned", SYSTEM_ACTOR, {"endpoint": endpoint, "version": __version__})


def test_activate_without_an_endpoint_fails_the_step(world: World) -> None:
    run(world.requested())
    run(Begin(world.registry).run(run(world.context())))
    with pytest.raises(StepFailed, match="the apply step left no endpoint"):
        run(Activate(world.registry).run(run(world.context(results={"apply": None}))))
    assert run(world.registry.get("acme")).state is TenantState.PROVISIONING


def test_activate_of_a_tenant_an_admin_cancelled_meanwhile_stops_the_job(world: World) -> None:
    run(world.requested())
    run(Begin(world.registry).run(run(world.context())))
    ctx = run(world.context(results={"apply": world.provider.endpoint("acme")}))
    tenant = run(world.registry.get("acme"))  # the admin cancels after the step loaded it
    run(world.registry.save(tenant, tenant.cancel(actor=ADMIN),
                            expected_state=TenantState.PROVISIONING))
    with pytest.raises(Cancelled):
        run(Activate(world.registry).run(ctx))
    assert run(world.registry.get("acme")).state is TenantState.FAILED
    assert "mark_provisioned" not in world.registry.actions("acme")


# -- deprovision steps, one by one ------------------------------------------------------------
def test_archive_audit_keeps_the_export_and_records_where(world: World) -> None:
    run(world.deprovisioning())
    message = run(ArchiveAudit(world.registry, world.archiver).run(
        run(world.context(operation="deprovision"))))
    assert json.loads(message) == ARCHIVED and world.archived == ["acme"]


def test_archive_audit_of_a_tenant_that_never_ran_has_nothing_to_keep(world: World) -> None:
    tenant = run(world.requested())  # its first provisioning failed, then it is torn down
    run(world.advance(tenant, lambda t: t.begin_provisioning(actor=SYSTEM_ACTOR),
                      lambda t: t.fail(Operation.PROVISION, "boom", actor=SYSTEM_ACTOR),
                      lambda t: t.deprovision(actor=ADMIN)))
    message = run(ArchiveAudit(world.registry, world.archiver).run(
        run(world.context(operation="deprovision"))))
    assert message == "nothing to archive (the tenant never had a data plane)"
    assert world.archived == []


def test_archive_audit_refuses_without_an_archive(world: World) -> None:
    run(world.deprovisioning())
    with pytest.raises(StepFailed, match="no audit archive is configured"):
        run(ArchiveAudit(world.registry, None).run(run(world.context(operation="deprovision"))))


def test_a_failed_archive_stops_the_job_unless_the_request_waived_it(world: World) -> None:
    run(world.deprovisioning())
    world.archive_fails = "the data plane is gone"
    step = ArchiveAudit(world.registry, world.archiver)
    with pytest.raises(AuditArchiveFailed, match="the data plane is gone"):
        run(step.run(run(world.context(operation="deprovision"))))

    waived = World()
    waived.archive_fails = "the data plane is gone"
    run(waived.deprovisioning(waiver="server deleted by hand"))
    message = run(ArchiveAudit(waived.registry, waived.archiver).run(
        run(waived.context(operation="deprovision"))))
    assert json.loads(message) == {
        "error": "the data plane is gone",
        "waived": {"by": ADMIN, "reason": "server deleted by hand"}}


def test_stop_and_destroy(world: World) -> None:
    run(world.deprovisioning())
    ctx = run(world.context(operation="deprovision"))
    assert run(Stop().run(ctx)) == "stopped 2 process(es)"
    assert run(Stop().run(ctx)) == "stopped 0 process(es)"  # again: nothing left running
    assert run(Destroy().run(ctx)) == "resources destroyed"
    assert "acme" in world.provider.destroyed


def test_verify_fails_while_anything_is_left(world: World) -> None:
    run(world.deprovisioning())
    ctx = run(world.context(operation="deprovision"))
    run(Destroy().run(ctx))
    world.provider.left_behind = {"role", "database"}
    with pytest.raises(StepFailed, match="verification found still present: database, role"):
        run(Verify().run(ctx))
    world.provider.left_behind = set()
    assert json.loads(run(Verify().run(ctx))) == {"database": True, "files": True,
                                                  "role": True}


def test_shred_destroys_the_secrets_and_checks_it(world: World) -> None:
    run(world.deprovisioning())
    ctx = run(world.context(operation="deprovision"))
    assert json.loads(run(Shred(world.secrets).run(ctx))) == {"secrets_file": True,
                                                             "tenant_age_key": True}
    assert not world.secrets.exists("acme")

    class Stubborn(InMemorySecrets):
        def shred(self, slug: str) -> dict[str, bool]:
            return {"tenant_age_key": True, "secrets_file": False}

    with pytest.raises(StepFailed, match="crypto-shred left: secrets_file"):
        run(Shred(Stubborn()).run(ctx))


def test_revoke_keys_counts_the_keys_that_were_valid(world: World) -> None:
    run(world.deprovisioning())
    for key_id in ("k1", "k2"):
        run(world.registry.add_vendor_key(
            VendorKeyRecord(key_id, "acme", "00" * 32, ("ingest",), None)))
    run(world.registry.revoke_vendor_keys("acme", ["k1"]))
    assert run(RevokeKeys(world.registry).run(run(world.context(operation="deprovision")))) \
        == "1"
    assert all(k.revoked_at is not None for k in run(world.registry.vendor_keys("acme")))


def test_finish_records_what_the_job_verified_revoked_and_archived(world: World) -> None:
    run(world.deprovisioning())
    ctx = run(world.context(operation="deprovision", results={
        "archive_audit": json.dumps(ARCHIVED), "verify": json.dumps({"database": True}),
        "shred": json.dumps({"tenant_age_key": True}), "revoke_keys": "2"}))
    assert run(Finish(world.registry).run(ctx)) == "DEPROVISIONED"
    tenant = run(world.registry.get("acme"))
    assert (tenant.state, tenant.endpoint) == (TenantState.DEPROVISIONED, None)
    event = world.registry.event_log[-1]
    assert (event.action.value, event.actor) == ("mark_deprovisioned", SYSTEM_ACTOR)
    assert event.detail == {
        "verified_gone": {"database": True, "tenant_age_key": True},
        "vendor_keys_revoked": 2, "audit_archive": ARCHIVED, "job_id": ctx.job.job_id}


def test_finish_of_a_waived_archive_records_no_archive(world: World) -> None:
    run(world.deprovisioning())
    ctx = run(world.context(operation="deprovision", results={
        "archive_audit": "nothing to archive (the tenant never had a data plane)"}))
    run(Finish(world.registry).run(ctx))
    assert world.registry.event_log[-1].detail["audit_archive"] is None


# -- the runner: whole jobs -------------------------------------------------------------------
PROVISION_STEPS = ["begin", "secrets", "stop_for_reapply", "apply", "activate"]
DEPROVISION_STEPS = ["archive_audit", "stop", "destroy", "verify", "shred", "revoke_keys",
                     "finish"]


def test_the_plans_name_their_steps_in_order(world: World) -> None:
    plans = world.plans()
    assert [s.name for s in plans[Operation.PROVISION]] == PROVISION_STEPS
    assert [s.name for s in plans[Operation.DEPROVISION]] == DEPROVISION_STEPS


def test_a_provisioning_job_runs_every_step_once(world: World) -> None:
    job = run(world.job(run(world.requested())))
    assert world.queue.deferred == [(job.job_id, "acme")]
    run(world.runner().run(job.job_id))
    assert world.steps_of(job.job_id) == [(name, "done", 1) for name in PROVISION_STEPS]
    assert world.store.jobs[job.job_id].status == "succeeded"
    assert world.registry.actions("acme") == ["request", "begin_provisioning",
                                              "mark_provisioned"]


def test_a_deprovisioning_job_runs_every_step_once(world: World) -> None:
    job = run(world.job(run(world.deprovisioning())))
    assert job.operation == "deprovision"
    run(world.runner().run(job.job_id))
    assert world.steps_of(job.job_id) == [(name, "done", 1) for name in DEPROVISION_STEPS]
    assert run(world.registry.get("acme")).state is TenantState.DEPROVISIONED
    assert not world.secrets.exists("acme") and world.archived == ["acme"]


def test_a_failing_step_fails_the_tenant_with_its_message_and_stops_there(
    world: World,
) -> None:
    run(world.deprovisioning())
    world.provider.left_behind = {"database"}
    job = run(world.job(run(world.registry.get("acme"))))
    run(world.runner().run(job.job_id))
    assert world.steps_of(job.job_id) == [
        ("archive_audit", "done", 1), ("stop", "done", 1), ("destroy", "done", 1),
        ("verify", "failed", 1)]
    assert world.secrets.exists("acme")  # never shredded while anything is left
    record = world.store.jobs[job.job_id]
    assert (record.status, record.error) == ("failed",
                                             "verification found still present: database")
    tenant = run(world.registry.get("acme"))
    assert (tenant.state, tenant.failed_operation) == (TenantState.FAILED, Operation.DEPROVISION)
    event = world.registry.event_log[-1]
    assert (event.action.value, event.actor, event.detail) == ("fail", SYSTEM_ACTOR, {
        "operation": "deprovision", "reason": "verification found still present: database",
        "job_id": job.job_id})


def test_an_error_that_is_not_ours_is_a_step_failure_without_its_text(world: World) -> None:
    class Broken(Apply):
        async def run(self, ctx: StepContext) -> str | None:
            raise RuntimeError("secret detail")

    plans = world.plans()
    plans[Operation.PROVISION] = tuple(Broken() if s.name == "apply" else s
                                       for s in plans[Operation.PROVISION])
    job = run(world.job(run(world.requested())))
    run(world.runner(plans).run(job.job_id))
    reason = "internal error in step apply (see the control-plane log)"
    assert run(world.registry.get("acme")).failure_reason == reason
    assert world.store.jobs[job.job_id].error == reason


def test_a_provider_error_is_the_step_failure(world: World) -> None:
    class Unreachable(Apply):
        async def run(self, ctx: StepContext) -> str | None:
            raise DataPlaneError("the data plane never became healthy")

    plans = world.plans()
    plans[Operation.PROVISION] = tuple(Unreachable() if s.name == "apply" else s
                                       for s in plans[Operation.PROVISION])
    job = run(world.job(run(world.requested())))
    run(world.runner(plans).run(job.job_id))
    assert run(world.registry.get("acme")).failure_reason == \
        "the data plane never became healthy"
    assert world.steps_of(job.job_id)[-1] == ("apply", "failed", 1)


def test_a_job_cancelled_between_steps_rolls_back_what_it_started(world: World) -> None:
    """The admin cancels while ``apply`` runs: the next step boundary stops the job, and the
    data plane that ``apply`` started is stopped again."""
    job = run(world.job(run(world.requested())))

    class CancelledMeanwhile(Apply):
        async def run(self, ctx: StepContext) -> str | None:
            endpoint = await super().run(ctx)
            tenant = await world.registry.get("acme")
            await world.registry.save(tenant, tenant.cancel(actor=ADMIN),
                                      expected_state=TenantState.PROVISIONING)
            await world.runner().cancel_open_job("acme")
            return endpoint

    plans = world.plans()
    plans[Operation.PROVISION] = tuple(CancelledMeanwhile() if s.name == "apply" else s
                                       for s in plans[Operation.PROVISION])
    run(world.runner(plans).run(job.job_id))
    assert world.steps_of(job.job_id) == [(name, "done", 1) for name in PROVISION_STEPS[:4]]
    assert world.store.jobs[job.job_id].status == "cancelled"
    assert run(world.registry.get("acme")).state is TenantState.FAILED
    assert "acme" not in world.provider.running  # rolled back
    assert "mark_provisioned" not in world.registry.actions("acme")


# -- crash and restart at every step ----------------------------------------------------------
class Killed(BaseException):
    """Stands for ``kill -9``: nothing after it runs, the step stays recorded 'running'."""


def _crashing(plan: Sequence[Step], at: str, *, after_effect: bool) -> tuple[Step, ...]:
    class Crash:
        def __init__(self, step: Step) -> None:
            self._step = step
            self.name = step.name

        async def run(self, ctx: StepContext) -> str | None:
            if after_effect:
                await self._step.run(ctx)
            raise Killed

    return tuple(Crash(s) if s.name == at else s for s in plan)


def _crash_then_restart(world: World, operation: Operation, at: str, *,
                        after_effect: bool) -> JobRecord:
    tenant = run(world.registry.get("acme"))
    job = run(world.job(tenant))
    plans: dict[Operation, tuple[Step, ...]] = dict(world.plans())
    plans[operation] = _crashing(plans[operation], at, after_effect=after_effect)
    with pytest.raises(Killed):
        run(world.runner(plans).run(job.job_id))
    assert world.store.jobs[job.job_id].status == "running"  # the queue will hand it back
    run(world.runner().recover())
    assert world.queue.recovered[-1] == [(job.job_id, "acme")]
    run(world.runner().run(job.job_id))  # the next control plane's worker
    return world.store.jobs[job.job_id]


@pytest.mark.parametrize("after_effect", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("at", PROVISION_STEPS)
def test_provisioning_survives_a_crash_at_every_step(at: str, after_effect: bool,
                                                     world: World) -> None:
    run(world.requested())
    job = _crash_then_restart(world, Operation.PROVISION, at, after_effect=after_effect)
    tenant = run(world.registry.get("acme"))
    assert (tenant.state, tenant.endpoint) == (TenantState.ACTIVE,
                                               world.provider.endpoint("acme"))
    assert world.registry.actions("acme") == ["request", "begin_provisioning",
                                              "mark_provisioned"]
    assert world.secrets.writes == 1  # the tenant's credentials were made once
    assert "acme" in world.provider.running
    steps = world.steps_of(job.job_id)
    position = PROVISION_STEPS.index(at)
    assert [s[:2] for s in steps[:position]] == [(n, "done") for n in PROVISION_STEPS[:position]]
    assert all(attempts == 1 for _, _, attempts in steps[:position])  # done: not run again
    assert job.status == "succeeded"
    if at == "activate" and after_effect:
        # the tenant was ACTIVE before the crash: the restarted job sees the step's effect
        # landed, records it done without running it again, and succeeds
        assert steps[position] == (at, "done", 1)
        assert world.registry.actions("acme").count("mark_provisioned") == 1
    else:
        assert steps[position] == (at, "done", 2)


@pytest.mark.parametrize("after_effect", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("at", DEPROVISION_STEPS)
def test_deprovisioning_survives_a_crash_at_every_step(at: str, after_effect: bool,
                                                       world: World) -> None:
    run(world.deprovisioning())
    job = _crash_then_restart(world, Operation.DEPROVISION, at, after_effect=after_effect)
    tenant = run(world.registry.get("acme"))
    assert tenant.state is TenantState.DEPROVISIONED
    assert world.registry.actions("acme").count("mark_deprovisioned") == 1
    assert not world.secrets.exists("acme") and "acme" in world.provider.destroyed
    steps = world.steps_of(job.job_id)
    position = DEPROVISION_STEPS.index(at)
    assert all(attempts == 1 for _, _, attempts in steps[:position])
    assert job.status == "succeeded"
    if at == "finish" and after_effect:  # as for "activate" above
        assert steps[position] == (at, "done", 1)
    else:
        assert steps[position] == (at, "done", 2)
        event = world.registry.event_log[-1]
        assert event.detail["audit_archive"] == ARCHIVED
        assert event.detail["verified_gone"] == {"database": True, "files": True,
                                                 "role": True, "secrets_file": True,
                                                 "tenant_age_key": True}


def test_a_job_that_ended_is_not_run_again(world: World) -> None:
    job = run(world.job(run(world.requested())))
    run(world.runner().run(job.job_id))
    calls = list(world.provider.calls)
    run(world.runner().run(job.job_id))  # a duplicate queue entry
    assert world.provider.calls == calls
    assert world.steps_of(job.job_id) == [(name, "done", 1) for name in PROVISION_STEPS]


def test_an_unconfigured_provider_fails_the_job_before_any_step(world: World) -> None:
    job = run(world.job(run(world.requested())))
    runner = JobRunner(world.registry, world.store, world.queue, {}, world.plans())
    run(runner.run(job.job_id))
    assert world.steps_of(job.job_id) == []
    assert run(world.registry.get("acme")).state is TenantState.REQUESTED  # nothing began
    assert world.store.jobs[job.job_id].error == "provider 'local' is not configured"

