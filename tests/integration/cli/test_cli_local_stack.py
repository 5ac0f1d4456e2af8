"""The ``frostbyte`` CLI as a subprocess against a real local stack: local up --json, a
tenant with a data plane, a key, a batch (then the same batch again: duplicates only, exit 0),
search with a proof, audit verify, a malware file quarantined by the tenant's own clamd, local
down (which stops that clamd too)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from control_plane.providers.local import port_free
from tests.intake_hostile_files import EICAR

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "samples"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    return next(p for p in range(18400, 18500) if port_free("127.0.0.1", p))


def test_cli_drives_a_local_stack(fresh_database: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           "FROSTBYTE_STATE_DIR": str(tmp_path / "state"), "DATABASE_URL": fresh_database,
           "COLUMNS": "200"}

    def cli(*args: str, check: bool = True, extra: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([sys.executable, "-m", "frostbyte_cli", *args], cwd=ROOT,
                             env={**env, **(extra or {})}, capture_output=True, text=True,
                             timeout=600)
        if check:
            assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        return out

    up = json.loads(cli("local", "up", "--json", "--port", str(_free_port())).stdout)
    try:
        assert up["control_plane_url"].startswith("http://127.0.0.1:")
        env["FROSTBYTE_URL"] = up["control_plane_url"]  # token: from the state dir
        slug = f"cli{uuid.uuid4().hex[:8]}"
        tenant = json.loads(cli("tenants", "create", slug, "--json").stdout)
        assert tenant["state"] == "ACTIVE" and tenant["endpoint"]
        assert slug in cli("tenants", "list").stdout
        key = json.loads(cli("keys", "create", slug, "--scope", "ingest", "--scope", "read",
                             "--scope", "audit", "--json").stdout)
        vendor = {"FROSTBYTE_ENDPOINT": key["endpoint"], "FROSTBYTE_KEY": key["key"]}
        files = [str(SAMPLES / "parking-permit-faq.txt"),
                 str(SAMPLES / "incident-response-runbook.md")]

        first = json.loads(cli("batch", "submit", *files, "--json", extra=vendor).stdout)
        assert [d["status"] for d in first["documents"]] == ["INDEXED", "INDEXED"]
        again = cli("batch", "submit", *files, "--json", extra=vendor)  # exit 0: duplicates
        assert {(d["status"], d["reason"]) for d in json.loads(again.stdout)["documents"]} == {
            ("REJECTED", "DUPLICATE")}

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
    assert "control plane" in down.stdout
    assert f"{slug} clamd" in down.stdout and not _running_with(str(clamd_config))


def _running_with(marker: str) -> bool:
    """Is a process running whose command line contains ``marker``?"""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False
