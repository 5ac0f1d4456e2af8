"""The data plane's control routes and suspension guard on a real tenant database (fast; the
slow e2e suites run the same through the whole data plane): a suspended tenant answers every
``/v1`` call with 403 TENANT_SUSPENDED, health still answers, the state lives in the audit
chain (so a new process sees it), and only the control credential changes it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from data_plane.adapters.postgres import TenantDatabase
from data_plane.api.auth import refuse_when_suspended
from data_plane.api.errors import install_error_handlers
from data_plane.api.routers import control
from data_plane.services.access import AccessService
from data_plane.services.audit import AuditService, CheckpointPolicy
from data_plane.services.suspension import SuspensionService
from frostbyte_common import vendor_keys
from frostbyte_common.audit_checkpoint import key_id_of, public_key_text
from frostbyte_common.audit_export import verify_export_lines

TENANT = "acme"


def _app(db: TenantDatabase, audit: AuditService | None = None) -> FastAPI:
    """The control routes and the suspension guard with the real key check; the services
    the composition root would build, over the test's database."""
    app = FastAPI(dependencies=[Depends(refuse_when_suspended)])
    app.state.services = SimpleNamespace(access=AccessService(db),
                                         suspension=SuspensionService(db), audit=audit)
    install_error_handlers(app)
    app.include_router(control.router)

    @app.get("/v1/documents")
    def documents() -> dict[str, Any]:
        return {"documents": []}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
def db(fresh_database: str) -> Iterator[TenantDatabase]:
    database = TenantDatabase(fresh_database, TENANT, max_size=2)
    database.open()
    database.migrate()
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def keys(db: TenantDatabase) -> dict[str, str]:
    """Bearer headers: the control credential ('control' alone) and a vendor's key."""
    issued = {}
    for name, scopes in (("control", ["control"]), ("vendor", ["ingest", "read", "audit"])):
        key = vendor_keys.generate_key()
        AccessService(db).install(key.key_id, key.sha256, scopes, name)
        issued[name] = f"Bearer {key.key}"
    return issued


def test_suspension_closes_the_vendor_routes_only(db: TenantDatabase,
                                                  keys: dict[str, str]) -> None:
    control = {"Authorization": keys["control"], "X-Frostbyte-Actor": "ops-lead"}
    with TestClient(_app(db)) as api:
        assert api.get("/v1/documents").status_code == 200
        assert api.get("/control/v1/suspension", headers=control).json() == {"suspended": False}

        # the vendor cannot suspend (or resume) itself; an actor is required
        vendor = {"Authorization": keys["vendor"], "X-Frostbyte-Actor": "dana"}
        refused = api.put("/control/v1/suspension", json={"suspended": True}, headers=vendor)
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            403, "INSUFFICIENT_SCOPE")
        nameless = api.put("/control/v1/suspension", json={"suspended": True},
                           headers={"Authorization": keys["control"]})
        assert nameless.status_code == 422

        done = api.put("/control/v1/suspension", json={"suspended": True}, headers=control)
        assert done.json() == {"suspended": True, "changed": True}
        refused = api.get("/v1/documents")
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "TENANT_SUSPENDED" and error["request_id"]
        assert api.get("/healthz").status_code == 200
        again = api.put("/control/v1/suspension", json={"suspended": True}, headers=control)
        assert again.json()["changed"] is False

    # another process of the tenant (or a restart) reads the state from the chain
    assert SuspensionService(db).is_suspended()
    with TestClient(_app(db)) as api:
        assert api.get("/v1/documents").json()["error"]["code"] == "TENANT_SUSPENDED"
        resumed = api.put("/control/v1/suspension", json={"suspended": False}, headers=control)
        assert resumed.json() == {"suspended": False, "changed": True}
        assert api.get("/v1/documents").status_code == 200

    events = [e for e in db.audit.events() if e.event_type.startswith("tenant.")]
    assert [(e.event_type, e.actor) for e in events] == [
        ("tenant.suspended", "admin:ops-lead"), ("tenant.resumed", "admin:ops-lead")]


def test_another_process_sees_a_change_within_the_cache_time(db: TenantDatabase) -> None:
    reader, writer = SuspensionService(db, ttl_s=0.0), SuspensionService(db)
    assert not reader.is_suspended()
    writer.set(True, actor="admin:a")
    assert reader.is_suspended()
    writer.set(False, actor="admin:a")
    assert not reader.is_suspended()


def test_the_signed_audit_export_is_a_control_route(db: TenantDatabase,
                                                    keys: dict[str, str]) -> None:
    """``POST /control/v1/audit/export``: what the control plane archives before it
    deprovisions — the same signed export as ``/v1/audit/export``, control credential only."""
    app = _app(db, AuditService(db.audit, signing_key=Ed25519PrivateKey.generate(),
                                policy=CheckpointPolicy()))
    control = {"Authorization": keys["control"], "X-Frostbyte-Actor": "control-plane"}
    with TestClient(app) as api:
        api.put("/control/v1/suspension", json={"suspended": True}, headers=control)
        vendor = {"Authorization": keys["vendor"], "X-Frostbyte-Actor": "dana"}
        refused = api.post("/control/v1/audit/export", headers=vendor)
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            403, "INSUFFICIENT_SCOPE")
        assert api.post("/control/v1/audit/export").status_code == 401

        export = api.post("/control/v1/audit/export", headers=control)
        assert export.status_code == 200, export.text
        assert export.headers["content-type"].startswith("application/x-ndjson")
        verdict = verify_export_lines(export.content.splitlines(keepends=True))
        assert verdict.ok, verdict.problems
        assert verdict.events >= 1 and verdict.checkpoint_size == verdict.events
        manifest = json.loads(export.content.splitlines()[0])["manifest"]
        assert manifest["tenant"] == TENANT and manifest["head_hash"] == verdict.head_hash

        # the export itself is audited, with the admin named by the control plane
        again = api.post("/control/v1/audit/export", headers=control)
        last = json.loads(again.content.splitlines()[-1])
        assert (last["event_type"], last["actor"]) == ("audit.exported",
                                                       "admin:control-plane")


def test_the_audit_key_is_a_control_route(db: TenantDatabase, keys: dict[str, str]) -> None:
    """``GET /control/v1/audit/key``: the key checkpoints are signed with, which the
    control plane records at provisioning (control credential only)."""
    signing = Ed25519PrivateKey.generate()
    control = {"Authorization": keys["control"], "X-Frostbyte-Actor": "control-plane"}
    with TestClient(_app(db, AuditService(db.audit, signing_key=signing))) as api:
        answer = api.get("/control/v1/audit/key", headers=control)
        assert answer.status_code == 200, answer.text
        public = public_key_text(signing)
        assert answer.json() == {"key_id": key_id_of(public), "public_key": public}
        vendor = {"Authorization": keys["vendor"], "X-Frostbyte-Actor": "dana"}
        refused = api.get("/control/v1/audit/key", headers=vendor)
        assert refused.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
    with TestClient(_app(db, AuditService(db.audit, signing_key=None))) as api:
        missing = api.get("/control/v1/audit/key", headers=control)
        assert (missing.status_code, missing.json()["error"]["code"]) == (
            503, "AUDIT_SIGNING_KEY_MISSING")


def test_a_secret_rotation_is_an_event_of_the_chain(db: TenantDatabase,
                                                    keys: dict[str, str]) -> None:
    """``POST /control/v1/audit/rotation`` appends ``secrets.rotated`` by the admin who
    rotated: the job id, the names re-issued and key ids, never a value; the chain and the
    checkpoints signed before it still verify."""
    signing = Ed25519PrivateKey.generate()
    audit = AuditService(db.audit, signing_key=signing)
    control = {"Authorization": keys["control"], "X-Frostbyte-Actor": "alice"}
    rotation = {"job_id": str(uuid.uuid4()), "reissued": ["db_password", "control_key"],
                "kept": ["signing_key"], "data_key_id": "k2", "control_key_id": "0a1b2c3d4e5f",
                "vendor_keys": [{"old_key_id": "aaaaaaaaaaaa", "new_key_id": "bbbbbbbbbbbb"}],
                "tls_fingerprint": "sha256:" + "ab" * 32}
    with TestClient(_app(db, audit)) as api:
        api.put("/control/v1/suspension", json={"suspended": True}, headers=control)
        before = audit.checkpoint_now()
        assert before is not None
        vendor = {"Authorization": keys["vendor"], "X-Frostbyte-Actor": "dana"}
        refused = api.post("/control/v1/audit/rotation", json=rotation, headers=vendor)
        assert refused.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
        # only names and ids: a field that could carry a secret is refused
        for bad in ({**rotation, "db_password": "hunter2"},
                    {**rotation, "reissued": ["db_password=hunter2"]}):
            assert api.post("/control/v1/audit/rotation", json=bad,
                            headers=control).status_code == 422
        recorded = api.post("/control/v1/audit/rotation", json=rotation, headers=control)
        assert recorded.status_code == 201, recorded.text
        event = recorded.json()
    assert (event["event_type"], event["actor"]) == ("secrets.rotated", "admin:alice")
    assert event["payload"] == {**rotation,
                                "audit_key_id": key_id_of(public_key_text(signing))}
    [stored] = [e for e in db.audit.events() if e.event_type == "secrets.rotated"]
    assert stored.seq == event["seq"] and stored.hash == event["hash"]
    assert audit.checkpoint_now() is not None
    verdict = audit.verify()
    assert verdict["ok"] is True and verdict["checkpoints"] == 2, verdict
