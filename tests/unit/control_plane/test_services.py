"""The control plane's services, wired by the composition root over in-memory ports and a
fake data plane's control routes: what an admin sees of create, suspend/resume, deprovision,
vendor keys, rotation, quarantine and the recovery at start-up."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from control_plane.adapters.certificate_authority import FileCertificateAuthority
from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.lifecycle import Operation, Tenant, TenantState
from control_plane.domain.ports import (
    AuditArchive,
    ControlKeyRefused,
    DataPlaneClient,
    QuarantineAction,
)
from control_plane.domain.tenant_secrets import (
    CONTROL_KEY,
    ROTATED_NAMES,
    SECRET_NAMES,
    SIGNING_KEY,
)
from control_plane.errors import (
    ConcurrentUpdate,
    InvalidConfig,
    InvalidTransition,
    ProviderNotAvailable,
    TenantNotActive,
)
from control_plane.services.provisioning_steps import AUDIT_ARCHIVE_WAIVER
from control_plane.wiring import ControlPlane, build_control_plane
from frostbyte_common.audit_checkpoint import key_id_of as audit_key_id_of
from frostbyte_common.audit_checkpoint import public_key_text
from frostbyte_common.errors import ValidationFailed
from frostbyte_common.vendor_keys import CONTROL_SCOPE, hash_key, key_id_of
from tests.unit.control_plane.doubles import (
    InMemoryAdminTokens,
    InMemoryJobStore,
    InMemoryRegistry,
    InMemorySecrets,
    RecordingProvider,
    RecordingQueue,
    run,
)

ADMIN = "admin"


class FakeDataPlanes:
    """The tenants' control routes: they accept only the control key whose hash the provider
    installed, and record who asked for what. Each signs its audit checkpoints with a key of
    its own (``audit_keys``, by base URL); ``rotations`` holds the rotations recorded."""

    def __init__(self, provider: Any) -> None:
        self.installed: dict[str, str] = {}  # key id -> sha256, scope control only
        self.suspended: set[str] = set()
        self.calls: list[tuple[str, str, str]] = []  # (base url, actor, call)
        self.audit_keys: dict[str, Ed25519PrivateKey] = {}
        self.rotations: list[tuple[str, str, dict[str, Any]]] = []
        provider_install = provider.install_vendor_key

        def install(tenant: Tenant, key_id: str, sha256: str, scopes: Any,
                    label: str | None) -> None:
            provider_install(tenant, key_id, sha256, scopes, label)
            if tuple(scopes) == (CONTROL_SCOPE,):
                self.installed[key_id] = sha256

        provider.install_vendor_key = install  # type: ignore[method-assign]

    def __call__(self, base_url: str, control_key: str, *, actor: str) -> DataPlaneClient:
        planes = self

        class Client:
            def _check(self, call: str) -> None:
                key_id = key_id_of(control_key)
                if key_id is None or planes.installed.get(key_id) != hash_key(control_key):
                    raise ControlKeyRefused("the data plane refused the control key")
                planes.calls.append((base_url, actor, call))

            async def set_suspended(self, suspended: bool) -> dict[str, Any]:
                self._check(f"suspend={suspended}")
                (planes.suspended.add if suspended else planes.suspended.discard)(base_url)
                return {"suspended": suspended}

            async def quarantine(self, *, limit: int, offset: int) -> dict[str, Any]:
                self._check("quarantine")
                return {"documents": [], "limit": limit, "offset": offset}

            async def quarantine_action(self, document_id: uuid.UUID,
                                        action: QuarantineAction) -> dict[str, Any]:
                self._check(action)
                return {"document_id": str(document_id), "status": action}

            async def audit_export(self) -> bytes:
                self._check("audit_export")
                return b"export"

            async def audit_key(self) -> dict[str, str]:
                self._check("audit_key")
                public = public_key_text(planes.audit_key(base_url))
                return {"key_id": audit_key_id_of(public), "public_key": public}

            async def record_rotation(self, rotation: dict[str, Any]) -> dict[str, Any]:
                self._check("record_rotation")
                planes.rotations.append((base_url, actor, rotation))
                key_id = audit_key_id_of(public_key_text(planes.audit_key(base_url)))
                return {"seq": len(planes.rotations), "event_type": "secrets.rotated",
                        "payload": {**rotation, "audit_key_id": key_id}}

            async def record_restored(self, restore: dict[str, Any]) -> dict[str, Any]:
                self._check("record_restored")
                return {"event_type": "tenant.restored", "payload": restore}

            async def consistency(self, *, repair: bool, first: int) -> dict[str, Any]:
                self._check(f"consistency repair={repair} first={first}")
                return {"clean": True, "repair": repair, "kinds": [], "audit_seq": None}

        return Client()

    def audit_key(self, base_url: str) -> Ed25519PrivateKey:
        return self.audit_keys.setdefault(base_url, Ed25519PrivateKey.generate())


class Archive:
    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}
        self.trusted: dict[str, str] = {}

    def store(self, slug: str, data: bytes, *, trusted_public_key: str,
              audit_chain: str | None = None) -> AuditArchive:
        self.kept[slug] = data
        self.trusted[slug] = trusted_public_key
        return AuditArchive(Path(f"/archive/{slug}.jsonl"), "ab" * 32, 1)


class Plane:
    def __init__(self, state: Path) -> None:
        self.registry = InMemoryRegistry()
        self.store = InMemoryJobStore()
        self.queue = RecordingQueue()
        self.secrets = InMemorySecrets()
        self.provider = RecordingProvider()
        self.data_planes = FakeDataPlanes(self.provider)
        self.archive = Archive()
        self.services: ControlPlane = build_control_plane(
            registry=self.registry, admin_token_store=InMemoryAdminTokens(),
            job_store=self.store, queue=self.queue, providers={"local": self.provider},
            secrets=self.secrets, clients=self.data_planes, archive=self.archive,
            certificates=FileCertificateAuthority(state / "ca"))

    async def run_queued(self) -> None:
        """What the queue's worker does: run every deferred job."""
        while self.queue.deferred:
            job_id, _ = self.queue.deferred.pop(0)
            await self.services.runner.run(job_id)

    async def active(self, slug: str = "acme") -> Tenant:
        await self.services.lifecycle.create(slug, slug.title(), "local", None, actor=ADMIN)
        await self.run_queued()
        tenant = await self.registry.get(slug)
        assert tenant.state is TenantState.ACTIVE
        return tenant


@pytest.fixture
def plane(tmp_path: Path) -> Plane:
    return Plane(tmp_path)


# -- lifecycle ----------------------------------------------------------------------------------
def test_create_records_the_request_and_queues_provisioning(plane: Plane) -> None:
    tenant = run(plane.services.lifecycle.create("acme", "Acme", "local",
                                                 {"chunking": {"max_tokens": 512}}, actor=ADMIN))
    assert tenant.state is TenantState.REQUESTED
    [job] = plane.store.jobs.values()
    assert (job.operation, job.actor, plane.queue.deferred) == (
        "provision", ADMIN, [(job.job_id, "acme")])
    run(plane.run_queued())
    assert run(plane.registry.get("acme")).state is TenantState.ACTIVE
    assert plane.registry.event_log[0].actor == ADMIN


def test_create_refuses_an_unknown_provider_and_a_bad_config(plane: Plane) -> None:
    with pytest.raises(ProviderNotAvailable, match=r"available: local"):
        run(plane.services.lifecycle.create("acme", "Acme", "hetzner", None, actor=ADMIN))
    with pytest.raises(InvalidConfig, match=r"invalid config: chunking.max_tokens"):
        run(plane.services.lifecycle.create("acme", "Acme", "local",
                                            {"chunking": {"max_tokens": 1}}, actor=ADMIN))
    assert plane.registry.tenants == {} and plane.store.jobs == {}


def test_suspend_and_resume_go_through_the_control_routes_as_the_admin(plane: Plane) -> None:
    tenant = run(plane.active())
    assert tenant.endpoint is not None
    run(plane.services.lifecycle.suspend("acme", actor=ADMIN))
    assert plane.data_planes.suspended == {tenant.endpoint}
    assert plane.data_planes.calls[-1] == (tenant.endpoint, ADMIN, "suspend=True")
    event = plane.registry.event_log[-1]
    assert (event.action.value, event.actor, event.detail["vendor_endpoint"]) == (
        "suspend", ADMIN, "refusing: 403 TENANT_SUSPENDED")

    resumed = run(plane.services.lifecycle.resume("acme", actor=ADMIN))
    assert resumed.state is TenantState.ACTIVE and plane.data_planes.suspended == set()
    with pytest.raises(InvalidTransition):
        run(plane.services.lifecycle.resume("acme", actor=ADMIN))


def test_a_control_key_the_data_plane_lost_is_installed_again_once(plane: Plane) -> None:
    run(plane.active())
    plane.data_planes.installed.clear()  # the data plane was rebuilt
    run(plane.services.lifecycle.suspend("acme", actor=ADMIN))
    key = plane.secrets.get("acme")[CONTROL_KEY]
    assert plane.data_planes.installed == {key_id_of(key): hash_key(key)}


def test_deprovision_stops_now_records_the_waiver_and_the_job_archives_first(
    plane: Plane,
) -> None:
    tenant = run(plane.active())
    run(plane.services.lifecycle.deprovision("acme", actor=ADMIN,
                                             waive_audit_archive="server gone"))
    assert tenant.endpoint in plane.data_planes.suspended  # vendors refused at once
    assert "acme" not in plane.provider.running
    event = plane.registry.event_log[-1]
    assert event.detail[AUDIT_ARCHIVE_WAIVER] == {"by": ADMIN, "reason": "server gone"}
    run(plane.run_queued())
    assert run(plane.registry.get("acme")).state is TenantState.DEPROVISIONED
    assert plane.archive.kept == {"acme": b"export"}  # archived although waived: it worked
    assert (tenant.endpoint, SYSTEM_ACTOR, "audit_export") in plane.data_planes.calls


def test_cancel_stops_the_open_job(plane: Plane) -> None:
    run(plane.services.lifecycle.create("acme", "Acme", "local", None, actor=ADMIN))
    tenant = run(plane.registry.get("acme"))
    run(plane.registry.save(tenant, tenant.begin_provisioning(actor=SYSTEM_ACTOR),
                            expected_state=TenantState.REQUESTED))
    failed = run(plane.services.lifecycle.cancel("acme", actor=ADMIN))
    assert (failed.state, failed.failed_operation) == (TenantState.FAILED, Operation.PROVISION)
    [job] = plane.store.jobs.values()
    assert (job.status, job.error) == ("cancelled", "cancelled by admin")
    run(plane.run_queued())  # the worker picks it up: nothing runs
    assert plane.provider.count("provision") == 0


def test_a_config_patch_of_an_active_tenant_is_reapplied(plane: Plane) -> None:
    run(plane.active())
    patched = run(plane.services.lifecycle.patch_config(
        "acme", {"chunking": {"max_tokens": 300}}, actor=ADMIN))
    assert patched.state is TenantState.PROVISIONING
    run(plane.run_queued())
    assert run(plane.registry.get("acme")).state is TenantState.ACTIVE
    assert plane.provider.configs[-1].chunking.max_tokens == 300
    assert plane.provider.count("stop") == 1  # stop_for_reapply
    with pytest.raises(InvalidConfig):
        run(plane.services.lifecycle.patch_config("acme", [1], actor=ADMIN))


# -- vendor keys and rotation -----------------------------------------------------------------
def test_vendor_keys_are_issued_only_for_active_tenants_and_revoked(plane: Plane) -> None:
    with pytest.raises(ValidationFailed, match="scopes must be"):
        run(plane.services.vendor_keys.issue("acme", ["root"], None, actor=ADMIN))
    run(plane.services.lifecycle.create("acme", "Acme", "local", None, actor=ADMIN))
    with pytest.raises(TenantNotActive):
        run(plane.services.vendor_keys.issue("acme", ["ingest"], None, actor=ADMIN))
    run(plane.run_queued())
    issued = run(plane.services.vendor_keys.issue("acme", ["ingest", "read", "ingest"],
                                                  "crm", actor=ADMIN))
    assert issued.scopes == ("ingest", "read") and issued.key.startswith("fb")
    [record] = run(plane.services.vendor_keys.list_keys("acme"))
    assert (record.key_id, record.sha256) == (issued.key_id, hash_key(issued.key))
    revoked = run(plane.services.vendor_keys.revoke("acme", issued.key_id, actor=ADMIN))
    assert revoked.revoked_at is not None
    assert plane.provider.count("revoke_vendor_key") == 1


def test_rotation_reissues_every_credential_and_records_a_job(plane: Plane) -> None:
    tenant = run(plane.active())
    # the endpoint's certificate fingerprint was recorded at provisioning ...
    assert tenant.tls_fingerprint == plane.provider.tls_fingerprint(tenant)
    assert tenant.tls_fingerprint is not None
    before = plane.secrets.get("acme")
    old = run(plane.services.vendor_keys.issue("acme", ["read"], "bi", actor=ADMIN))
    job_id, [new] = run(plane.services.rotation.rotate("acme", actor=ADMIN))
    after = plane.secrets.get("acme")
    assert set(after) == set(SECRET_NAMES)
    assert all(after[name] != before[name] for name in ROTATED_NAMES)
    assert after[SIGNING_KEY] == before[SIGNING_KEY]  # checkpoints signed before stay valid
    assert (new.scopes, new.label) == (("read",), "bi") and new.key_id != old.key_id
    keys = {k.key_id: k for k in run(plane.services.vendor_keys.list_keys("acme"))}
    assert keys[old.key_id].revoked_at is not None and keys[new.key_id].revoked_at is None
    assert plane.store.jobs[job_id].status == "succeeded"
    assert [(s.step, s.status) for s in run(plane.store.steps(job_id))] == [
        ("secrets", "done"), ("vendor_keys", "done"), ("audit", "done")]
    assert run(plane.registry.get("acme")).state is TenantState.ACTIVE  # no state change
    # ... and the rotation's new certificate replaced it in the record
    rotated = run(plane.registry.get("acme"))
    assert rotated.tls_fingerprint not in (None, tenant.tls_fingerprint)
    assert rotated.tls_fingerprint == plane.provider.tls_fingerprint(rotated)


def test_the_audit_key_is_recorded_at_provisioning_and_the_archive_trusts_it(
    plane: Plane,
) -> None:
    tenant = run(plane.active())
    assert tenant.endpoint is not None
    expected = public_key_text(plane.data_planes.audit_key(tenant.endpoint))
    assert tenant.audit_public_key == expected
    activated = plane.registry.event_log[-1]
    assert activated.detail["audit_key_id"] == audit_key_id_of(expected)
    # a re-apply finds the same key and keeps it
    run(plane.services.lifecycle.patch_config("acme", {}, actor=ADMIN))
    run(plane.run_queued())
    assert run(plane.registry.get("acme")).audit_public_key == expected
    # the deprovision verifies the export against the recorded key, not the export's own
    run(plane.services.lifecycle.deprovision("acme", actor=ADMIN))
    run(plane.run_queued())
    assert plane.archive.trusted == {"acme": expected}
    finished = plane.registry.event_log[-1]
    assert finished.detail["audit_archive"]["audit_key_id"] == audit_key_id_of(expected)
    assert finished.detail["audit_archive"]["audit_key"] == "recorded at provisioning"
    assert run(plane.registry.get("acme")).audit_public_key == expected  # kept for good


def test_a_data_plane_signing_with_another_key_fails_the_reapply(plane: Plane) -> None:
    tenant = run(plane.active())
    assert tenant.endpoint is not None
    plane.data_planes.audit_keys[tenant.endpoint] = Ed25519PrivateKey.generate()
    run(plane.services.lifecycle.patch_config("acme", {}, actor=ADMIN))
    run(plane.run_queued())
    failed = run(plane.registry.get("acme"))
    assert failed.state is TenantState.FAILED
    assert failed.failure_reason is not None
    assert "not with the tenant's recorded key" in failed.failure_reason
    assert failed.audit_public_key == tenant.audit_public_key


def test_rotation_is_an_event_in_the_tenants_chain(plane: Plane) -> None:
    tenant = run(plane.active())
    old = run(plane.services.vendor_keys.issue("acme", ["read"], "bi", actor=ADMIN))
    before = plane.secrets.get("acme")
    job_id, [new] = run(plane.services.rotation.rotate("acme", actor="alice"))
    [(base_url, actor, rotation)] = plane.data_planes.rotations
    assert (base_url, actor) == (tenant.endpoint, "alice")
    assert rotation["job_id"] == job_id
    assert rotation["reissued"] == list(ROTATED_NAMES) and rotation["kept"] == [SIGNING_KEY]
    assert rotation["vendor_keys"] == [{"old_key_id": old.key_id, "new_key_id": new.key_id}]
    after = plane.secrets.get("acme")
    assert rotation["control_key_id"] == key_id_of(after[CONTROL_KEY])
    # names and key ids only: no secret value of before or after reaches the chain
    text = repr(rotation)
    assert not [v for v in (*before.values(), *after.values(), old.key, new.key)
                if v in text]
    [audit_step] = [s for s in run(plane.store.steps(job_id)) if s.step == "audit"]
    assert audit_step.message is not None and "kept" in audit_step.message


def test_rotation_while_a_job_runs_is_refused(plane: Plane) -> None:
    run(plane.active())
    run(plane.services.lifecycle.patch_config("acme", {}, actor=ADMIN))  # a job is open
    with pytest.raises(InvalidTransition):
        run(plane.services.rotation.rotate("acme", actor=ADMIN))
    run(plane.run_queued())
    run(plane.store.open_or_create("acme", "provision", ADMIN))
    with pytest.raises(ConcurrentUpdate, match="has a provision job running"):
        run(plane.services.rotation.rotate("acme", actor=ADMIN))


# -- quarantine ----------------------------------------------------------------------------------
def test_quarantine_actions_reach_the_data_plane_as_the_admin(plane: Plane) -> None:
    tenant = run(plane.active())
    document = uuid.uuid4()
    assert run(plane.services.quarantine.act("acme", document, "release", actor="alice")) == {
        "document_id": str(document), "status": "release"}
    assert plane.data_planes.calls[-1] == (tenant.endpoint, "alice", "release")
    listed = run(plane.services.quarantine.list_documents("acme", limit=5, offset=0,
                                                          actor="alice"))
    assert listed["limit"] == 5
    run(plane.services.lifecycle.deprovision("acme", actor=ADMIN))
    with pytest.raises(TenantNotActive, match="reachable in ACTIVE and SUSPENDED"):
        run(plane.services.quarantine.act("acme", document, "purge", actor="alice"))


def test_the_consistency_check_runs_on_the_data_plane_as_the_admin(plane: Plane) -> None:
    tenant = run(plane.active())
    control = plane.services.control
    report = run(control.consistency(tenant, repair=True, first=5, actor="alice"))
    assert report["repair"] is True
    assert plane.data_planes.calls[-1] == (tenant.endpoint, "alice",
                                           "consistency repair=True first=5")
    run(plane.services.lifecycle.deprovision("acme", actor=ADMIN))
    gone = run(plane.registry.get("acme"))
    with pytest.raises(TenantNotActive, match="checked in ACTIVE and SUSPENDED"):
        run(control.consistency(gone, repair=False, first=5, actor="alice"))


# -- recovery at start-up ------------------------------------------------------------------------
def test_recovery_puts_back_what_a_crash_left(plane: Plane) -> None:
    async def scenario() -> None:
        await plane.active("live")
        await plane.active("paused")
        await plane.services.lifecycle.suspend("paused", actor=ADMIN)
        await plane.services.lifecycle.create("new", "New", "local", None, actor=ADMIN)
        plane.queue.deferred.clear()
        plane.store.jobs.clear()  # the job of "new" was lost with the queue
        rotation, _ = await plane.store.open_or_create("live", "rotate", ADMIN)
        plane.provider.running.clear()  # the machine rebooted
        plane.data_planes.suspended.clear()  # and "paused"'s data plane was rebuilt

        await plane.services.recovery.recover()
        await plane.services.recovery.wait_for_restarts()

        assert plane.store.jobs[rotation.job_id].status == "failed"
        assert plane.store.jobs[rotation.job_id].error == \
            "the control plane stopped during the rotation; run it again"
        [(job_id, slug)] = plane.queue.deferred
        assert slug == "new" and plane.store.jobs[job_id].actor == SYSTEM_ACTOR
        assert plane.provider.running == {"live", "paused"}
        paused = await plane.registry.get("paused")
        assert plane.data_planes.suspended == {paused.endpoint}
        assert plane.data_planes.calls[-1][1:] == (SYSTEM_ACTOR, "suspend=True")
        await plane.services.recovery.shutdown()

    run(scenario())


def test_the_first_start_bootstraps_one_admin_token(plane: Plane) -> None:
    token = run(plane.services.admin_tokens.bootstrap(None))
    assert token is not None
    assert run(plane.services.admin_tokens.bootstrap(None)) is None  # only at the first start
    record = run(plane.services.admin_tokens.authenticate(f"Bearer {token}", "POST"))
    assert (record.name, record.role) == ("admin", "admin")
