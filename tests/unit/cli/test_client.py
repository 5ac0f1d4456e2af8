"""The HTTP clients against an in-memory fake of both APIs (no server, no sleeping)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from frostbyte_cli.client import (
    ApiError,
    CliError,
    ConnectionFailed,
    ControlPlaneClient,
    RetryPolicy,
    TenantClient,
    WaitTimedOut,
    batch_exit_code,
    build_manifest,
)
from tests.unit.cli.fakes import NO_WAIT, FakeApis


def tenant_client(fake: FakeApis, **kwargs: object) -> TenantClient:
    return TenantClient("http://acme.test", fake.vendor_key, transport=fake.transport(),
                        retry=NO_WAIT, **kwargs)  # type: ignore[arg-type]


def cp_client(fake: FakeApis, token: str | None = None) -> ControlPlaneClient:
    return ControlPlaneClient("http://cp.test/", token or fake.admin_token,
                              transport=fake.transport(), retry=NO_WAIT)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_manifest_carries_streamed_sha256_and_size(tmp_path: Path) -> None:
    big = bytes(range(256)) * 9000  # > 1 MiB: several hashing blocks
    a = write(tmp_path, "a.pdf", big)
    b = write(tmp_path, "b.txt", b"hello")
    manifest, entries = build_manifest([a, b], "ref-1")
    assert manifest == {"client_ref": "ref-1", "files": [
        {"name": "a.pdf", "sha256": hashlib.sha256(big).hexdigest(), "size": len(big)},
        {"name": "b.txt", "sha256": hashlib.sha256(b"hello").hexdigest(), "size": 5},
    ]}
    assert [e.path for e in entries] == [a, b]


def test_manifest_refuses_two_files_with_one_name(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    a = write(tmp_path, "same.txt", b"1")
    b = write(tmp_path / "x", "same.txt", b"2")
    with pytest.raises(CliError) as info:
        build_manifest([a, b], "ref")
    assert info.value.code == "DUPLICATE_NAME"


def test_submit_sends_manifest_first_then_one_files_part_per_file(tmp_path: Path) -> None:
    fake = FakeApis()
    paths = [write(tmp_path, "one.md", b"# One\n"), write(tmp_path, "two.csv", b"a,b\n1,2\n")]
    progress: list[tuple[int, int]] = []
    with tenant_client(fake) as client:
        receipt = client.submit_batch(paths, "ref-9", idempotency_key="idem-1",
                                      on_upload_progress=lambda d, t: progress.append((d, t)))
    assert [d["status"] for d in receipt["documents"]] == ["ACCEPTED", "ACCEPTED"]
    assert fake.manifests[0]["client_ref"] == "ref-9"
    assert [(p.name, p.filename, p.content) for p in fake.uploads] == [
        ("files", "one.md", b"# One\n"), ("files", "two.csv", b"a,b\n1,2\n")]
    request = fake.requests[-1]
    assert request.headers["idempotency-key"] == "idem-1"
    assert request.headers["authorization"] == "Bearer fbk_test"
    assert progress[-1] == (14, 14)
    assert all(done <= total for done, total in progress)


def test_error_body_becomes_cli_error_with_code_and_request_id() -> None:
    fake = FakeApis()
    with cp_client(fake, token="wrong") as cp, pytest.raises(ApiError) as info:
        cp.list_tenants()
    assert info.value.code == "UNAUTHENTICATED"
    assert info.value.status_code == 401
    assert info.value.request_id == "req-123"
    assert "UNAUTHENTICATED" in str(info.value) and "req-123" in str(info.value)


def test_non_json_error_body_still_gives_a_code() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(502, text="Bad Gateway"))
    with (TenantClient("http://x.test", "k", transport=transport, retry=NO_WAIT) as client,
          pytest.raises(ApiError) as info):
        client.get_batch("b")
    assert info.value.code == "HTTP_502"


def test_get_is_retried_on_connection_errors_then_succeeds() -> None:
    calls: list[str] = []
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"ok": True, "events": 1, "head_hash": "h"})

    retry = RetryPolicy(attempts=3, backoff=lambda n: 0.1 * n, sleep=slept.append)
    with TenantClient("http://x.test", "k", transport=httpx.MockTransport(handler),
                      retry=retry) as client:
        assert client.audit_verify()["ok"] is True
    assert calls == ["GET", "GET", "GET"]
    assert slept == [0.1, 0.2]


def test_get_gives_up_after_the_last_attempt() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with TenantClient("http://x.test", "k", transport=httpx.MockTransport(handler),
                      retry=NO_WAIT) as client, pytest.raises(ConnectionFailed) as info:
        client.get_batch("b")
    assert info.value.code == "CONNECTION_FAILED"


def test_post_is_never_retried(tmp_path: Path) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    with TenantClient("http://x.test", "k", transport=httpx.MockTransport(handler),
                      retry=NO_WAIT) as client:
        with pytest.raises(ConnectionFailed):
            client.search("q")
        with pytest.raises(ConnectionFailed):
            client.submit_batch([write(tmp_path, "a.txt", b"a")], "ref")
    assert calls == ["POST", "POST"]


def test_wait_for_state_polls_until_active() -> None:
    fake = FakeApis(tenant_states=["PROVISIONING", "PROVISIONING", "ACTIVE"])
    seen: list[str] = []
    with cp_client(fake) as cp:
        cp.create_tenant("acme", "Acme")
        tenant = cp.wait_for_state("acme", {"ACTIVE"}, on_progress=lambda t:
                                   seen.append(t["state"]))
    assert seen == ["PROVISIONING", "PROVISIONING", "ACTIVE"]
    assert tenant["endpoint"] == "http://acme.test"


def test_wait_for_state_reports_failed_and_timeout() -> None:
    fake = FakeApis(tenant_states=["PROVISIONING", "FAILED"])
    with cp_client(fake) as cp:
        cp.create_tenant("acme", "Acme")
        with pytest.raises(CliError) as info:
            cp.wait_for_state("acme", {"ACTIVE"})
    assert info.value.code == "TENANT_FAILED"

    fake = FakeApis(tenant_states=["PROVISIONING"] * 10)
    clock = iter(range(100))
    with ControlPlaneClient("http://cp.test", fake.admin_token, transport=fake.transport(),
                            retry=NO_WAIT, clock=lambda: float(next(clock))) as cp:
        cp.create_tenant("slow", "Slow")
        with pytest.raises(WaitTimedOut):
            cp.wait_for_state("slow", {"ACTIVE"}, timeout=3)


def test_wait_for_batch_until_completed(tmp_path: Path) -> None:
    fake = FakeApis(batch_polls=[[("PROCESSING", None)], [("INDEXED", None)]])
    with tenant_client(fake) as client:
        receipt = client.submit_batch([write(tmp_path, "a.txt", b"a")], "ref")
        polls: list[str] = []
        batch = client.wait_for_batch(receipt["batch_id"],
                                      on_progress=lambda b: polls.append(str(b.get("status"))))
    assert polls == ["PROCESSING", "COMPLETED"]
    assert batch["documents"][0]["status"] == "INDEXED"


def test_report_formats() -> None:
    fake = FakeApis()
    fake.last_receipt = {"batch_id": "b-1", "documents": []}
    with tenant_client(fake) as client:
        assert client.report("b-1")["counts"] == {"files": 1}
        assert client.report("b-1", "csv").startswith("name,status")
        assert client.report("b-1", "html") == "<html>report</html>"


@pytest.mark.parametrize(("docs", "final", "code"), [
    ([("INDEXED", None), ("INDEXED", None)], True, 0),
    ([("INDEXED", None), ("REJECTED", "DUPLICATE")], True, 0),
    ([("REJECTED", "DUPLICATE")], True, 0),
    ([("INDEXED", None), ("REJECTED", "CHECKSUM_MISMATCH")], True, 6),
    ([("QUARANTINED", "MALWARE_DETECTED")], True, 6),
    ([("FAILED", "PARSE_FAILED")], True, 6),
    ([("PROCESSING", None)], True, 6),
    ([("PROCESSING", "SCAN_PENDING"), ("ACCEPTED", None)], False, 0),
    ([("ACCEPTED", None), ("REJECTED", "MIME_NOT_ALLOWED")], False, 6),
])
def test_exit_code_rule_duplicates_only_is_success(
        docs: list[tuple[str, str | None]], final: bool, code: int) -> None:
    documents = [{"name": f"f{i}", "status": s, "reason": r} for i, (s, r) in enumerate(docs)]
    assert batch_exit_code(documents, final=final) == code


def test_wait_until_ready_tolerates_refusals_and_503() -> None:
    answers = iter(["refuse", 503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/readyz"
        answer = next(answers)
        if answer == "refuse":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(int(answer), json={"ready": answer == 200})

    seen: list[str] = []
    retry = RetryPolicy(attempts=1, backoff=lambda n: 0.0, sleep=lambda s: None)
    with TenantClient("http://x.test", "k", transport=httpx.MockTransport(handler),
                      retry=retry) as client:
        client.wait_until_ready(on_progress=seen.append)
    assert seen == ["CONNECTION_FAILED", "HTTP_503"]
