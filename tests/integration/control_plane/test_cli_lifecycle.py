"""``frostbyte tenants suspend|resume|retry|cancel|deprovision|config|keys|watch`` against the
real control-plane app (real PostgreSQL registry, fake provider), in process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from control_plane.api.app import create_app
from frostbyte_cli.main import Deps, app

from .fakes import FakeProvider
from .test_cp_api import AUTH, TOKEN, settings_for, wait_for_state

OPTS = ["--url", "http://testserver", "--admin-token", TOKEN]


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def api(fresh_database: str, tmp_path: Path, fake: FakeProvider) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(fresh_database, tmp_path),
                               providers=lambda _s: {"local": fake},
                               data_plane_transport=fake.transport)) as client:
        yield client


class ThroughTestClient(httpx.BaseTransport):
    """Sends the CLI's requests to the in-process app through its TestClient."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length")}
        answer = self._client.request(request.method, str(request.url), headers=headers,
                                      content=request.read())
        return httpx.Response(answer.status_code, headers=answer.headers,
                              content=answer.content)


def run(api: TestClient, *args: str, input: str | None = None) -> tuple[int, str]:
    deps = Deps(transport=ThroughTestClient(api), poll_interval=0.05, width=200)
    result = CliRunner().invoke(app, [*args, *OPTS], obj=deps, input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_lifecycle_commands(api: TestClient, fake: FakeProvider) -> None:
    code, out = run(api, "tenants", "create", "cli-a", "--json")
    assert code == 0, out
    assert json.loads(out)["state"] == "ACTIVE"

    code, out = run(api, "tenants", "suspend", "cli-a", "--json")
    assert (code, json.loads(out)["state"]) == (0, "SUSPENDED")
    code, out = run(api, "tenants", "suspend", "cli-a")
    assert code == 5 and "INVALID_TRANSITION" in out  # conflict (409)
    code, out = run(api, "tenants", "resume", "cli-a")
    assert code == 0 and "ACTIVE" in out

    code, out = run(api, "tenants", "config", "cli-a", "--patch",
                    '{"intake": {"mime_allowlist": ["text/plain"]}}', "--json")
    assert code == 0, out
    assert json.loads(out)["intake"]["mime_allowlist"] == ["text/plain"]
    assert fake.configs["cli-a"].intake.mime_allowlist == ["text/plain"]
    code, out = run(api, "tenants", "config", "cli-a", "--patch", "[1]")
    assert code == 2 and "JSON object" in out  # usage

    key = api.post("/v1/tenants/cli-a/vendor-keys", json={"scopes": ["read"], "label": "dana"},
                   headers=AUTH).json()
    code, out = run(api, "tenants", "keys", "cli-a")
    assert code == 0 and key["key_id"] in out and "dana" in out and key["key"] not in out
    code, out = run(api, "tenants", "keys", "cli-a", "--revoke", key["key_id"], "--json")
    assert code == 0, out
    [listed] = json.loads(out)["vendor_keys"]
    assert listed["revoked_at"]

    spare = api.post("/v1/tenants/cli-a/vendor-keys", json={"scopes": ["ingest"]},
                     headers=AUTH).json()
    code, out = run(api, "tenants", "rotate", "cli-a")
    assert code == 0 and "rotated" in out and "shown once" in out
    # the data plane holds only the re-issued vendor key (and the control plane's own)
    [new] = [k for k, v in fake.keys.items() if v[2] != ("control",)]
    assert new != spare["key_id"] and new in out

    code, out = run(api, "tenants", "deprovision", "cli-a", input="n\n")
    assert code == 1 and "not confirmed" in out
    assert api.get("/v1/tenants/cli-a", headers=AUTH).json()["state"] == "ACTIVE"
    code, out = run(api, "tenants", "deprovision", "cli-a", "--yes", "--json")
    assert (code, json.loads(out)["state"]) == (0, "DEPROVISIONED")

    code, out = run(api, "tenants", "watch", "cli-a", "--json")
    assert code == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    events = [x["event"] for x in lines if "event" in x]
    assert [e["transition"] for e in events] == [1, 2, 3, 7, 8, 6, 3, 9, 12]
    steps = [x["step"] for x in lines if "step" in x]  # the latest job's steps
    assert [s["step"] for s in steps] == ["archive_audit", "stop", "destroy", "verify",
                                          "shred", "revoke_keys", "finish"]
    # and the provider's output for that job (the request's own stop ran before the job)
    output = [x["output"] for x in lines if "output" in x]
    assert [text.split(" #")[0] for text in output] == ["cli-a: stopping", "cli-a: destroying"]


def test_retry_cancel_and_watch_a_failure(api: TestClient, fake: FakeProvider) -> None:
    code, out = run(api, "tenants", "create", "fail-cli")
    assert code == 1 and "fake disk is full" in out
    code, out = run(api, "tenants", "retry", "fail-cli")
    assert code == 1 and "failed" in out
    code, out = run(api, "tenants", "watch", "fail-cli")
    assert code == 1
    assert "PROVISIONING → FAILED" in out and "fake disk is full" in out
    assert "provision · apply failed: the fake disk is full" in out
    assert "      fail-cli: provisioning #2" in out, "the latest job's provider output"
    assert "fail-cli: provisioning #1" not in out, "an earlier job's output"

    fake.release.clear()
    run(api, "tenants", "create", "held", "--no-wait")
    wait_for_state(api, "held", "PROVISIONING")
    code, out = run(api, "tenants", "cancel", "held", "--json")
    assert (code, json.loads(out)["state"]) == (0, "FAILED")
    fake.release.set()


def test_admin_tokens_commands(api: TestClient) -> None:
    code, out = run(api, "admin", "tokens", "create", "auditor", "--json")
    assert code == 0, out
    viewer = json.loads(out)
    assert viewer["role"] == "viewer" and viewer["token"].startswith("fbat_")
    code, out = run(api, "admin", "tokens", "list")
    assert code == 0 and "auditor" in out and viewer["token"] not in out
    code, out = run(api, "admin", "tokens", "revoke", viewer["token_id"])
    assert code == 0 and "revoked" in out
    code, out = run(api, "admin", "tokens", "list", "--json")
    [revoked] = [t for t in json.loads(out)["tokens"] if t["name"] == "auditor"]
    assert revoked["revoked_at"]


def test_quarantine_commands(api: TestClient, fake: FakeProvider) -> None:
    run(api, "tenants", "create", "cli-q", "--json")
    code, out = run(api, "tenants", "quarantine", "list", "cli-q")
    assert code == 0 and "Nothing is quarantined" in out
    held, bad = fake.quarantine("cli-q", "eicar.txt"), fake.quarantine("cli-q", "bad.pdf")
    code, out = run(api, "tenants", "quarantine", "list", "cli-q")
    assert code == 0 and held in out and bad in out and "MALWARE_DETECTED" in out
    code, out = run(api, "tenants", "quarantine", "list", "cli-q", "--json")
    assert {d["document_id"] for d in json.loads(out)["documents"]} == {held, bad}

    code, out = run(api, "tenants", "quarantine", "release", "cli-q", held)
    assert code == 0 and "released" in out and "ACCEPTED" in out
    code, out = run(api, "tenants", "quarantine", "purge", "cli-q", bad, input="n\n")
    assert code == 1 and "not confirmed" in out
    code, out = run(api, "tenants", "quarantine", "purge", "cli-q", bad, "--yes", "--json")
    assert (code, json.loads(out)) == (0, {"document_id": bad, "status": "PURGED"})
    code, out = run(api, "tenants", "quarantine", "purge", "cli-q", bad, "--yes")
    assert code == 4 and "DOCUMENT_NOT_FOUND" in out  # not found (404)
    assert [e for _, _, e in fake.audit] == ["document.released", "document.purged"]


def test_deprovision_waiving_the_archive_of_a_lost_data_plane(
        api: TestClient, fake: FakeProvider) -> None:
    code, out = run(api, "tenants", "create", "lost-cli", "--json")
    assert code == 0, out
    fake.export_fails["lost-cli"] = "down"
    code, out = run(api, "tenants", "deprovision", "lost-cli", "--yes", "--json")
    assert code == 1 and "audit export" in out, "refused: the trail could not be archived"
    code, out = run(api, "tenants", "deprovision", "lost-cli", "--yes", "--json",
                    "--waive-audit-archive", "host deleted by the provider, ticket 77")
    assert (code, json.loads(out)["state"]) == (0, "DEPROVISIONED"), out
    events = api.get("/v1/tenants/lost-cli/events", headers=AUTH).json()["events"]
    assert events[-1]["detail"]["audit_archive"]["waived"]["reason"] == \
        "host deleted by the provider, ticket 77"
