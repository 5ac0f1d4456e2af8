"""The tenant's audit key and a secret rotation through the control-plane API, with the real
local provider and the real data plane (issue 16, finding 6): the control plane records the
key the data plane signs its checkpoints with; ``rotate-secrets`` keeps it, so
``GET /v1/audit/verify`` still holds with the checkpoints signed before, and the rotation is
an event of the tenant's own chain; the export archived at deprovisioning verifies against
the recorded key (and not against another)."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from control_plane.adapters import processes
from control_plane.adapters.seaweedfs import SeaweedServer
from control_plane.api.app import create_app
from control_plane.providers.local import TenantPaths, process_markers
from control_plane.settings import ControlPlaneSettings
from frostbyte_common import tls
from frostbyte_common.audit_checkpoint import key_id_of, public_key_text
from frostbyte_common.audit_export import verify_export_file

from .test_cp_api import AUTH, TOKEN, wait_for_state
from .test_lifecycle_real_data_plane import SAMPLES, _free_range

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_rotation_keeps_the_audit_key_and_is_in_the_chain(
    fresh_database: str, pg_admin_url: str, seaweed_server: SeaweedServer, tmp_path: Path
) -> None:
    settings = ControlPlaneSettings(
        s3_endpoint=seaweed_server.s3_endpoint, s3_master=seaweed_server.master_address,
        s3_admin_access_key=seaweed_server.admin_credentials.access_key,
        s3_admin_secret_key=seaweed_server.admin_credentials.secret_key,
        database_url=fresh_database, admin_database_url=pg_admin_url,
        admin_token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(),
        state_dir=tmp_path / "state", data_plane_python=Path(sys.executable),
        data_plane_port_range=_free_range())
    slug = f"akey{time.time_ns() % 10**8}"
    try:
        with TestClient(create_app(settings)) as api:
            _rotate_and_archive(api, slug, tmp_path)
    finally:  # a failed run must not leave a data plane (or its clamd) behind
        for tenant_dir in (tmp_path / "state" / "tenants").glob("*/"):
            paths = TenantPaths(tenant_dir)
            for name, marker in process_markers(paths).items():
                processes.stop_pid_file(paths.pid_file(name), marker, grace_s=5)


def _rotate_and_archive(api: TestClient, slug: str, tmp_path: Path) -> None:
    assert api.post("/v1/tenants", json={"slug": slug, "display_name": slug},
                    headers=AUTH).status_code == 202
    tenant = wait_for_state(api, slug, "ACTIVE", timeout=300)
    recorded = tenant["audit_public_key"]
    assert recorded and tenant["audit_key_id"] == key_id_of(recorded)
    trust = tls.client_context(api.get("/v1/tls/ca").text)
    endpoint = tenant["endpoint"]

    def vendor(method: str, path: str, key: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, f"{endpoint}{path}", verify=trust, timeout=60,
                             headers={"Authorization": f"Bearer {key}"}, **kw)

    issued = api.post(f"/v1/tenants/{slug}/vendor-keys",
                      json={"scopes": ["ingest", "read", "audit"]}, headers=AUTH)
    key = issued.json()["key"]
    sample = SAMPLES / "incident-response-runbook.md"
    data = sample.read_bytes()
    manifest = {"client_ref": "akey", "files": [
        {"name": sample.name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}]}
    sent = vendor("POST", "/v1/batches", key, data={"manifest": json.dumps(manifest)},
                  files=[("files", (sample.name, data))])
    assert sent.status_code == 202, sent.text
    # a checkpoint signed now (an inclusion proof needs one), by the recorded key
    proof = vendor("GET", "/v1/audit/proof/1", key)
    assert proof.status_code == 200, proof.text
    before = proof.json()["checkpoint"]
    assert before["public_key"] == recorded

    rotated = api.post(f"/v1/tenants/{slug}/rotate-secrets", headers=AUTH)
    assert rotated.status_code == 202, rotated.text
    job_id, [new] = rotated.json()["job_id"], rotated.json()["vendor_keys"]
    key = new["key"]

    # the earlier checkpoint still verifies, and new ones are signed by the same key
    verified = vendor("GET", "/v1/audit/verify", key)
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True, verified.json()
    assert verified.json()["checkpoints"] >= 1
    again = vendor("GET", f"/v1/audit/consistency?from={before['tree_size']}"
                   f"&to={verified.json()['events']}", key)
    assert again.status_code == 200, again.text
    assert again.json()["from_checkpoint"] == before
    assert api.get(f"/v1/tenants/{slug}", headers=AUTH).json()["audit_public_key"] == recorded

    # the rotation is an event of the tenant's chain: the job, by the admin, no secret
    events = vendor("GET", "/v1/audit/events?type=secrets.rotated", key).json()["events"]
    [event] = events
    assert (event["actor"], event["payload"]["job_id"]) == ("admin:admin", job_id)
    assert event["payload"]["audit_key_id"] == key_id_of(recorded)
    assert "db_password" in event["payload"]["reissued"]
    assert new["key_id"] in {k["new_key_id"] for k in event["payload"]["vendor_keys"]}
    assert key not in json.dumps(event)

    # deprovisioning archives the export, verified against the recorded key
    assert api.post(f"/v1/tenants/{slug}/deprovision", headers=AUTH).status_code == 202
    wait_for_state(api, slug, "DEPROVISIONED", timeout=180)
    final = api.get(f"/v1/tenants/{slug}/events", headers=AUTH).json()["events"][-1]
    archived = final["detail"]["audit_archive"]
    assert (archived["audit_key_id"], archived["audit_key"]) == (
        key_id_of(recorded), "recorded at provisioning")
    archive = Path(archived["archive"])
    assert verify_export_file(archive, trusted_public_key=recorded).ok
    other = public_key_text(Ed25519PrivateKey.generate())
    refused = verify_export_file(archive, trusted_public_key=other)
    assert not refused.ok
    assert "signed by another key" in str(refused.problems)
    lines = archive.read_text(encoding="utf-8").splitlines()
    assert any(json.loads(line).get("event_type") == "secrets.rotated" for line in lines[1:])
