"""Backup and restore of a local tenant through the control-plane API, with the real local
provider, the real data plane, PostgreSQL and the S3 server (issue 18, must show):

a tenant with real documents is backed up, deprovisioned (crypto-shred of its own keys), and
restored as a new tenant, which answers the same search with the same chunk hashes; its audit
chain — the source's, continued — verifies on the data plane and offline against the key the
control plane recorded, and ends with ``tenant.restored`` naming the source and the backup.
An archive with one byte flipped is refused before anything is created, and purging the
backups destroys the backup key so that a copy of an archive no longer opens."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from control_plane.adapters import processes, unix_accounts
from control_plane.adapters.seaweedfs import SeaweedServer
from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.api.app import create_app
from control_plane.providers.local import TenantPaths, port_free, process_markers, role_name
from control_plane.settings import ControlPlaneSettings
from frostbyte_common import tls
from frostbyte_common.audit_export import verify_export_lines

from .test_cp_api import AUTH, TOKEN, wait_for_state

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = (ROOT / "samples" / "incident-response-runbook.md",
             Path("/work/shared/corpus/real/example-steelJIS-datasheet.html"))
QUERIES = ("who is notified when a security incident is declared",
           "chemical composition of the steel")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _free_range(size: int = 10) -> str:
    for start in range(20500, 21500, size):
        if all(port_free("127.0.0.1", p) for p in range(start, start + size)):
            return f"{start}-{start + size - 1}"
    raise RuntimeError("no free port range")


class Vendor:
    """A vendor's calls to one tenant endpoint, trusting the control plane's CA."""

    def __init__(self, endpoint: str, key: str, ca_pem: str) -> None:
        self.endpoint, self.headers = endpoint, {"Authorization": f"Bearer {key}"}
        self.verify = tls.client_context(ca_pem)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.endpoint}{path}", headers=self.headers,
                             timeout=120, verify=self.verify, **kwargs)

    def submit(self, path: Path) -> dict[str, Any]:
        data = path.read_bytes()
        manifest = {"client_ref": f"backup-{path.name}", "files": [
            {"name": path.name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}]}
        answer = self.call("POST", "/v1/batches", data={"manifest": json.dumps(manifest)},
                           files=[("files", (path.name, data))])
        assert answer.status_code == 202, answer.text
        [document] = answer.json()["documents"]
        return dict(document)

    def indexed(self, ids: set[str], timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while True:
            docs = self.call("GET", "/v1/documents?limit=100").json()["documents"]
            status = {d["document_id"]: d["status"] for d in docs if d["document_id"] in ids}
            if set(status) == ids and set(status.values()) == {"INDEXED"}:
                return
            assert time.monotonic() < deadline, status
            time.sleep(1)

    def search(self, query: str) -> tuple[list[str], list[str]]:
        answer = self.call("POST", "/v1/search", json={"query": query, "top_k": 5})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return body["proof"]["chunk_hashes"], [h["chunk_id"] for h in body["hits"]]


def _key(api: TestClient, slug: str) -> str:
    issued = api.post(f"/v1/tenants/{slug}/vendor-keys",
                      json={"scopes": ["ingest", "read", "audit"]}, headers=AUTH)
    assert issued.status_code == 201, issued.text
    return str(issued.json()["key"])


def test_backup_deprovision_restore_answers_the_same_and_keeps_the_chain(
    fresh_database: str, pg_admin_url: str, seaweed_server: SeaweedServer, tmp_path: Path
) -> None:
    settings = ControlPlaneSettings(
        s3_endpoint=seaweed_server.s3_endpoint, s3_master=seaweed_server.master_address,
        s3_admin_access_key=seaweed_server.admin_credentials.access_key,
        s3_admin_secret_key=seaweed_server.admin_credentials.secret_key,
        database_url=fresh_database, admin_database_url=pg_admin_url,
        admin_token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(),
        state_dir=tmp_path / "state", data_plane_python=Path(sys.executable),
        data_plane_port_range=_free_range(), backup_check_interval_s=0)
    stamp = time.time_ns() % 10**8
    slugs = (f"bsrc{stamp}", f"bdst{stamp}", f"bbad{stamp}", f"bbad2{stamp}")
    try:
        _backup_and_restore(settings, *slugs, pg_admin_url=pg_admin_url, tmp_path=tmp_path)
    finally:  # a failed run must not leave data planes, clamds or accounts behind
        for tenant_dir in (tmp_path / "state" / "tenants").glob("*/"):
            paths = TenantPaths(tenant_dir)
            for name, marker in process_markers(paths).items():
                processes.stop_pid_file(paths.pid_file(name), marker, grace_s=5)
        for s in slugs:
            if (account := unix_accounts.lookup(s)) is not None:
                processes.stop_owned_by(account.uid, grace_s=5)
                unix_accounts.remove(s)


def _backup_and_restore(settings: ControlPlaneSettings, source: str, restored: str,
                        refused: str, refused_again: str, *, pg_admin_url: str,
                        tmp_path: Path) -> None:
    secrets = SopsAgeSecretStore(tmp_path / "state" / "secrets")
    with TestClient(create_app(settings)) as api:
        assert api.post("/v1/tenants", json={"slug": source, "display_name": "Source"},
                        headers=AUTH).status_code == 202
        tenant = wait_for_state(api, source, "ACTIVE", timeout=300)
        ca_pem = api.get("/v1/tls/ca").text
        source_key = _key(api, source)
        vendor = Vendor(tenant["endpoint"], source_key, ca_pem)
        ids = {vendor.submit(path)["document_id"] for path in DOCUMENTS}
        vendor.indexed(ids)
        answers = {q: vendor.search(q) for q in QUERIES}
        assert all(hashes for hashes, _ in answers.values()), answers
        source_events = vendor.call("GET", "/v1/audit/verify").json()
        assert source_events["ok"] is True, source_events

        made = api.post(f"/v1/tenants/{source}/backups", headers=AUTH)
        assert made.status_code == 201, made.text
        backup = made.json()
        archive = Path(backup["path"])
        assert archive.is_file() and archive.stat().st_mode & 0o777 == 0o600
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == backup["sha256"]
        assert backup["manifest"]["objects"] >= 2 * len(DOCUMENTS)  # raw + canonical each
        assert backup["manifest"]["audit_chain"] == source
        # the export taken for the backup is itself an event; the dump holds it
        assert backup["manifest"]["audit_events"] >= source_events["events"]
        for plaintext in (b"PGDMP", b"incident", b"BEGIN PRIVATE KEY"):
            assert plaintext not in archive.read_bytes()
        listed = api.get(f"/v1/tenants/{source}/backups", headers=AUTH).json()["backups"]
        assert [b["backup_id"] for b in listed] == [backup["backup_id"]]
        # the backup is an event of the tenant's lifecycle chain, by the admin who asked
        [made_event] = [e for e in api.get(f"/v1/tenants/{source}/events", headers=AUTH
                                           ).json()["events"] if e["action"] == "backup_created"]
        assert made_event["detail"]["backup_id"] == backup["backup_id"]
        assert made_event["detail"]["sha256"] == backup["sha256"]

        # one flipped byte: refused before anything is made
        flipped = bytearray(archive.read_bytes())
        flipped[len(flipped) // 2] ^= 0x01
        tampered = tmp_path / "tampered.tar.age"
        tampered.write_bytes(bytes(flipped))
        answer = api.post("/v1/tenants/restore", headers=AUTH,
                          json={"slug": refused, "archive": str(tampered)})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "BACKUP_INVALID"
        assert api.get(f"/v1/tenants/{refused}", headers=AUTH).status_code == 404
        assert not secrets.exists(refused)
        assert not (tmp_path / "state" / "tenants" / refused).exists()
        with psycopg.connect(pg_admin_url) as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (role_name(refused),)).fetchone() is None

        # deprovision: the tenant's own keys are shredded; its backups and backup key stay
        kept = tmp_path / "kept-copy.tar.age"
        shutil.copyfile(archive, kept)
        assert api.post(f"/v1/tenants/{source}/deprovision",
                        headers=AUTH).status_code == 202
        wait_for_state(api, source, "DEPROVISIONED", timeout=300)
        assert not secrets.exists(source)
        assert [b["backup_id"] for b in api.get(f"/v1/tenants/{source}/backups",
                                                headers=AUTH).json()["backups"]] == [
            backup["backup_id"]]

        started = api.post("/v1/tenants/restore", headers=AUTH,
                           json={"slug": restored, "backup_id": backup["backup_id"]})
        assert started.status_code == 202, started.text
        assert started.json()["state"] in ("REQUESTED", "PROVISIONING")
        new = wait_for_state(api, restored, "ACTIVE", timeout=600)
        assert new["tls_fingerprint"] != tenant["tls_fingerprint"]  # a certificate of its own
        # the carried audit key is the one recorded for the new tenant
        assert new["audit_public_key"] == tenant["audit_public_key"]
        assert api.get(f"/v1/tenants/{restored}/events/verify",
                       headers=AUTH).json()["ok"] is True
        assert secrets.get(restored)["db_password"] != ""  # credentials of its own

        # the source's vendor key was in the dump: revoked, the new tenant's keys are its own
        stale = Vendor(new["endpoint"], source_key, ca_pem).call("GET", "/v1/documents")
        assert stale.status_code == 401, stale.text
        again = Vendor(new["endpoint"], _key(api, restored), ca_pem)
        docs = again.call("GET", "/v1/documents?limit=100").json()["documents"]
        assert {d["document_id"] for d in docs} == ids
        assert {d["status"] for d in docs} == {"INDEXED"}
        for query, (hashes, chunk_ids) in answers.items():
            assert again.search(query) == (hashes, chunk_ids), query
        # an object written before the backup still decrypts (the canonical document)
        first = sorted(ids)[0]
        assert again.call("GET", f"/v1/documents/{first}").status_code == 200

        verified = again.call("GET", "/v1/audit/verify").json()
        assert verified["ok"] is True, verified
        assert verified["events"] > backup["manifest"]["audit_events"]
        [event] = again.call("GET", "/v1/audit/events?type=tenant.restored").json()["events"]
        assert event["payload"]["source_tenant"] == source
        assert event["payload"]["restored_as"] == restored
        assert event["payload"]["backup_id"] == backup["backup_id"]
        assert event["payload"]["archive_sha256"] == backup["sha256"]
        assert event["payload"]["source_head_hash"] == backup["manifest"]["audit_head_hash"]
        assert source_key.split("_")[1] in event["payload"]["revoked_key_ids"]
        # offline: the export of the continued chain verifies against the recorded key
        export = again.call("POST", "/v1/audit/export")
        assert export.status_code == 200, export.text
        offline = verify_export_lines(export.content.splitlines(keepends=True),
                                      trusted_public_key=new["audit_public_key"])
        assert offline.ok, offline.problems
        # a new document lands in the restored tenant (new objects, its own current key)
        extra = again.submit(ROOT / "samples" / "parking-permit-faq.txt")
        again.indexed({extra["document_id"]})

        # purge: the backups and the backup key go; a copy kept elsewhere no longer opens
        purged = api.delete(f"/v1/tenants/{source}/backups", headers=AUTH)
        assert purged.status_code == 200, purged.text
        assert purged.json()["backup_key_destroyed"] is True and not archive.exists()
        actions = [e["action"] for e in api.get(f"/v1/tenants/{source}/events",
                                                headers=AUTH).json()["events"]]
        assert actions[-2:] == ["backup_deleted", "backups_purged"], actions
        assert api.get(f"/v1/tenants/{source}/events/verify", headers=AUTH).json()["ok"] is True
        answer = api.post("/v1/tenants/restore", headers=AUTH,
                          json={"slug": refused_again, "archive": str(kept)})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "BACKUP_INVALID"

        # the restored tenant deprovisions cleanly: its archived export is of its chain
        assert api.post(f"/v1/tenants/{restored}/deprovision",
                        headers=AUTH).status_code == 202
        gone = wait_for_state(api, restored, "DEPROVISIONED", timeout=300)
        assert gone["state"] == "DEPROVISIONED"
