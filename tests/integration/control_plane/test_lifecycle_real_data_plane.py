"""The whole tenant lifecycle through the control-plane API with the real local provider and
the real data plane (and its own real clamd): create → ACTIVE → malware quarantined, released
or purged only by an admin → suspend (every vendor call 403 TENANT_SUSPENDED) → resume
(accepted, documents kept) → config patch (takes effect) → rotate → revoke → deprovision
(database, roles, folders, clamd gone, key refused); every transition an event with its
actor, and no plaintext secret left in files, logs, records or process arguments.

The audit key along the way (issue 16, finding 6): the control plane records the key the
data plane signs its checkpoints with; ``rotate-secrets`` keeps it, so the checkpoints signed
before still verify, and the rotation is an event of the tenant's own chain; the export
archived at deprovisioning verifies against the recorded key, and not against another."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from minio import Minio
from minio.error import S3Error
from typer.testing import CliRunner

from control_plane.adapters import processes, unix_accounts
from control_plane.adapters.seaweedfs import SeaweedServer
from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.api.app import create_app
from control_plane.providers.local import TenantPaths, port_free, process_markers, role_name
from control_plane.settings import ControlPlaneSettings
from data_plane.adapters.objectstore_encrypted import EncryptedObjectStore
from data_plane.adapters.objectstore_fs import FilesystemObjectStore
from data_plane.errors import ObjectTampered
from frostbyte_cli.main import Deps
from frostbyte_cli.main import app as cli_app
from frostbyte_common import tls
from frostbyte_common.audit_checkpoint import key_id_of, public_key_text
from frostbyte_common.audit_export import verify_export_file
from frostbyte_common.data_keys import DataKeyring, UnknownDataKey
from tests.intake_hostile_files import EICAR

from .test_cp_api import AUTH, TOKEN, wait_for_state

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "samples"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _free_range(size: int = 10) -> str:
    for start in range(19400, 20400, size):
        if all(port_free("127.0.0.1", p) for p in range(start, start + size)):
            return f"{start}-{start + size - 1}"
    raise RuntimeError("no free port range")


_TRUST: dict[str, ssl.SSLContext] = {}  # the control plane's CA, once it has one


def _trust() -> ssl.SSLContext:
    """Vendors' calls verify the endpoint's certificate against the control plane's CA."""
    return _TRUST["ca"]


def _submit(endpoint: str, key: str, path: Path, data: bytes | None = None) -> httpx.Response:
    data = path.read_bytes() if data is None else data
    manifest = {"client_ref": "lifecycle", "files": [
        {"name": path.name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}]}
    return httpx.post(f"{endpoint}/v1/batches", headers={"Authorization": f"Bearer {key}"},
                      data={"manifest": json.dumps(manifest)},
                      files=[("files", (path.name, data))], timeout=60, verify=_trust())


def _vendor_get(endpoint: str, key: str, path: str = "/v1/documents") -> httpx.Response:
    return httpx.get(f"{endpoint}{path}", headers={"Authorization": f"Bearer {key}"},
                     timeout=30, verify=_trust())


def _copy_bucket(s3: SeaweedServer, slug: str, secrets: dict[str, str], folder: Path
                 ) -> FilesystemObjectStore:
    """Every object of the tenant's bucket, as stored (ciphertext), read with its own key."""
    tenant = Minio(s3.s3_endpoint.removeprefix("http://"), secrets["object_store_access_key"],
                   secrets["object_store_secret_key"], secure=False)
    copy = FilesystemObjectStore(folder)
    for obj in tenant.list_objects(f"fb-{slug}", recursive=True):
        assert obj.object_name is not None
        copy.put_bytes(obj.object_name, tenant.get_object(f"fb-{slug}", obj.object_name).read())
    assert any(key.startswith("raw/") for key in copy.list()), list(copy.list())
    return copy


def _open_copy(copy: FilesystemObjectStore, keyring: DataKeyring, key: str) -> bytes:
    return EncryptedObjectStore(copy, keyring, copy.root.parent / "scratch").get_bytes(key)


def _ps_args() -> str:
    return subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True,
                          check=True).stdout


def test_lifecycle_against_the_real_data_plane(
    fresh_database: str, pg_admin_url: str, seaweed_server: SeaweedServer, tmp_path: Path,
    caplog: pytest.LogCaptureFixture
) -> None:
    settings = ControlPlaneSettings(
        s3_endpoint=seaweed_server.s3_endpoint, s3_master=seaweed_server.master_address,
        s3_admin_access_key=seaweed_server.admin_credentials.access_key,
        s3_admin_secret_key=seaweed_server.admin_credentials.secret_key,
        database_url=fresh_database,
        admin_database_url=pg_admin_url,
        admin_token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(),
        state_dir=tmp_path / "state",
        data_plane_python=Path(sys.executable),
        data_plane_port_range=_free_range(),
    )
    slug, other = f"life{time.time_ns() % 10**8}", f"peer{time.time_ns() % 10**8}"
    try:
        _lifecycle(settings, slug, other, fresh_database, pg_admin_url, tmp_path, caplog,
                   seaweed_server)
    finally:  # a failed run must not leave data planes (or their clamd) behind
        for tenant_dir in (tmp_path / "state" / "tenants").glob("*/"):
            paths = TenantPaths(tenant_dir)
            for name, marker in process_markers(paths).items():
                processes.stop_pid_file(paths.pid_file(name), marker, grace_s=5)
        for s in (slug, other):  # nor their Unix accounts
            if (account := unix_accounts.lookup(s)) is not None:
                processes.stop_owned_by(account.uid, grace_s=5)
                unix_accounts.remove(s)


def _lifecycle(settings: ControlPlaneSettings, slug: str, other: str, fresh_database: str,
               pg_admin_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
               s3: SeaweedServer) -> None:
    with TestClient(create_app(settings)) as api:
        for s in (slug, other):
            assert api.post("/v1/tenants", json={"slug": s, "display_name": s},
                            headers=AUTH).status_code == 202
        tenant = wait_for_state(api, slug, "ACTIVE", timeout=300)
        peer = wait_for_state(api, other, "ACTIVE", timeout=300)
        endpoint = tenant["endpoint"]
        recorded = tenant["audit_public_key"]  # the key its checkpoints are signed with
        assert recorded and tenant["audit_key_id"] == key_id_of(recorded)
        # HTTPS through the tenant's gateway, with the certificate the control plane's CA
        # issued for it: the CA is public, the fingerprint is in the tenant record
        ca = api.get("/v1/tls/ca")
        assert ca.status_code == 200 and "BEGIN CERTIFICATE" in ca.text
        _TRUST["ca"] = tls.client_context(ca.text)
        assert endpoint.startswith("https://127.0.0.1:")
        port = int(endpoint.rsplit(":", 1)[1])
        presented = ssl.get_server_certificate(("127.0.0.1", port))
        assert tls.fingerprint(presented) == tenant["tls_fingerprint"]
        assert tls.signed_by(presented, ca.text)
        assert tenant["tls_fingerprint"] != peer["tls_fingerprint"]
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{endpoint}/healthz", timeout=30)  # the system's CAs don't know it

        def issue(s: str) -> dict[str, Any]:
            issued = api.post(f"/v1/tenants/{s}/vendor-keys",
                              json={"scopes": ["ingest", "read", "audit"]}, headers=AUTH)
            assert issued.status_code == 201, issued.text
            body: dict[str, Any] = issued.json()
            return body

        key, peer_key = issue(slug)["key"], issue(other)
        secrets = SopsAgeSecretStore(tmp_path / "state" / "secrets").get(slug)
        plaintexts = [*secrets.values(), key, peer_key["key"]]
        # tenant isolation: the peer's key is refused on every endpoint of this tenant
        foreign = {"Authorization": f"Bearer {peer_key['key']}"}
        for method, path, body in (
                ("GET", "/v1/documents", None), ("GET", "/v1/batches", None),
                ("GET", "/v1/audit/verify", None), ("GET", "/v1/audit/events", None),
                ("POST", "/v1/search", {"query": "incident"}),
                ("POST", "/v1/audit/export", None), ("GET", f"/v1/batches/{uuid4()}", None)):
            refused = httpx.request(method, f"{endpoint}{path}", headers=foreign, json=body,
                                    timeout=30, verify=_trust())
            assert refused.status_code == 401, (path, refused.text)
            assert refused.json()["error"]["code"] == "UNAUTHENTICATED"
        refused = _submit(endpoint, peer_key["key"], SAMPLES / "incident-response-runbook.md")
        assert refused.status_code == 401, refused.text

        first = _submit(endpoint, key, SAMPLES / "incident-response-runbook.md")
        assert first.status_code == 202, first.text
        [doc] = first.json()["documents"]
        assert doc["status"] in ("ACCEPTED", "PROCESSING", "INDEXED"), doc

        # the tenant's own clamd scans: EICAR is quarantined; only an admin purges it
        eicar = _submit(endpoint, key, Path("eicar.txt"), EICAR)
        [held] = eicar.json()["documents"]
        assert (held["status"], held["reason"]) == ("QUARANTINED", "MALWARE_DETECTED"), held
        held_id = held["document_id"]
        listed = api.get(f"/v1/tenants/{slug}/quarantine", headers=AUTH)
        assert listed.status_code == 200, listed.text
        assert [d["document_id"] for d in listed.json()["documents"]] == [held_id]
        vendor = {"Authorization": f"Bearer {key}"}
        assert httpx.post(f"{endpoint}/v1/quarantine/{held_id}/purge", headers=vendor,
                          timeout=30, verify=_trust()).status_code in (404, 405)
        # the vendor listener has no control route at all: the control plane calls them on
        # the API's own socket
        refused = httpx.post(f"{endpoint}/control/v1/quarantine/{held_id}/purge",
                             headers={**vendor, "X-Frostbyte-Actor": "dana"}, timeout=30,
                             verify=_trust())
        assert refused.status_code == 404, refused.text
        purged = api.post(f"/v1/tenants/{slug}/quarantine/{held_id}/purge", headers=AUTH)
        assert purged.json() == {"document_id": held_id, "status": "PURGED"}, purged.text
        [event] = _vendor_get(endpoint, key, f"/v1/audit/events?document_id={held_id}"
                              "&type=document.purged").json()["events"]
        assert event["actor"] == "admin:admin"

        # suspend: every vendor call is refused, the processes and the data stay
        assert api.post(f"/v1/tenants/{slug}/suspend", headers=AUTH).json()["state"] == (
            "SUSPENDED")
        for path in ("/v1/documents", "/v1/batches", "/v1/audit/verify"):
            refused = _vendor_get(endpoint, key, path)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["code"] == "TENANT_SUSPENDED"
        refused = _submit(endpoint, key, SAMPLES / "incident-response-runbook.md")
        assert refused.json()["error"]["code"] == "TENANT_SUSPENDED"
        assert httpx.get(f"{endpoint}/healthz", timeout=30,
                         verify=_trust()).status_code == 200
        assert _vendor_get(peer["endpoint"], peer_key["key"]).status_code == 200  # unaffected

        resumed = api.post(f"/v1/tenants/{slug}/resume", headers=AUTH).json()
        assert resumed["state"] == "ACTIVE" and resumed["endpoint"] == endpoint
        listed = _vendor_get(endpoint, key)
        assert listed.status_code == 200, listed.text
        assert doc["document_id"] in listed.text  # documents intact

        # a config patch takes effect on the running data plane
        patched = api.patch(f"/v1/tenants/{slug}/config",
                            json={"intake": {"mime_allowlist": ["text/plain"]}}, headers=AUTH)
        assert patched.status_code == 202, patched.text
        wait_for_state(api, slug, "ACTIVE", timeout=300)
        second = _submit(endpoint, key, SAMPLES / "incident-response-runbook.md")
        assert second.status_code == 202, second.text
        assert [(d["status"], d.get("reason")) for d in second.json()["documents"]] == [
            ("REJECTED", "MIME_NOT_ALLOWED")]

        # a checkpoint signed before the rotation (an inclusion proof needs one)
        proof = _vendor_get(endpoint, key, "/v1/audit/proof/1")
        assert proof.status_code == 200, proof.text
        before = proof.json()["checkpoint"]
        assert before["public_key"] == recorded

        # rotation: every credential re-issued; old key refused, new works, documents intact
        rotated = api.post(f"/v1/tenants/{slug}/rotate-secrets", headers=AUTH)
        assert rotated.status_code == 202, rotated.text
        job_id, [new] = rotated.json()["job_id"], rotated.json()["vendor_keys"]
        assert _vendor_get(endpoint, key).status_code == 401
        key = new["key"]
        # ... but not the audit key: the checkpoint signed before still verifies, and the
        # rotation is an event of the tenant's chain (the job, by the admin, no secret)
        verified = _vendor_get(endpoint, key, "/v1/audit/verify").json()
        assert verified["ok"] is True and verified["checkpoints"] >= 1, verified
        again = _vendor_get(endpoint, key, f"/v1/audit/consistency?from={before['tree_size']}"
                            f"&to={verified['events']}")
        assert again.status_code == 200 and again.json()["from_checkpoint"] == before
        assert api.get(f"/v1/tenants/{slug}", headers=AUTH).json()["audit_public_key"] == (
            recorded)
        [rotation] = _vendor_get(endpoint, key, "/v1/audit/events?type=secrets.rotated"
                                 ).json()["events"]
        assert (rotation["actor"], rotation["payload"]["job_id"]) == ("admin:admin", job_id)
        assert rotation["payload"]["audit_key_id"] == key_id_of(recorded)
        assert "db_password" in rotation["payload"]["reissued"]
        assert new["key_id"] in {k["new_key_id"] for k in rotation["payload"]["vendor_keys"]}
        assert key not in json.dumps(rotation)
        plaintexts += [*SopsAgeSecretStore(tmp_path / "state" / "secrets").get(slug).values(),
                       key]
        running = _ps_args()  # both data planes up: no secret in any process's arguments
        assert not [v for v in plaintexts if v in running]
        after = _vendor_get(endpoint, key)
        assert after.status_code == 200 and doc["document_id"] in after.text
        # ... the certificate too: the record names the new one, and it is the one served
        reissued = api.get(f"/v1/tenants/{slug}", headers=AUTH).json()["tls_fingerprint"]
        assert reissued not in (None, tenant["tls_fingerprint"])
        assert tls.fingerprint(ssl.get_server_certificate(("127.0.0.1", port))) == reissued

        # a revoked key is refused at once
        spare = issue(slug)
        assert _vendor_get(endpoint, spare["key"]).status_code == 200
        assert api.delete(f"/v1/tenants/{slug}/vendor-keys/{spare['key_id']}",
                          headers=AUTH).status_code == 200
        assert _vendor_get(endpoint, spare["key"]).status_code == 401

        # the consistency check through the control plane: the three stores agree, and a
        # repair with nothing to repair changes nothing
        checked = api.get(f"/v1/tenants/{slug}/consistency", headers=AUTH)
        assert checked.status_code == 200, checked.text
        assert checked.json()["clean"] is True, checked.json()
        repaired = api.post(f"/v1/tenants/{slug}/consistency/repair", headers=AUTH).json()
        assert repaired["clean"] is True and repaired["audit_seq"] is None

        # a copy of the tenant's bucket taken before deprovisioning (a backup, a forgotten
        # snapshot): readable now with the tenant's data keys — old and rotated ones. The
        # first document is parsed by then (its canonical object is in the bucket).
        deadline = time.monotonic() + 300
        while (status := {d["document_id"]: d["status"] for d in _vendor_get(
                endpoint, key).json()["documents"]}.get(doc["document_id"])) != "INDEXED":
            assert time.monotonic() < deadline, f"the first document is still {status}"
            time.sleep(1)
        secrets = SopsAgeSecretStore(tmp_path / "state" / "secrets").get(slug)
        copy = _copy_bucket(s3, slug, secrets, tmp_path / "bucket-copy")
        keyring = DataKeyring.parse(secrets["object_data_keys"])
        assert len(keyring.ids) == 2  # the first key and rotation's
        readable = {key: _open_copy(copy, keyring, key) for key in copy.list()}
        assert any(key.startswith("canonical/") and body.startswith(b"{")
                   for key, body in readable.items()), sorted(readable)
        peer_keys = DataKeyring.parse(
            SopsAgeSecretStore(tmp_path / "state" / "secrets").get(other)["object_data_keys"])

        # deprovision: the endpoint closes before the call answers, then all is destroyed
        assert api.post(f"/v1/tenants/{slug}/deprovision", headers=AUTH).json()["state"] == (
            "DEPROVISIONING")
        with pytest.raises(httpx.TransportError):
            _vendor_get(endpoint, key)
        wait_for_state(api, slug, "DEPROVISIONED", timeout=120)
        events = api.get(f"/v1/tenants/{slug}/events", headers=AUTH).json()["events"]
        assert [(e["transition"], e["actor"]) for e in events] == [
            (1, "admin"), (2, "control-plane"), (3, "control-plane"), (7, "admin"),
            (8, "admin"), (6, "admin"), (3, "control-plane"), (9, "admin"),
            (12, "control-plane")]
        gone = api.get(f"/v1/tenants/{slug}/consistency", headers=AUTH)
        assert gone.status_code == 409 and gone.json()["error"]["code"] == "TENANT_NOT_ACTIVE"
        verified = events[-1]["detail"]["verified_gone"]
        assert verified and all(verified.values()), verified
        assert verified["bucket"] and verified["object_store_key"]  # on the S3 server
        # crypto-shred: the copy is unreadable with anything left on this machine — the
        # tenant's secrets and age key are gone, no file holds its data keys, another
        # tenant's keys do not open it, and its S3 key is refused
        assert not SopsAgeSecretStore(tmp_path / "state" / "secrets").exists(slug)
        shredded = [keyring.key(kid) for kid in keyring.ids]
        leftovers = [p for root in (tmp_path / "state", s3.root) for p in root.rglob("*")
                     if p.is_file()]
        for data_key in shredded:
            for form in (data_key, base64.b64encode(data_key), base64.urlsafe_b64encode(data_key)):
                assert not [p for p in leftovers if form in p.read_bytes()]
        for key in readable:
            with pytest.raises((UnknownDataKey, ObjectTampered)):
                _open_copy(copy, peer_keys, key)
        tenant_client = Minio(s3.s3_endpoint.removeprefix("http://"),
                              secrets["object_store_access_key"],
                              secrets["object_store_secret_key"], secure=False)
        with pytest.raises(S3Error):
            list(tenant_client.list_objects(f"fb-{slug}", recursive=True))
        # its signed audit trail was archived before anything was destroyed, and verifies
        # offline (library and CLI) with the export's head hash recorded in the event
        archived = events[-1]["detail"]["audit_archive"]
        archive = Path(archived["archive"])
        assert archive.parent == tmp_path / "state" / "archive" / slug
        assert archive.name.startswith("audit-export-") and archive.stat().st_mode & 0o777 == 0o600
        assert (archived["audit_key_id"], archived["audit_key"]) == (
            key_id_of(recorded), "recorded at provisioning")
        verdict = verify_export_file(archive, trusted_public_key=recorded)
        assert verdict.ok, verdict.problems
        refused_export = verify_export_file(
            archive, trusted_public_key=public_key_text(Ed25519PrivateKey.generate()))
        assert not refused_export.ok and "signed by another key" in str(refused_export.problems)
        assert verdict.head_hash == archived["head_hash"] and verdict.events == archived["events"]
        assert verdict.checkpoint_size == verdict.events > 5
        trail = [json.loads(line) for line in archive.read_text().splitlines()[1:]]
        types = {e["event_type"] for e in trail}
        assert {"tenant.suspended", "tenant.resumed", "batch.received",
                "secrets.rotated"} <= types, types
        cli = CliRunner().invoke(cli_app, ["audit", "verify-export", str(archive)],
                                 obj=Deps(width=200))
        assert cli.exit_code == 0, cli.output
        assert all(k["revoked_at"] for k in api.get(
            f"/v1/tenants/{slug}/vendor-keys", headers=AUTH).json()["vendor_keys"])
        # the peer tenant still serves
        assert _vendor_get(peer["endpoint"], peer_key["key"]).status_code == 200
        api.post(f"/v1/tenants/{other}/deprovision", headers=AUTH)
        wait_for_state(api, other, "DEPROVISIONED", timeout=120)

    # no plaintext secret (credentials, vendor keys) in the data directories, the logs, the
    # registry's records (events, jobs, steps) or any process's arguments
    ps = _ps_args()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    with psycopg.connect(fresh_database) as conn:
        records = "".join(str(row) for table in ("tenant_events", "tenant_jobs",
                                                 "tenant_job_steps", "vendor_keys", "tenants")
                          for row in conn.execute(f"SELECT * FROM {table}").fetchall())
    for value in plaintexts:
        assert value not in ps and value not in records and value not in caplog.text
        assert value.encode() not in on_disk

    with psycopg.connect(pg_admin_url) as conn:
        for s in (slug, other):
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (role_name(s),)).fetchone() is None
            assert conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
                                (f"%\\_{s}",)).fetchall() == []
    assert not (tmp_path / "state" / "tenants" / slug).exists()
