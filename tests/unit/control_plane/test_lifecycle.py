"""The tenant lifecycle table (SPEC §3), checked over every (state, action) pair."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from control_plane.domain.lifecycle import (
    TRANSITIONS,
    Action,
    Operation,
    Tenant,
    TenantEvent,
    TenantState,
    find_transition,
)
from control_plane.errors import InvalidSlug, InvalidTransition

S = TenantState
T0 = datetime(2025, 1, 1, tzinfo=UTC)

# (from, action, failed operation in FAILED) → (to, transition number)
ALLOWED: dict[tuple[TenantState, Action, Operation | None], tuple[TenantState, int]] = {
    (S.REQUESTED, Action.BEGIN_PROVISIONING, None): (S.PROVISIONING, 2),
    (S.PROVISIONING, Action.MARK_PROVISIONED, None): (S.ACTIVE, 3),
    (S.PROVISIONING, Action.FAIL, None): (S.FAILED, 4),
    (S.PROVISIONING, Action.CANCEL, None): (S.FAILED, 4),
    (S.FAILED, Action.RETRY, Operation.PROVISION): (S.PROVISIONING, 5),
    (S.ACTIVE, Action.REAPPLY_CONFIG, None): (S.PROVISIONING, 6),
    (S.ACTIVE, Action.SUSPEND, None): (S.SUSPENDED, 7),
    (S.SUSPENDED, Action.RESUME, None): (S.ACTIVE, 8),
    (S.ACTIVE, Action.DEPROVISION, None): (S.DEPROVISIONING, 9),
    (S.SUSPENDED, Action.DEPROVISION, None): (S.DEPROVISIONING, 10),
    (S.FAILED, Action.DEPROVISION, Operation.PROVISION): (S.DEPROVISIONING, 11),
    (S.FAILED, Action.DEPROVISION, Operation.DEPROVISION): (S.DEPROVISIONING, 11),
    (S.FAILED, Action.RETRY, Operation.DEPROVISION): (S.DEPROVISIONING, 11),
    (S.DEPROVISIONING, Action.MARK_DEPROVISIONED, None): (S.DEPROVISIONED, 12),
    (S.DEPROVISIONING, Action.FAIL, None): (S.FAILED, 13),
    (S.DEPROVISIONING, Action.CANCEL, None): (S.FAILED, 13),
}

_RUNNING = {S.PROVISIONING: Operation.PROVISION, S.DEPROVISIONING: Operation.DEPROVISION}

CALLS: dict[Action, Callable[[Tenant], TenantEvent]] = {
    Action.BEGIN_PROVISIONING: lambda t: t.begin_provisioning(actor="x", at=T0),
    Action.MARK_PROVISIONED: lambda t: t.mark_provisioned("http://127.0.0.1:8101", actor="x",
                                                          at=T0),
    Action.FAIL: lambda t: t.fail(_RUNNING.get(t.state, Operation.PROVISION), "boom",
                                  actor="x", at=T0),
    Action.CANCEL: lambda t: t.cancel(actor="x", at=T0),
    Action.RETRY: lambda t: t.retry(actor="x", at=T0),
    Action.REAPPLY_CONFIG: lambda t: t.reapply_config(actor="x", at=T0),
    Action.SUSPEND: lambda t: t.suspend(actor="x", at=T0),
    Action.RESUME: lambda t: t.resume(actor="x", at=T0),
    Action.DEPROVISION: lambda t: t.deprovision(actor="x", at=T0),
    Action.MARK_DEPROVISIONED: lambda t: t.mark_deprovisioned(actor="x", at=T0),
}


def tenant_in(state: TenantState, failed: Operation | None = None) -> Tenant:
    return Tenant(
        slug="acme", display_name="Acme", provider="local", state=state, config={},
        created_at=T0, updated_at=T0,
        endpoint="http://127.0.0.1:8101" if state in (S.ACTIVE, S.SUSPENDED) else None,
        failed_operation=failed, failure_reason="earlier" if failed else None,
    )


def _cases() -> list[tuple[TenantState, Action, Operation | None]]:
    cases = []
    for state in TenantState:
        for action in CALLS:
            failed_ops: list[Operation | None] = (
                [Operation.PROVISION, Operation.DEPROVISION] if state is S.FAILED else [None]
            )
            cases += [(state, action, op) for op in failed_ops]
    return cases


@pytest.mark.parametrize(("state", "action", "failed"), _cases())
def test_every_state_action_pair(
    state: TenantState, action: Action, failed: Operation | None
) -> None:
    tenant = tenant_in(state, failed)
    expected = ALLOWED.get((state, action, failed))
    if expected is None:
        with pytest.raises(InvalidTransition) as caught:
            CALLS[action](tenant)
        assert caught.value.code == "INVALID_TRANSITION"
        assert caught.value.status_code == 409
        assert tenant.state is state  # unchanged
        return
    to_state, number = expected
    event = CALLS[action](tenant)
    assert tenant.state is to_state
    assert event.from_state is state
    assert event.to_state is to_state
    assert event.transition == number
    assert event.action is action
    assert event.actor == "x"


def test_table_has_exactly_the_13_transitions() -> None:
    assert {row.number for row in TRANSITIONS} == set(range(1, 14))
    assert len(TenantState) == 7


def test_request_creates_a_requested_tenant_and_only_from_nothing() -> None:
    tenant, event = Tenant.request("acme", "Acme", "local", {"ocr": {"languages": ["deu"]}},
                                   actor="admin", at=T0)
    assert tenant.state is S.REQUESTED
    assert (event.from_state, event.to_state, event.transition) == (None, S.REQUESTED, 1)
    assert tenant.config == {"ocr": {"languages": ["deu"]}}
    for state in TenantState:
        with pytest.raises(InvalidTransition):
            find_transition(Action.REQUEST, state)


def test_fail_records_the_operation_and_retry_resumes_it() -> None:
    tenant = tenant_in(S.PROVISIONING)
    tenant.fail(Operation.PROVISION, "disk full", actor="cp")
    assert (tenant.failed_operation, tenant.failure_reason) == (Operation.PROVISION, "disk full")
    assert tenant.endpoint is None
    event = tenant.retry(actor="admin")
    assert (event.transition, tenant.state) == (5, S.PROVISIONING)
    assert tenant.failed_operation is None and tenant.failure_reason is None

    tenant = tenant_in(S.DEPROVISIONING)
    tenant.fail(Operation.DEPROVISION, "volume busy", actor="cp")
    event = tenant.retry(actor="admin")
    assert (event.transition, tenant.state) == (11, S.DEPROVISIONING)


def test_fail_with_the_wrong_operation_is_refused() -> None:
    tenant = tenant_in(S.PROVISIONING)
    with pytest.raises(InvalidTransition):
        tenant.fail(Operation.DEPROVISION, "nope", actor="cp")
    assert tenant.state is S.PROVISIONING


def test_cancel_lands_in_failed_with_the_running_operation() -> None:
    tenant = tenant_in(S.DEPROVISIONING)
    event = tenant.cancel(actor="admin")
    assert tenant.state is S.FAILED and tenant.failed_operation is Operation.DEPROVISION
    assert event.detail["operation"] == "deprovision"


def test_endpoint_set_when_provisioned_and_cleared_when_deprovisioned() -> None:
    tenant = tenant_in(S.PROVISIONING)
    tenant.mark_provisioned("http://127.0.0.1:8123", actor="cp")
    assert tenant.endpoint == "http://127.0.0.1:8123"
    tenant.deprovision(actor="admin")
    tenant.mark_deprovisioned(actor="cp")
    assert tenant.endpoint is None


def test_request_refuses_a_bad_slug() -> None:
    with pytest.raises(InvalidSlug):
        Tenant.request("Bad_Slug", "x", "local", actor="admin")
