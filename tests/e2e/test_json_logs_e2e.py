"""Every log line both planes write is one JSON object (issue 18, "Logs").

A real local stack through the CLI, as an operator runs it (`frostbyte local up`): the
control plane as a detached process, a tenant whose data plane is the local provider's
processes (API, worker and its parser child, clamd, the nginx gateway, the one-shot migrate
and add-vendor-key), a batch ingested and a search answered, a vendor call with its own
``X-Request-ID``; then `local down`. Every line of every file in ``<state>/logs/`` and
``<state>/tenants/<slug>/logs/`` is parsed: each is a JSON object with ``time`` (ISO-8601),
``level`` and ``event``; the tenant's lines name the tenant; HTTP access lines carry the
request id (the vendor's own, end to end from the gateway to the API); the worker's lines
about the document carry its document and batch ids; each plane has access lines; no
secret of the tenant, no vendor key and no admin token is in any line.
(PostgreSQL's and SeaweedFS's own logs, under ``pg/`` and ``s3/``, are theirs: not read.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from control_plane.adapters import unix_accounts
from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.providers.local import port_free
from frostbyte_common import tls

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "parking-permit-faq.txt"
LEVELS = {"debug", "info", "warning", "error", "critical"}

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _free_port() -> int:
    return next(p for p in range(18500, 18600) if port_free("127.0.0.1", p))


def test_every_line_of_every_log_is_a_json_object(fresh_database: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           "FROSTBYTE_STATE_DIR": str(state), "DATABASE_URL": fresh_database,
           "FROSTBYTE_CP_CLAMD_ALLOW_TEST_SIGNATURES": "true"}

    def cli(*args: str, extra: dict[str, str] | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([sys.executable, "-m", "frostbyte_cli", *args], cwd=ROOT,
                             env={**env, **(extra or {})}, capture_output=True, text=True,
                             timeout=600, check=False)
        if check:
            assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        return out

    slug = f"logs{uuid.uuid4().hex[:8]}"
    up = json.loads(cli("local", "up", "--json", "--port", str(_free_port())).stdout)
    try:
        env["FROSTBYTE_URL"] = up["control_plane_url"]
        cli("tenants", "create", slug, "--json")
        key = json.loads(cli("keys", "create", slug, "--scope", "ingest", "--scope", "read",
                             "--json").stdout)
        ca_file = tmp_path / "ca.pem"
        cli("tls", "ca", "--out", str(ca_file))
        vendor = {"FROSTBYTE_ENDPOINT": key["endpoint"], "FROSTBYTE_KEY": key["key"],
                  "FROSTBYTE_CA_CERT": str(ca_file)}
        [document] = json.loads(cli("batch", "submit", str(SAMPLE), "--json",
                                    extra=vendor).stdout)["documents"]
        assert document["status"] == "INDEXED"
        found = json.loads(cli("search", "electric vehicle charging bays", "--json",
                               extra=vendor).stdout)
        assert found["hits"][0]["document_name"] == SAMPLE.name
        # a vendor's own request id is the one the gateway and the API log, and answer with
        answered = httpx.get(f"{key['endpoint']}/v1/documents",
                             headers={"Authorization": f"Bearer {key['key']}",
                                      "X-Request-ID": "vendor-call-42"},
                             verify=tls.client_context(ca_file.read_text()), timeout=30)
        assert answered.status_code == 200
        assert answered.headers["X-Request-ID"] == "vendor-call-42"
        secrets = SopsAgeSecretStore(state / "secrets").get(slug)
    finally:
        cli("local", "down", check=False)  # every process (and its log relay) ends
        unix_accounts.remove(slug)  # the tenant stays provisioned: its account is ours to drop

    control = _read(state / "logs" / "control_plane.log")
    tenant_logs = {p.name: _read(p) for p in sorted((state / "tenants" / slug / "logs").glob("*"))}
    assert {"api.log", "worker.log", "clamd.log", "gateway.log", "migrate.log",
            "admin.log"} <= set(tenant_logs), sorted(tenant_logs)
    every = [*control, *(line for lines in tenant_logs.values() for line in lines)]

    # each tenant line names the tenant, whichever process wrote it
    for name, lines in tenant_logs.items():
        assert {line.get("tenant") for line in lines} == {slug}, name

    # HTTP: access lines with their request id, on both planes and at the gateway
    access = [line for line in every if line.get("logger") == "frostbyte.access"]
    assert all(line.get("request_id") for line in access)
    assert any(line in control for line in access), "no access line in the control plane's"
    api_access = [line for line in tenant_logs["api.log"] if line in access]
    assert any(line["path"] == "/v1/search" and line["status"] == 200 for line in api_access)
    gateway_access = [line for line in tenant_logs["gateway.log"]
                      if line.get("logger") == "nginx.access"]
    assert all(line.get("request_id") for line in gateway_access)
    for lines in (api_access, gateway_access):
        assert [line["path"] for line in lines if line["request_id"] == "vendor-call-42"] \
            == ["/v1/documents"]
    assert all("?" not in line["path"] for line in [*access, *gateway_access])

    # the worker: what it says about the document names the document and its batch
    about = [line for line in tenant_logs["worker.log"]
             if line.get("document_id") == document["document_id"]]
    assert about and all(line.get("batch_id") == document["batch_id"] for line in about)
    assert any(line["event"].startswith("document processed") for line in about)

    # and nothing secret anywhere
    text = "\n".join(json.dumps(line) for line in every)
    for secret in [key["key"], *(v for v in secrets.values() if len(v) >= 12)]:
        assert secret not in text
    token = (state / "admin_token").read_text().strip()
    assert token not in text


def _read(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path``, each a JSON object with an ISO-8601 time, a level and an
    event (the test fails on the first that is not, naming the file and the line)."""
    parsed = []
    for number, raw in enumerate(path.read_bytes().split(b"\n")[:-1], start=1):
        where = f"{path.name}:{number}: {raw[:300]!r}"
        try:
            line = json.loads(raw)
        except ValueError:
            pytest.fail(f"not JSON: {where}")
        assert isinstance(line, dict), where
        assert {"time", "level", "event"} <= line.keys(), where
        assert line["level"] in LEVELS, where
        datetime.fromisoformat(line["time"].replace("Z", "+00:00"))
        parsed.append(line)
    assert path.read_bytes().endswith(b"\n"), f"{path.name}: last line unfinished"
    return parsed
