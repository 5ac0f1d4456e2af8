"""Durable provisioning jobs: step logs through the API, one job per tenant, and a control
plane killed with ``kill -9`` mid-job that finishes the job after a restart."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from control_plane.adapters import processes
from control_plane.api.app import create_app
from control_plane.providers.local import port_free
from frostbyte_common.audit_checkpoint import public_key_text
from frostbyte_common.audit_export import verify_export_file

from .fakes import FakeProvider
from .test_cp_api import AUTH, TOKEN, active, assert_error, settings_for, wait_for_state

HERE = Path(__file__).parent
ROOT = HERE.parents[2]


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def api(fresh_database: str, tmp_path: Path, fake: FakeProvider) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(fresh_database, tmp_path),
                               providers=lambda _s: {"local": fake},
                               data_plane_transport=fake.transport)) as client:
        yield client


def job_log(api: TestClient | httpx.Client, slug: str, job_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/tenants/{slug}/jobs/{job_id}/log", headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_jobs_and_their_step_logs(api: TestClient) -> None:
    active(api, "steps")
    [job] = api.get("/v1/tenants/steps/jobs", headers=AUTH).json()["jobs"]
    assert (job["operation"], job["status"], job["actor"]) == ("provision", "succeeded", "admin")
    log = job_log(api, "steps", job["job_id"])
    assert [(s["step"], s["status"], s["attempts"]) for s in log["steps"]] == [
        ("begin", "done", 1), ("secrets", "done", 1), ("stop_for_reapply", "done", 1),
        ("apply", "done", 1), ("activate", "done", 1)]
    assert log["steps"][3]["message"].startswith("http://127.0.0.1:")

    api.post("/v1/tenants/steps/deprovision", headers=AUTH)
    wait_for_state(api, "steps", "DEPROVISIONED")
    jobs = api.get("/v1/tenants/steps/jobs", headers=AUTH).json()["jobs"]
    assert [(j["operation"], j["status"]) for j in jobs] == [
        ("provision", "succeeded"), ("deprovision", "succeeded")]
    steps = job_log(api, "steps", jobs[1]["job_id"])["steps"]
    assert [s["step"] for s in steps] == ["archive_audit", "stop", "destroy", "verify",
                                          "shred", "revoke_keys", "finish"]

    assert_error(api.get("/v1/tenants/steps/jobs/nope/log", headers=AUTH), 404, "JOB_NOT_FOUND")
    assert_error(api.get(f"/v1/tenants/nobody/jobs/{job['job_id']}/log", headers=AUTH), 404,
                 "TENANT_NOT_FOUND")


def test_a_job_log_holds_its_own_provider_output(api: TestClient, fake: FakeProvider) -> None:
    active(api, "loud")
    api.post("/v1/tenants/loud/deprovision", headers=AUTH)
    wait_for_state(api, "loud", "DEPROVISIONED")
    first, second = api.get("/v1/tenants/loud/jobs", headers=AUTH).json()["jobs"]
    provisioned = job_log(api, "loud", first["job_id"])
    assert provisioned["output"] == ["loud: provisioning #1"]
    assert provisioned["output_lines"] == 1
    # the deprovision request stops the data plane before its job exists (not the job's
    # output); the job's own steps print the rest
    printed = [text for _, text in fake.output["loud"]]
    assert printed == ["loud: provisioning #1", "loud: stopping #2", "loud: stopping #3",
                       "loud: destroying #4"]
    deprovisioned = job_log(api, "loud", second["job_id"])
    assert deprovisioned["output"] == ["loud: stopping #3", "loud: destroying #4"]
    assert deprovisioned["output_lines"] == 2


def test_a_failed_step_is_in_the_log_and_cancel_ends_the_job(
    api: TestClient, fake: FakeProvider
) -> None:
    api.post("/v1/tenants", json={"slug": "fail-s", "display_name": "F"}, headers=AUTH)
    wait_for_state(api, "fail-s", "FAILED")
    [job] = api.get("/v1/tenants/fail-s/jobs", headers=AUTH).json()["jobs"]
    steps = job_log(api, "fail-s", job["job_id"])["steps"]
    assert (steps[-1]["step"], steps[-1]["status"], steps[-1]["message"]) == (
        "apply", "failed", "the fake disk is full")

    fake.release.clear()
    api.post("/v1/tenants", json={"slug": "held", "display_name": "H"}, headers=AUTH)
    wait_for_state(api, "held", "PROVISIONING")
    api.post("/v1/tenants/held/cancel", headers=AUTH)
    fake.release.set()
    deadline = time.monotonic() + 10
    while (jobs := api.get("/v1/tenants/held/jobs", headers=AUTH).json()["jobs"])[0][
            "finished_at"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jobs[0]["status"] == "cancelled"
    time.sleep(0.5)  # the runner reaches its next step boundary and rolls back
    steps = job_log(api, "held", jobs[0]["job_id"])["steps"]
    assert "activate" not in {s["step"] for s in steps if s["status"] == "done"}
    assert api.get("/v1/tenants/held", headers=AUTH).json()["state"] == "FAILED"


def test_concurrent_requests_never_run_two_jobs(api: TestClient, fake: FakeProvider) -> None:
    api.post("/v1/tenants", json={"slug": "fail-c", "display_name": "F"}, headers=AUTH)
    wait_for_state(api, "fail-c", "FAILED")
    fake.release.clear()  # hold the retry's job
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(
            lambda _: api.post("/v1/tenants/fail-c/retry", headers=AUTH).status_code,
            range(8)))
    assert sorted(codes) == [202] + [409] * 7
    jobs = api.get("/v1/tenants/fail-c/jobs", headers=AUTH).json()["jobs"]
    assert len(jobs) == 2
    fake.release.set()
    wait_for_state(api, "fail-c", "FAILED")
    assert [op for op, slug in fake.calls if slug == "fail-c"] == ["provision", "provision"]


def _free_port() -> int:
    return next(p for p in range(18600, 18700) if port_free("127.0.0.1", p))


def _free_range(size: int = 10) -> str:
    for start in range(18700, 19400, size):
        if all(port_free("127.0.0.1", p) for p in range(start, start + size)):
            return f"{start}-{start + size - 1}"
    raise RuntimeError("no free port range")


class ControlPlaneProcess:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> httpx.Client:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE / "cp_server.py"), str(self.port)], cwd=ROOT,
                env=self.env, stdout=out, stderr=subprocess.STDOUT)
        client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if client.get("/readyz").status_code == 200:
                    return client
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError("control plane did not start: " + self.log.read_text()[-3000:])

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def _wait(client: httpx.Client, slug: str, state: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v1/tenants/{slug}", headers=AUTH).json()
        if body["state"] == state or time.monotonic() > deadline:
            assert body["state"] == state, body
            return body
        time.sleep(0.2)


@pytest.mark.e2e
def test_kill_9_mid_job_then_restart_finishes_the_job(
    fresh_database: str, pg_admin_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FROSTBYTE_")}
    env.update(FROSTBYTE_CP_DATABASE_URL=fresh_database,
               FROSTBYTE_CP_ADMIN_DATABASE_URL=pg_admin_url,
               FROSTBYTE_CP_ADMIN_TOKEN_SHA256=hashlib.sha256(TOKEN.encode()).hexdigest(),
               FROSTBYTE_CP_STATE_DIR=str(tmp_path / "state"),
               FROSTBYTE_CP_DATA_PLANE_PORT_RANGE=_free_range(),
               PYTHONPATH=str(ROOT))
    cp = ControlPlaneProcess(env, _free_port(), tmp_path / "cp.log")
    slug = f"slow{time.time_ns() % 10**8}"
    client = cp.start()
    try:
        assert client.post("/v1/tenants", json={"slug": slug, "display_name": "S"},
                           headers=AUTH).status_code == 202
        deadline = time.monotonic() + 30
        job_id = ""
        while time.monotonic() < deadline:  # until the slow "apply" step runs
            jobs = client.get(f"/v1/tenants/{slug}/jobs", headers=AUTH).json()["jobs"]
            if jobs:
                job_id = jobs[0]["job_id"]
                steps = job_log(client, slug, job_id)["steps"]
                if any(s["step"] == "apply" and s["status"] == "running" for s in steps):
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the apply step never started")
        cp.kill9()
        client.close()

        client = cp.start()
        active = _wait(client, slug, "ACTIVE", timeout=90)
        assert active["endpoint"]
        [job] = client.get(f"/v1/tenants/{slug}/jobs", headers=AUTH).json()["jobs"]
        assert (job["job_id"], job["status"]) == (job_id, "succeeded")
        steps = {s["step"]: s for s in job_log(client, slug, job_id)["steps"]}
        assert steps["begin"]["attempts"] == 1  # done before the crash: skipped
        assert steps["apply"]["attempts"] == 2  # interrupted: run again
        assert all(s["status"] == "done" for s in steps.values())
        events = client.get(f"/v1/tenants/{slug}/events", headers=AUTH).json()["events"]
        assert [e["to_state"] for e in events] == ["REQUESTED", "PROVISIONING", "ACTIVE"]
        client.post(f"/v1/tenants/{slug}/deprovision", headers=AUTH)
        _wait(client, slug, "DEPROVISIONED", timeout=60)
    finally:
        client.close()
        cp.stop()
        for pid_file in (tmp_path / "state" / "tenants").glob("*/pids/*.pid"):
            processes.stop_pid_file(pid_file, "data_plane", grace_s=3)


def test_tenant_secrets_are_made_encrypted_and_crypto_shredded(
    api: TestClient, fresh_database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    from control_plane.adapters.secret_store import SopsAgeSecretStore
    from control_plane.domain.tenant_secrets import SECRET_NAMES

    active(api, "sec")
    store = SopsAgeSecretStore(tmp_path / "secrets")
    values = store.get("sec")
    assert set(values) == set(SECRET_NAMES)
    assert store.decrypt_with("sec", store.tenant_key_file("sec")) == values

    api.post("/v1/tenants/sec/deprovision", headers=AUTH)
    wait_for_state(api, "sec", "DEPROVISIONED")
    last = api.get("/v1/tenants/sec/events", headers=AUTH).json()["events"][-1]
    assert last["detail"]["verified_gone"]["tenant_age_key"] is True
    assert last["detail"]["verified_gone"]["secrets_file"] is True
    assert not store.tenant_key_file("sec").exists() and not store.secrets_file("sec").exists()

    # no plaintext secret in the state dir, the registry (events, jobs, steps) or the logs
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    with psycopg.connect(fresh_database) as conn:
        records = "".join(str(row) for table in ("tenant_events", "tenant_jobs",
                                                 "tenant_job_steps", "tenants")
                          for row in conn.execute(f"SELECT * FROM {table}").fetchall())
    for value in values.values():
        assert value.encode() not in on_disk
        assert value not in records
        assert value not in caplog.text


def _archives(tmp_path: Path, slug: str) -> list[Path]:
    return sorted((tmp_path / "archive" / slug).glob("audit-export-*.jsonl"))


def test_deprovision_archives_the_signed_audit_export_first(
    api: TestClient, fake: FakeProvider, tmp_path: Path
) -> None:
    active(api, "arch")
    api.post("/v1/tenants/arch/deprovision", headers=AUTH)
    wait_for_state(api, "arch", "DEPROVISIONED")

    [archive] = _archives(tmp_path, "arch")
    assert archive.stat().st_mode & 0o777 == 0o600
    verdict = verify_export_file(archive)
    assert verdict.ok, verdict.problems
    [job] = [j for j in api.get("/v1/tenants/arch/jobs", headers=AUTH).json()["jobs"]
             if j["operation"] == "deprovision"]
    step = job_log(api, "arch", job["job_id"])["steps"][0]
    assert step["step"] == "archive_audit" and step["status"] == "done"
    # verified against the audit key recorded at provisioning, not the export's own
    recorded = api.get("/v1/tenants/arch", headers=AUTH).json()
    assert recorded["audit_public_key"] == public_key_text(fake.audit_key("arch"))
    assert json.loads(step["message"]) == {"archive": str(archive), "events": 0,
                                           "head_hash": verdict.head_hash,
                                           "audit_key_id": recorded["audit_key_id"],
                                           "audit_key": "recorded at provisioning"}
    final = api.get("/v1/tenants/arch/events", headers=AUTH).json()["events"][-1]
    assert final["detail"]["audit_archive"]["archive"] == str(archive)
    assert final["detail"]["audit_archive"]["head_hash"] == verdict.head_hash
    # fetched through the control routes, with the data plane suspended first
    assert [(a, e) for s, a, e in fake.audit if s == "arch"] == [
        ("admin:admin", "tenant.suspended"), ("admin:control-plane", "audit.exported")]
    assert fake.calls.index(("start", "arch")) < fake.calls.index(("deprovision", "arch"))


@pytest.mark.parametrize("how", ["down", "tampered"])
def test_no_verified_archive_no_destruction_and_retry_works(
    api: TestClient, fake: FakeProvider, tmp_path: Path, how: str
) -> None:
    slug = f"noarch-{how}"
    active(api, slug)
    fake.export_fails[slug] = how
    api.post(f"/v1/tenants/{slug}/deprovision", headers=AUTH)
    failed = wait_for_state(api, slug, "FAILED")

    assert ("deprovision", slug) not in fake.calls
    assert slug not in fake.gone
    assert _archives(tmp_path, slug) == []
    jobs = api.get(f"/v1/tenants/{slug}/jobs", headers=AUTH).json()["jobs"]
    assert (jobs[-1]["operation"], jobs[-1]["status"]) == ("deprovision", "failed")
    [step] = job_log(api, slug, jobs[-1]["job_id"])["steps"]
    assert (step["step"], step["status"]) == ("archive_audit", "failed")
    reason = "503" if how == "down" else "does not verify"
    assert reason in step["message"] and "audit export" in step["message"]
    assert reason in json.dumps(failed)

    del fake.export_fails[slug]
    assert api.post(f"/v1/tenants/{slug}/retry", headers=AUTH).status_code < 300
    wait_for_state(api, slug, "DEPROVISIONED")
    [archive] = _archives(tmp_path, slug)
    assert verify_export_file(archive).ok
    assert ("deprovision", slug) in fake.calls


def test_an_admin_can_waive_the_archive_of_a_data_plane_that_is_gone(
    api: TestClient, fake: FakeProvider, tmp_path: Path
) -> None:
    slug = "gone"
    active(api, slug)
    fake.export_fails[slug] = "down"
    api.post(f"/v1/tenants/{slug}/deprovision", headers=AUTH)
    wait_for_state(api, slug, "FAILED")
    assert ("deprovision", slug) not in fake.calls, "no waiver: nothing destroyed"

    too_short = api.post(f"/v1/tenants/{slug}/deprovision", headers=AUTH,
                         json={"waive_audit_archive": "gone"})
    assert too_short.status_code == 422
    reason = "server lost in a datacentre fire, ticket OPS-1234"
    answer = api.post(f"/v1/tenants/{slug}/deprovision", headers=AUTH,
                      json={"waive_audit_archive": reason})
    assert answer.status_code == 202, answer.text
    wait_for_state(api, slug, "DEPROVISIONED")
    assert ("deprovision", slug) in fake.calls and _archives(tmp_path, slug) == []
    events = api.get(f"/v1/tenants/{slug}/events", headers=AUTH).json()["events"]
    requested = [e for e in events if e["to_state"] == "DEPROVISIONING"][-1]
    assert requested["detail"]["audit_archive_waived"] == {"by": "admin",
                                                          "reason": reason}
    archive = events[-1]["detail"]["audit_archive"]
    assert archive["waived"]["reason"] == reason and "503" in archive["error"]


def test_a_tenant_that_never_was_active_has_nothing_to_archive(
    api: TestClient, fake: FakeProvider, tmp_path: Path
) -> None:
    api.post("/v1/tenants", json={"slug": "fail-never", "display_name": "F"}, headers=AUTH)
    wait_for_state(api, "fail-never", "FAILED")
    api.post("/v1/tenants/fail-never/deprovision", headers=AUTH)
    wait_for_state(api, "fail-never", "DEPROVISIONED")
    jobs = api.get("/v1/tenants/fail-never/jobs", headers=AUTH).json()["jobs"]
    step = job_log(api, "fail-never", jobs[-1]["job_id"])["steps"][0]
    assert (step["step"], step["status"]) == ("archive_audit", "done")
    assert step["message"].startswith("nothing to archive")
    assert not (tmp_path / "archive" / "fail-never").exists()
