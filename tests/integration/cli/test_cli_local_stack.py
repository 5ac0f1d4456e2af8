"""The ``frostbyte`` CLI as a subprocess against a real local stack: local up --json, a
tenant with a data plane, a key, a batch (then the same batch again: duplicates only, exit 0),
search with a proof, audit verify, a malware file quarantined by the tenant's own clamd, local
down (which stops that clamd too)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from minio import Minio

from control_plane.adapters import unix_accounts
from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.providers.local import port_free
from data_plane.adapters.objectstore_encrypted import EncryptedObjectStore
from data_plane.adapters.objectstore_s3 import S3ObjectStore
from data_plane.domain.object_keys import raw_key
from frostbyte_common import tls
from frostbyte_common.data_keys import DataKeyring
from tests.intake_hostile_files import EICAR

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "samples"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    return next(p for p in range(18400, 18500) if port_free("127.0.0.1", p))


def test_cli_drives_a_local_stack(fresh_database: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           "FROSTBYTE_STATE_DIR": str(tmp_path / "state"), "DATABASE_URL": fresh_database,
           "COLUMNS": "200",
           # the tenant's clamd has the project's test signatures only (tests/conftest.py)
           "FROSTBYTE_CP_CLAMD_ALLOW_TEST_SIGNATURES": "true"}

    def cli(*args: str, check: bool = True, extra: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([sys.executable, "-m", "frostbyte_cli", *args], cwd=ROOT,
                             env={**env, **(extra or {})}, capture_output=True, text=True,
                             timeout=600)
        if check:
            assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        return out

    slug = f"cli{uuid.uuid4().hex[:8]}"
    up = json.loads(cli("local", "up", "--json", "--port", str(_free_port())).stdout)
    try:
        assert up["control_plane_url"].startswith("http://127.0.0.1:")
        env["FROSTBYTE_URL"] = up["control_plane_url"]  # token: from the state dir
        tenant = json.loads(cli("tenants", "create", slug, "--json").stdout)
        assert tenant["state"] == "ACTIVE" and tenant["endpoint"]
        assert slug in cli("tenants", "list").stdout
        key = json.loads(cli("keys", "create", slug, "--scope", "ingest", "--scope", "read",
                             "--scope", "audit", "--json").stdout)
        # HTTPS with verification on: the CLI trusts the CA it fetched from the control plane
        # (here explicitly; on the stack's own machine it also finds it in the state dir)
        assert key["endpoint"].startswith("https://127.0.0.1:")
        ca_file = tmp_path / "frostbyte-ca.pem"
        fetched = cli("tls", "ca", "--out", str(ca_file))
        assert "CA fingerprint sha256:" in fetched.stderr
        vendor = {"FROSTBYTE_ENDPOINT": key["endpoint"], "FROSTBYTE_KEY": key["key"],
                  "FROSTBYTE_CA_CERT": str(ca_file)}
        files = [str(SAMPLES / "parking-permit-faq.txt"),
                 str(SAMPLES / "incident-response-runbook.md")]
        # a CA the endpoint's certificate does not chain to is refused before any upload
        stranger = tmp_path / "stranger-ca.pem"
        stranger.write_text(tls.new_authority("not ours").cert_pem)
        refused = cli("batch", "submit", *files, check=False,
                      extra={**vendor, "FROSTBYTE_CA_CERT": str(stranger)})
        assert refused.returncode == 7 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr, \
            refused.stderr[-2000:]

        first = json.loads(cli("batch", "submit", *files, "--json", extra=vendor).stdout)
        assert [d["status"] for d in first["documents"]] == ["INDEXED", "INDEXED"]
        # another client_ref is another manifest: a new batch, whose files are duplicates
        # (the same command again would replay the first batch instead); exit 0
        again = cli("batch", "submit", *files, "--json", "--client-ref", "second send",
                    extra=vendor)
        assert {(d["status"], d["reason"]) for d in json.loads(again.stdout)["documents"]} == {
            ("REJECTED", "DUPLICATE")}

        _bucket_holds_only_ciphertext(tmp_path / "state", slug, SAMPLES / "parking-permit-faq.txt")

        found = json.loads(cli("search", "electric vehicle charging bays", "--json",
                               extra=vendor).stdout)
        assert found["hits"][0]["document_name"] == "parking-permit-faq.txt"
        assert found["proof"]["index"]["dimension"] == 384
        assert "intact" in cli("audit", "verify", extra=vendor).stdout

        # the tenant's own clamd scans: EICAR is held, and only the admin sees it to act
        eicar = tmp_path / "eicar.txt"
        eicar.write_bytes(EICAR)
        held = cli("batch", "submit", str(eicar), "--json", check=False, extra=vendor)
        [doc] = json.loads(held.stdout)["documents"]
        assert (doc["status"], doc["reason"]) == ("QUARANTINED", "MALWARE_DETECTED")
        listed = json.loads(cli("tenants", "quarantine", "list", slug, "--json").stdout)
        assert [d["document_id"] for d in listed["documents"]] == [doc["document_id"]]
        clamd_config = tmp_path / "state" / "tenants" / slug / "clamd" / "clamd.conf"
        assert _running_with(str(clamd_config))
    finally:
        down = cli("local", "down", check=False)
        unix_accounts.remove(slug)  # the tenant stays provisioned: its account is ours to drop
    assert "control plane" in down.stdout
    assert f"{slug} clamd" in down.stdout and not _running_with(str(clamd_config))
    assert "SeaweedFS" in down.stdout


def _bucket_holds_only_ciphertext(state: Path, slug: str, sample: Path) -> None:
    """The tenant's raw files and canonical JSON are in its own bucket on the stack's S3
    server, read here with the tenant's own key: no line of the sample is in any object, and
    the tenant's data keys (SOPS) turn the raw object back into the sample's bytes."""
    secrets = SopsAgeSecretStore(state / "secrets").get(slug)
    stack = json.loads((state / "stack.json").read_text())
    endpoint = f"127.0.0.1:{stack['s3']['ports']['s3']}"
    tenant = Minio(endpoint, secrets["object_store_access_key"],
                   secrets["object_store_secret_key"], secure=False)
    bucket = f"fb-{slug}"
    keys = [o.object_name for o in tenant.list_objects(bucket, recursive=True)]
    raw = raw_key(hashlib.sha256(sample.read_bytes()).hexdigest())  # no file name in it
    assert raw in keys and any(k and k.startswith("canonical/") for k in keys), keys
    lines = [line.encode() for line in sample.read_text().splitlines() if len(line) > 20]
    for key in keys:
        body = tenant.get_object(bucket, key).read()
        assert not [line for line in lines if line in body], key
    store = S3ObjectStore(f"http://{endpoint}", bucket, secrets["object_store_access_key"],
                          secrets["object_store_secret_key"])
    decrypted = EncryptedObjectStore(store, DataKeyring.parse(secrets["object_data_keys"]),
                                     state / "scratch")
    assert decrypted.get_bytes(raw) == sample.read_bytes()


def _running_with(marker: str) -> bool:
    """Is a process running whose command line contains ``marker``?"""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False
