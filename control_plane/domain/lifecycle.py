"""The tenant lifecycle (SPEC §3): 7 states, 13 transitions — pure domain code, no I/O.

The :class:`Tenant` aggregate checks an action against :data:`TRANSITIONS`, moves to the new
state and returns the :class:`TenantEvent` that records it; anything the table does not allow
raises :class:`~control_plane.errors.InvalidTransition`. The service persists the tenant and
the event together and runs the jobs that trigger the next action.

    (none) ─1▶ REQUESTED ─2▶ PROVISIONING ─3▶ ACTIVE ─7▶ SUSPENDED ─8▶ ACTIVE
    PROVISIONING ─4▶ FAILED ─5▶ PROVISIONING        ACTIVE ─6▶ PROVISIONING
    ACTIVE | SUSPENDED | FAILED ─9|10|11▶ DEPROVISIONING ─12▶ DEPROVISIONED
    DEPROVISIONING ─13▶ FAILED         (retry of a failed teardown is 11)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from control_plane.domain.health import TenantHealth
from control_plane.errors import InvalidTransition
from frostbyte_common.slugs import validate_slug


class TenantState(StrEnum):
    REQUESTED = "REQUESTED"
    PROVISIONING = "PROVISIONING"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    DEPROVISIONING = "DEPROVISIONING"
    DEPROVISIONED = "DEPROVISIONED"
    FAILED = "FAILED"


class Operation(StrEnum):
    """The long-running operation a FAILED tenant failed in; ``retry`` resumes it."""

    PROVISION = "provision"
    DEPROVISION = "deprovision"


class Action(StrEnum):
    REQUEST = "request"
    BEGIN_PROVISIONING = "begin_provisioning"
    MARK_PROVISIONED = "mark_provisioned"
    FAIL = "fail"
    CANCEL = "cancel"
    RETRY = "retry"
    REAPPLY_CONFIG = "reapply_config"
    UPDATE = "update"  # transition 6 for a version change
    ROLL_BACK_UPDATE = "roll_back_update"  # transition 3 on the previous version
    SUSPEND = "suspend"
    RESUME = "resume"
    DEPROVISION = "deprovision"
    MARK_DEPROVISIONED = "mark_deprovisioned"
    # events that move no state (transition 0, see Tenant.observe): what the health poller
    # and the drift check noticed (control_plane.domain.health)
    HEALTH_FAILED = "health_failed"
    HEALTH_RECOVERED = "health_recovered"
    HEALTH_REPAIRED = "health_repaired"
    HEALTH_REPAIR_FAILED = "health_repair_failed"
    INFRA_DRIFT = "infra_drift"
    # ... and what was done to the tenant's backups (control_plane.services.backups)
    BACKUP_CREATED = "backup_created"
    BACKUP_DELETED = "backup_deleted"
    BACKUPS_PURGED = "backups_purged"


#: the actions :meth:`Tenant.observe` records; no row of :data:`TRANSITIONS` has them
OBSERVATIONS = frozenset({Action.HEALTH_FAILED, Action.HEALTH_RECOVERED, Action.HEALTH_REPAIRED,
                          Action.HEALTH_REPAIR_FAILED, Action.INFRA_DRIFT,
                          Action.BACKUP_CREATED, Action.BACKUP_DELETED, Action.BACKUPS_PURGED})


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the lifecycle table. ``when_failed`` guards rows that depend on which
    operation failed (retry resumes the failed operation)."""

    number: int
    action: Action
    source: TenantState | None
    target: TenantState
    when_failed: Operation | None = None


S = TenantState
TRANSITIONS: tuple[Transition, ...] = (
    Transition(1, Action.REQUEST, None, S.REQUESTED),
    Transition(2, Action.BEGIN_PROVISIONING, S.REQUESTED, S.PROVISIONING),
    Transition(3, Action.MARK_PROVISIONED, S.PROVISIONING, S.ACTIVE),
    Transition(4, Action.FAIL, S.PROVISIONING, S.FAILED),
    Transition(4, Action.CANCEL, S.PROVISIONING, S.FAILED),
    Transition(5, Action.RETRY, S.FAILED, S.PROVISIONING, when_failed=Operation.PROVISION),
    Transition(6, Action.REAPPLY_CONFIG, S.ACTIVE, S.PROVISIONING),
    Transition(6, Action.UPDATE, S.ACTIVE, S.PROVISIONING),
    Transition(3, Action.ROLL_BACK_UPDATE, S.PROVISIONING, S.ACTIVE),
    Transition(7, Action.SUSPEND, S.ACTIVE, S.SUSPENDED),
    Transition(8, Action.RESUME, S.SUSPENDED, S.ACTIVE),
    Transition(9, Action.DEPROVISION, S.ACTIVE, S.DEPROVISIONING),
    Transition(10, Action.DEPROVISION, S.SUSPENDED, S.DEPROVISIONING),
    Transition(11, Action.DEPROVISION, S.FAILED, S.DEPROVISIONING),
    Transition(11, Action.RETRY, S.FAILED, S.DEPROVISIONING, when_failed=Operation.DEPROVISION),
    Transition(12, Action.MARK_DEPROVISIONED, S.DEPROVISIONING, S.DEPROVISIONED),
    Transition(13, Action.FAIL, S.DEPROVISIONING, S.FAILED),
    Transition(13, Action.CANCEL, S.DEPROVISIONING, S.FAILED),
)

# The operation a job in this state is running; a failure there records it.
_RUNNING_OPERATION: dict[TenantState, Operation] = {
    S.PROVISIONING: Operation.PROVISION,
    S.DEPROVISIONING: Operation.DEPROVISION,
}


def find_transition(
    action: Action, source: TenantState | None, failed_operation: Operation | None = None
) -> Transition:
    """The table row for ``action`` from ``source``, or :class:`InvalidTransition`."""
    for row in TRANSITIONS:
        if row.action is action and row.source == source and (
            row.when_failed is None or row.when_failed == failed_operation
        ):
            return row
    where = source.value if source else "(none)"
    raise InvalidTransition(f"cannot {action.value.replace('_', ' ')} a tenant in state {where}")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TenantEvent:
    """A lifecycle transition as it is recorded in the tenant's history."""

    slug: str
    transition: int
    action: Action
    from_state: TenantState | None
    to_state: TenantState
    actor: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Tenant:
    """The tenant aggregate. Create with :meth:`request`; every other change goes through a
    lifecycle method that validates it and returns the event."""

    slug: str
    display_name: str
    provider: str
    state: TenantState
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    endpoint: str | None = None
    tls_fingerprint: str | None = None  # of the certificate the endpoint presents
    health: TenantHealth | None = None  # its data plane's last health poll (None: not polled)
    # the Ed25519 public key (raw, base64) its audit checkpoints are signed with, recorded at
    # provisioning and kept for good: the archived audit export is verified against it
    audit_public_key: str | None = None
    failed_operation: Operation | None = None
    failure_reason: str | None = None
    # the data-plane release it runs (control_plane.domain.releases); None until its first
    # provisioning records one
    version: str | None = None

    # -- creation ----------------------------------------------------------------------------
    @classmethod
    def request(
        cls,
        slug: str,
        display_name: str,
        provider: str,
        config: dict[str, Any] | None = None,
        *,
        actor: str,
        at: datetime | None = None,
    ) -> tuple[Tenant, TenantEvent]:
        """Transition 1: an admin creates the tenant."""
        validate_slug(slug)
        at = at or _now()
        row = find_transition(Action.REQUEST, None)
        tenant = cls(
            slug=slug,
            display_name=display_name,
            provider=provider,
            state=row.target,
            config=dict(config or {}),
            created_at=at,
            updated_at=at,
        )
        event = TenantEvent(
            slug=slug,
            transition=row.number,
            action=row.action,
            from_state=None,
            to_state=row.target,
            actor=actor,
            at=at,
            detail={"provider": provider},
        )
        return tenant, event

    # -- transitions ------------------------------------------------------------------------
    def _apply(
        self,
        action: Action,
        *,
        actor: str,
        at: datetime | None,
        detail: dict[str, Any] | None = None,
    ) -> TenantEvent:
        row = find_transition(action, self.state, self.failed_operation)
        at = at or _now()
        event = TenantEvent(
            slug=self.slug,
            transition=row.number,
            action=action,
            from_state=self.state,
            to_state=row.target,
            actor=actor,
            at=at,
            detail=dict(detail or {}),
        )
        self.state = row.target
        self.updated_at = at
        if row.source is S.FAILED:
            self.failed_operation = None
            self.failure_reason = None
        return event

    def begin_provisioning(self, *, actor: str, at: datetime | None = None) -> TenantEvent:
        """Transition 2: the provisioning job starts."""
        return self._apply(Action.BEGIN_PROVISIONING, actor=actor, at=at)

    def mark_provisioned(
        self, endpoint: str, *, actor: str, at: datetime | None = None,
        tls_fingerprint: str | None = None, audit_key: tuple[str, str] | None = None,
    ) -> TenantEvent:
        """Transition 3: the data plane is deployed and healthy at ``endpoint``, presenting
        the certificate whose fingerprint is ``tls_fingerprint`` (None: no TLS) and signing
        its audit checkpoints with ``audit_key`` (key id, public key; None: not read, the
        recorded one is kept)."""
        detail = {"endpoint": endpoint}
        if tls_fingerprint is not None:
            detail["tls_fingerprint"] = tls_fingerprint
        if audit_key is not None:
            detail["audit_key_id"] = audit_key[0]
        event = self._apply(Action.MARK_PROVISIONED, actor=actor, at=at, detail=detail)
        self.endpoint = endpoint
        self.tls_fingerprint = tls_fingerprint
        if audit_key is not None:
            self.audit_public_key = audit_key[1]
        return event

    def fail(
        self, operation: Operation, reason: str, *, actor: str, at: datetime | None = None
    ) -> TenantEvent:
        """Transitions 4 and 13: a step of the running ``operation`` failed."""
        self._check_running(Action.FAIL, operation)
        return self._to_failed(Action.FAIL, operation, reason, actor=actor, at=at)

    def cancel(
        self, reason: str = "cancelled by admin", *, actor: str, at: datetime | None = None
    ) -> TenantEvent:
        """Transitions 4 and 13: an admin cancels the running job; the tenant lands in FAILED."""
        operation = _RUNNING_OPERATION.get(self.state)
        if operation is None:
            find_transition(Action.CANCEL, self.state)  # raises InvalidTransition
            raise AssertionError("unreachable")  # pragma: no cover
        return self._to_failed(Action.CANCEL, operation, reason, actor=actor, at=at)

    def retry(self, *, actor: str, at: datetime | None = None) -> TenantEvent:
        """Transition 5 (failed provisioning) or 11 (failed teardown): resume what failed."""
        return self._apply(Action.RETRY, actor=actor, at=at)

    def reapply_config(self, *, actor: str, at: datetime | None = None) -> TenantEvent:
        """Transition 6: a config or version change is re-applied to an ACTIVE tenant."""
        return self._apply(Action.REAPPLY_CONFIG, actor=actor, at=at)

    def begin_update(self, from_version: str, to_version: str, *, actor: str,
                     at: datetime | None = None) -> TenantEvent:
        """Transition 6 for a version change: the update job moves the data plane from
        ``from_version`` to ``to_version``; the tenant keeps recording ``from_version``
        until the new one is up."""
        return self._apply(Action.UPDATE, actor=actor, at=at,
                           detail={"from_version": from_version, "to_version": to_version})

    def finish_update(self, endpoint: str, from_version: str, to_version: str, *,
                      actor: str, at: datetime | None = None) -> TenantEvent:
        """Transition 3 after an update: the data plane runs ``to_version`` at ``endpoint``."""
        event = self._apply(Action.MARK_PROVISIONED, actor=actor, at=at, detail={
            "endpoint": endpoint, "version": to_version,
            "update": {"from_version": from_version, "to_version": to_version}})
        self.endpoint = endpoint
        self.version = to_version
        return event

    def roll_back_update(self, endpoint: str, from_version: str, to_version: str,
                         reason: str, *, actor: str, at: datetime | None = None) -> TenantEvent:
        """Transition 3 on the previous release: ``to_version`` failed (``reason``), the data
        plane runs ``from_version`` again at ``endpoint``."""
        event = self._apply(Action.ROLL_BACK_UPDATE, actor=actor, at=at, detail={
            "outcome": "update failed, rolled back", "reason": reason, "endpoint": endpoint,
            "version": from_version, "from_version": from_version, "to_version": to_version})
        self.endpoint = endpoint
        self.version = from_version
        return event

    def suspend(self, *, actor: str, at: datetime | None = None) -> TenantEvent:
        """Transition 7: vendor endpoint closed, data kept."""
        return self._apply(Action.SUSPEND, actor=actor, at=at)

    def resume(self, *, actor: str, at: datetime | None = None) -> TenantEvent:
        """Transition 8."""
        return self._apply(Action.RESUME, actor=actor, at=at)

    def deprovision(self, *, actor: str, at: datetime | None = None) -> TenantEvent:
        """Transitions 9, 10, 11: an admin deprovisions (or cleans up a failed tenant)."""
        return self._apply(Action.DEPROVISION, actor=actor, at=at)

    def mark_deprovisioned(self, *, actor: str, at: datetime | None = None) -> TenantEvent:
        """Transition 12: resources destroyed and verified. The slug stays taken."""
        event = self._apply(Action.MARK_DEPROVISIONED, actor=actor, at=at)
        self.endpoint = None
        self.tls_fingerprint = None
        return event

    def observe(self, action: Action, detail: dict[str, Any], *, actor: str,
                at: datetime | None = None) -> TenantEvent:
        """An event of the tenant's chain that moves no state (transition 0, from and to its
        current state): one of :data:`OBSERVATIONS` — a health poll's notice, a restart by
        the poller, a drift found in its infrastructure."""
        if action not in OBSERVATIONS:
            raise InvalidTransition(f"{action.value} is a transition, not an observation")
        return TenantEvent(slug=self.slug, transition=0, action=action, from_state=self.state,
                           to_state=self.state, actor=actor, at=at or _now(),
                           detail=dict(detail))

    # -- helpers ----------------------------------------------------------------------------
    def _check_running(self, action: Action, operation: Operation) -> None:
        running = _RUNNING_OPERATION.get(self.state)
        if running is None:
            find_transition(action, self.state)  # raises InvalidTransition
        elif running is not operation:
            raise InvalidTransition(
                f"cannot fail operation {operation.value!r}: the tenant is {self.state.value}"
            )

    def _to_failed(
        self,
        action: Action,
        operation: Operation,
        reason: str,
        *,
        actor: str,
        at: datetime | None,
    ) -> TenantEvent:
        event = self._apply(
            action, actor=actor, at=at, detail={"operation": operation.value, "reason": reason}
        )
        self.failed_operation = operation
        self.failure_reason = reason
        if operation is Operation.PROVISION:
            self.endpoint = None
            self.tls_fingerprint = None
        return event
