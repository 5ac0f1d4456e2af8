"""The admin lifecycle actions through the API (SPEC §3): real PostgreSQL registry, fake
provider. Every transition is reachable, every other one is 409, and each is an event."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from control_plane.api.app import create_app
from frostbyte_common.vendor_keys import key_id_of

from .fakes import FakeProvider
from .test_cp_api import AUTH, active, assert_error, settings_for, wait_for_state


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def api(fresh_database: str, tmp_path: Path, fake: FakeProvider) -> Iterator[TestClient]:
    app = create_app(settings_for(fresh_database, tmp_path),
                     providers=lambda _settings: {"local": fake},
                     data_plane_transport=fake.transport)
    with TestClient(app) as test_client:
        yield test_client


def act(api: TestClient, slug: str, action: str) -> dict[str, object]:
    response = api.post(f"/v1/tenants/{slug}/{action}", headers=AUTH)
    assert response.status_code == 202, response.text
    body: dict[str, object] = response.json()
    return body


def transitions(api: TestClient, slug: str) -> list[tuple[int, str, str]]:
    events = api.get(f"/v1/tenants/{slug}/events", headers=AUTH).json()["events"]
    return [(e["transition"], e["to_state"], e["actor"]) for e in events]


def test_suspend_resume_deprovision_walk_the_lifecycle(api: TestClient,
                                                       fake: FakeProvider) -> None:
    active(api, "walk")
    assert act(api, "walk", "suspend")["state"] == "SUSPENDED"
    # the data plane keeps running (data kept) but refuses vendors: told through its control
    # routes with the control key the provider installed — not stopped
    assert "walk" in fake.healthy and "walk" in fake.suspended
    assert ("stop", "walk") not in fake.calls
    [control] = [v for v in fake.keys.values() if v[2] == ("control",)]
    assert control[0] == "walk" and control[3] == "control-plane"
    assert_error(api.post("/v1/tenants/walk/suspend", headers=AUTH), 409, "INVALID_TRANSITION")
    resumed = act(api, "walk", "resume")
    assert resumed["state"] == "ACTIVE" and resumed["endpoint"]
    assert "walk" in fake.healthy and "walk" not in fake.suspended
    assert fake.audit == [("walk", "admin:admin", "tenant.suspended"),
                          ("walk", "admin:admin", "tenant.resumed")]

    assert act(api, "walk", "deprovision")["state"] == "DEPROVISIONING"
    gone = wait_for_state(api, "walk", "DEPROVISIONED")
    assert gone["endpoint"] is None
    assert transitions(api, "walk") == [
        (1, "REQUESTED", "admin"), (2, "PROVISIONING", "control-plane"),
        (3, "ACTIVE", "control-plane"), (7, "SUSPENDED", "admin"), (8, "ACTIVE", "admin"),
        (9, "DEPROVISIONING", "admin"), (12, "DEPROVISIONED", "control-plane")]
    last = api.get("/v1/tenants/walk/events", headers=AUTH).json()["events"][-1]
    assert last["detail"]["verified_gone"] == {"database": True, "files": True,
                                               "tenant_age_key": True, "secrets_file": True}
    # nothing is allowed after the end, and the slug stays taken
    for action in ("suspend", "resume", "retry", "deprovision", "cancel"):
        assert_error(api.post(f"/v1/tenants/walk/{action}", headers=AUTH), 409,
                     "INVALID_TRANSITION")
    assert_error(api.post("/v1/tenants", json={"slug": "walk", "display_name": "again"},
                          headers=AUTH), 409, "TENANT_EXISTS")


def test_invalid_transitions_are_409_and_leave_no_event(api: TestClient) -> None:
    active(api, "firm")
    before = transitions(api, "firm")
    for action in ("resume", "retry", "cancel"):
        assert_error(api.post(f"/v1/tenants/firm/{action}", headers=AUTH), 409,
                     "INVALID_TRANSITION")
    assert transitions(api, "firm") == before
    assert_error(api.post("/v1/tenants/nobody/suspend", headers=AUTH), 404, "TENANT_NOT_FOUND")


def test_failed_tenant_can_be_patched_retried_and_cleaned_up(api: TestClient,
                                                             fake: FakeProvider) -> None:
    api.post("/v1/tenants", json={"slug": "fail-a", "display_name": "F"}, headers=AUTH)
    wait_for_state(api, "fail-a", "FAILED")
    patched = api.patch("/v1/tenants/fail-a/config", json={"ocr": {"languages": ["fra"]}},
                        headers=AUTH)
    assert patched.status_code == 202, patched.text
    assert patched.json()["state"] == "FAILED"  # stored, applied by the next retry
    assert patched.json()["config"]["ocr"]["languages"] == ["fra"]

    assert act(api, "fail-a", "retry")["state"] == "PROVISIONING"
    again = wait_for_state(api, "fail-a", "FAILED")  # the fake always fails "fail*"
    assert again["failed_operation"] == "provision"
    # FAILED → DEPROVISIONING (11) cleans up
    act(api, "fail-a", "deprovision")
    wait_for_state(api, "fail-a", "DEPROVISIONED")
    assert [t for t, _, _ in transitions(api, "fail-a")] == [1, 2, 4, 5, 4, 11, 12]


def test_config_patch_is_reapplied_to_the_running_data_plane(api: TestClient,
                                                             fake: FakeProvider) -> None:
    active(api, "cfg")
    patch = {"intake": {"mime_allowlist": ["text/plain"]}}
    response = api.patch("/v1/tenants/cfg/config", json=patch, headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "PROVISIONING"
    body = wait_for_state(api, "cfg", "ACTIVE")
    assert body["config"]["intake"]["mime_allowlist"] == ["text/plain"]
    assert fake.configs["cfg"].intake.mime_allowlist == ["text/plain"]
    # re-applied means restarted with the new config
    ops = [op for op, slug in fake.calls if slug == "cfg"]
    assert ops[-2:] == ["stop", "provision"]
    events = api.get("/v1/tenants/cfg/events", headers=AUTH).json()["events"]
    assert (events[-2]["transition"], events[-2]["actor"], events[-2]["detail"]) == (
        6, "admin", {"patch": patch})
    # null removes the override (RFC 7396): back to the default allowlist
    api.patch("/v1/tenants/cfg/config", json={"intake": {"mime_allowlist": None}},
              headers=AUTH)
    body = wait_for_state(api, "cfg", "ACTIVE")
    assert "application/pdf" in body["config"]["intake"]["mime_allowlist"]


def test_config_patch_is_validated_and_refused_outside_active_and_failed(
    api: TestClient,
) -> None:
    active(api, "strict")
    assert_error(api.patch("/v1/tenants/strict/config",
                           json={"intake": {"max_file_bytes": -1}}, headers=AUTH),
                 422, "INVALID_CONFIG")
    assert_error(api.patch("/v1/tenants/strict/config", json={"nope": 1}, headers=AUTH),
                 422, "INVALID_CONFIG")
    act(api, "strict", "suspend")
    assert_error(api.patch("/v1/tenants/strict/config", json={"ocr": {"languages": ["deu"]}},
                           headers=AUTH), 409, "INVALID_TRANSITION")
    assert api.get("/v1/tenants/strict", headers=AUTH).json()["config"]["ocr"][
        "languages"] == ["eng"]


def test_cancel_stops_provisioning_and_rolls_back(api: TestClient, fake: FakeProvider) -> None:
    fake.release.clear()  # provisioning waits
    api.post("/v1/tenants", json={"slug": "stop-me", "display_name": "S"}, headers=AUTH)
    wait_for_state(api, "stop-me", "PROVISIONING")
    deadline = time.monotonic() + 10
    while ("provision", "stop-me") not in fake.calls and time.monotonic() < deadline:
        time.sleep(0.05)  # the job is inside its provider step
    cancelled = act(api, "stop-me", "cancel")
    assert cancelled["state"] == "FAILED"
    assert cancelled["failure_reason"] == "cancelled by admin"
    fake.release.set()  # the provider step ends; the job sees the cancel and rolls back
    deadline = time.monotonic() + 10
    while "stop" not in (ops := [op for op, slug in fake.calls if slug == "stop-me"]) and (
            time.monotonic() < deadline):
        time.sleep(0.05)
    assert ops == ["provision", "stop"]
    assert "stop-me" not in fake.healthy
    assert api.get("/v1/tenants/stop-me", headers=AUTH).json()["state"] == "FAILED"
    assert [(t, actor) for t, _, actor in transitions(api, "stop-me")][-1] == (4, "admin")


def test_failed_teardown_is_retried_as_deprovisioning(api: TestClient,
                                                      fake: FakeProvider) -> None:
    active(api, "leaky")
    act(api, "leaky", "deprovision")
    failed = wait_for_state(api, "leaky", "FAILED")
    assert failed["failed_operation"] == "deprovision"
    assert "database" in failed["failure_reason"]
    retried = act(api, "leaky", "retry")
    assert retried["state"] == "DEPROVISIONING"
    wait_for_state(api, "leaky", "FAILED")
    assert [t for t, _, _ in transitions(api, "leaky")][-4:] == [9, 13, 11, 13]


def test_vendor_key_revocation(api: TestClient, fake: FakeProvider) -> None:
    active(api, "rev")
    key = api.post("/v1/tenants/rev/vendor-keys", json={"scopes": ["read"]},
                   headers=AUTH).json()
    assert key["key_id"] in fake.keys
    revoked = api.delete(f"/v1/tenants/rev/vendor-keys/{key['key_id']}", headers=AUTH)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert key["key_id"] not in fake.keys  # the data plane was told
    listed = api.get("/v1/tenants/rev/vendor-keys", headers=AUTH).json()["vendor_keys"]
    assert listed[0]["revoked_at"] == revoked.json()["revoked_at"]
    again = api.delete(f"/v1/tenants/rev/vendor-keys/{key['key_id']}", headers=AUTH)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]  # idempotent
    assert_error(api.delete("/v1/tenants/rev/vendor-keys/nope", headers=AUTH), 404,
                 "VENDOR_KEY_NOT_FOUND")
    # another tenant's key id is not found under this tenant
    active(api, "other")
    assert_error(api.delete(f"/v1/tenants/other/vendor-keys/{key['key_id']}", headers=AUTH),
                 404, "VENDOR_KEY_NOT_FOUND")


def test_deprovision_revokes_every_vendor_key(api: TestClient) -> None:
    active(api, "bye")
    for _ in range(2):
        api.post("/v1/tenants/bye/vendor-keys", json={"scopes": ["read"]}, headers=AUTH)
    act(api, "bye", "deprovision")
    wait_for_state(api, "bye", "DEPROVISIONED")
    keys = api.get("/v1/tenants/bye/vendor-keys", headers=AUTH).json()["vendor_keys"]
    assert len(keys) == 2 and all(k["revoked_at"] for k in keys)
    last = api.get("/v1/tenants/bye/events", headers=AUTH).json()["events"][-1]
    assert last["detail"]["vendor_keys_revoked"] == 2


def test_rotate_secrets_reissues_keys_and_credentials(
    api: TestClient, fake: FakeProvider, tmp_path: Path
) -> None:
    from control_plane.adapters.secret_store import SopsAgeSecretStore

    active(api, "rot")
    old = [api.post("/v1/tenants/rot/vendor-keys", json={"scopes": scopes, "label": label},
                    headers=AUTH).json()
           for scopes, label in ((["ingest", "read"], "dana"), (["audit"], None))]
    store = SopsAgeSecretStore(tmp_path / "secrets")
    before = store.get("rot")
    act(api, "rot", "suspend")  # rotation works in SUSPENDED too, and changes no state

    rotated = api.post("/v1/tenants/rot/rotate-secrets", headers=AUTH)
    assert rotated.status_code == 202, rotated.text
    body = rotated.json()
    assert [(k["scopes"], k["label"]) for k in body["vendor_keys"]] == [
        (["ingest", "read"], "dana"), (["audit"], None)]
    new_ids = {k["key_id"] for k in body["vendor_keys"]}
    # the data plane knows only the new vendor keys, and a new control key
    assert {k for k, v in fake.keys.items() if v[2] != ("control",)} == new_ids
    [control] = [k for k, v in fake.keys.items() if v[2] == ("control",)]
    assert control == key_id_of(store.get("rot")["control_key"])
    assert control != key_id_of(before["control_key"])
    listed = api.get("/v1/tenants/rot/vendor-keys", headers=AUTH).json()["vendor_keys"]
    assert {k["key_id"] for k in listed if k["revoked_at"]} == {k["key_id"] for k in old}
    after = store.get("rot")
    assert set(after) == set(before)
    assert all(after[n] != before[n] for n in before if n != "signing_key")
    assert after["signing_key"] == before["signing_key"]  # earlier checkpoints stay valid
    assert api.get("/v1/tenants/rot", headers=AUTH).json()["state"] == "SUSPENDED"
    # the data plane restarted on the new secrets before any key moved
    applied = fake.calls.index(("apply_secrets", "rot"))
    assert applied < fake.calls.index(("revoke_vendor_key", "rot"))
    log = api.get(f"/v1/tenants/rot/jobs/{body['job_id']}/log", headers=AUTH).json()
    assert (log["job"]["operation"], log["job"]["status"]) == ("rotate", "succeeded")
    assert [s["step"] for s in log["steps"]] == ["secrets", "vendor_keys", "audit"]
    # the rotation is an event of the tenant's own audit chain, by the admin who asked
    assert ("rot", "admin:admin", "secrets.rotated") in fake.audit
    [(_, rotation)] = [r for r in fake.rotations if r[0] == "rot"]
    assert rotation["job_id"] == body["job_id"] and "signing_key" in rotation["kept"]
    assert not [v for v in (*before.values(), *after.values()) if v in json.dumps(rotation)]
    assert all(k["key"] not in str(log) for k in body["vendor_keys"])

    act(api, "rot", "deprovision")
    wait_for_state(api, "rot", "DEPROVISIONED")
    assert_error(api.post("/v1/tenants/rot/rotate-secrets", headers=AUTH), 409,
                 "INVALID_TRANSITION")


def test_suspend_fails_cleanly_when_the_data_plane_cannot_be_told(
        api: TestClient, fake: FakeProvider) -> None:
    active(api, "mute")
    fake.endpoints["mute"] = "http://127.0.0.1:1"  # the control key answers nowhere else
    assert_error(api.post("/v1/tenants/mute/suspend", headers=AUTH), 502, "CONTROL_KEY_REFUSED")
    assert api.get("/v1/tenants/mute", headers=AUTH).json()["state"] == "ACTIVE"
    assert transitions(api, "mute")[-1][0] == 3  # no suspension event


def test_a_lost_control_key_is_installed_again(api: TestClient, fake: FakeProvider) -> None:
    active(api, "lost")
    act(api, "lost", "suspend")
    fake.keys.clear()  # e.g. a data plane rebuilt from scratch
    act(api, "lost", "resume")
    assert "lost" not in fake.suspended
    assert [v[0] for v in fake.keys.values() if v[2] == ("control",)] == ["lost"]


def test_quarantine_admin_routes(api: TestClient, fake: FakeProvider) -> None:
    active(api, "qt")
    held, bad = fake.quarantine("qt", "eicar.txt"), fake.quarantine("qt", "invoice.pdf")
    listed = api.get("/v1/tenants/qt/quarantine", headers=AUTH)
    assert listed.status_code == 200, listed.text
    assert {d["document_id"] for d in listed.json()["documents"]} == {held, bad}

    released = api.post(f"/v1/tenants/qt/quarantine/{held}/release", headers=AUTH)
    assert released.status_code == 200, released.text
    assert released.json() == {"document_id": held, "status": "ACCEPTED"}
    purged = api.post(f"/v1/tenants/qt/quarantine/{bad}/purge", headers=AUTH)
    assert purged.json() == {"document_id": bad, "status": "PURGED"}
    # audited in the tenant's chain with the admin as actor
    assert fake.audit == [("qt", "admin:admin", "document.released"),
                          ("qt", "admin:admin", "document.purged")]
    assert_error(api.post(f"/v1/tenants/qt/quarantine/{bad}/purge", headers=AUTH), 404,
                 "DOCUMENT_NOT_FOUND")
    assert api.post(f"/v1/tenants/qt/quarantine/{bad}/delete", headers=AUTH).status_code == 422
    assert api.post("/v1/tenants/qt/quarantine/not-a-uuid/purge",
                    headers=AUTH).status_code == 422
    assert_error(api.post(f"/v1/tenants/qt/quarantine/{bad}/purge"), 401, "UNAUTHENTICATED")
    # a vendor key is not an admin token: refused by the control plane
    vendor = api.post("/v1/tenants/qt/vendor-keys", json={"scopes": ["audit"]},
                      headers=AUTH).json()["key"]
    assert_error(api.post(f"/v1/tenants/qt/quarantine/{bad}/release",
                          headers={"Authorization": f"Bearer {vendor}"}), 401,
                 "UNAUTHENTICATED")
    # a viewer may look, not act
    viewer = api.post("/v1/admin/tokens", json={"name": "eve", "role": "viewer"},
                      headers=AUTH).json()["token"]
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    assert api.get("/v1/tenants/qt/quarantine", headers=as_viewer).status_code == 200
    assert_error(api.post(f"/v1/tenants/qt/quarantine/{held}/release", headers=as_viewer),
                 403, "INSUFFICIENT_ROLE")

    # reachable while SUSPENDED (the vendor endpoint is closed, the admin's is not) ...
    act(api, "qt", "suspend")
    again = fake.quarantine("qt", "later.pdf")
    assert api.post(f"/v1/tenants/qt/quarantine/{again}/purge", headers=AUTH).status_code == 200
    # ... not once the tenant is gone
    act(api, "qt", "deprovision")
    wait_for_state(api, "qt", "DEPROVISIONED")
    assert_error(api.get("/v1/tenants/qt/quarantine", headers=AUTH), 409, "TENANT_NOT_ACTIVE")
    assert_error(api.get("/v1/tenants/nobody/quarantine", headers=AUTH), 404,
                 "TENANT_NOT_FOUND")


def test_a_rotation_is_never_resumed_by_the_job_queue(fresh_database: str, tmp_path: Path,
                                                      fake: FakeProvider) -> None:
    """A rotation runs inside its request: the queue's recovery must leave it alone (it
    used to hand it to the (de)provisioning runner, which cancelled it), and a rotation a
    dead control plane left open is marked failed at the next start."""
    import psycopg

    from control_plane.adapters.job_queue import HEARTBEAT_INTERVAL_S

    settings = settings_for(fresh_database, tmp_path)

    def app() -> TestClient:
        return TestClient(create_app(settings, providers=lambda _s: {"local": fake},
                                     data_plane_transport=fake.transport))

    with app() as api:
        active(api, "rr")
        with psycopg.connect(fresh_database, autocommit=True) as conn:
            job_id = str(conn.execute(
                "INSERT INTO tenant_jobs (job_id, slug, operation, status, actor) VALUES "
                "(gen_random_uuid(), 'rr', 'rotate', 'running', 'admin') RETURNING job_id"
            ).fetchone()[0])
        time.sleep(HEARTBEAT_INTERVAL_S + 2)  # at least one recovery pass
        job = api.get(f"/v1/tenants/rr/jobs/{job_id}/log", headers=AUTH).json()["job"]
        assert job["status"] == "running"
        assert api.get("/v1/tenants/rr", headers=AUTH).json()["state"] == "ACTIVE"
    with app() as api:  # the next start: that rotation's process is gone
        job = api.get(f"/v1/tenants/rr/jobs/{job_id}/log", headers=AUTH).json()["job"]
        assert job["status"] == "failed"
        rotated = api.post("/v1/tenants/rr/rotate-secrets", headers=AUTH)
        assert rotated.status_code == 202, rotated.text


def test_an_admin_verifies_a_tenants_lifecycle_chain_and_sees_an_edit(
        api: TestClient, fresh_database: str) -> None:
    active(api, "chain")
    act(api, "chain", "suspend")
    verdict = api.get("/v1/tenants/chain/events/verify", headers=AUTH).json()
    assert verdict["ok"] is True and verdict["events"] == 4, verdict
    with psycopg.connect(fresh_database) as conn:  # a break-glass edit of history
        conn.execute("SET frostbyte.audit_break_glass = 'on'")
        conn.execute("UPDATE tenant_events SET actor = 'mallory' WHERE slug = 'chain'"
                     " AND seq = 4")
    verdict = api.get("/v1/tenants/chain/events/verify", headers=AUTH).json()
    assert verdict["ok"] is False and verdict["first_bad_seq"] == 4, verdict
    assert_error(api.get("/v1/tenants/nobody/events/verify", headers=AUTH), 404,
                 "TENANT_NOT_FOUND")
