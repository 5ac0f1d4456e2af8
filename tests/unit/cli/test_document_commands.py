"""``frostbyte documents delete`` through CliRunner, with the HTTP transport faked."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from typer.testing import CliRunner

from frostbyte_cli.client import RetryPolicy
from frostbyte_cli.main import Deps, app

ENV = {"FROSTBYTE_ENDPOINT": "http://acme.test", "FROSTBYTE_KEY": "fbk_test",
       "FROSTBYTE_URL": None, "FROSTBYTE_ADMIN_TOKEN": None}
NO_WAIT = RetryPolicy(attempts=1, backoff=lambda attempt: 0.0, sleep=lambda seconds: None)


def run(handler: Any, args: list[str], input: str | None = None) -> Any:
    deps = Deps(transport=httpx.MockTransport(handler), retry=NO_WAIT, width=200)
    return CliRunner().invoke(app, args, obj=deps, env=ENV, input=input)


def test_delete_sends_delete_and_prints_the_counts() -> None:
    doc = str(uuid.uuid4())
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={
            "document_id": doc, "status": "DELETED", "sha256": "ab" * 32, "audit_seq": 42,
            "removed": {"chunks": 3, "vectors": 3, "objects": 2}})

    result = run(handler, ["documents", "delete", doc, "--yes"])
    assert result.exit_code == 0, result.output
    assert [(r.method, r.url.path) for r in seen] == [("DELETE", f"/v1/documents/{doc}")]
    assert seen[0].headers["authorization"] == "Bearer fbk_test"
    assert "erased" in result.output and "3 vectors" in result.output and "42" in result.output

    as_json = run(handler, ["documents", "delete", doc, "--yes", "--json"])
    assert json.loads(as_json.output)["audit_seq"] == 42


def test_delete_asks_first_and_a_no_sends_nothing() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:  # pragma: no cover - never sent
        seen.append(request)
        return httpx.Response(202, json={})

    result = run(handler, ["documents", "delete", str(uuid.uuid4())], input="n\n")
    assert result.exit_code != 0 and seen == []


def test_delete_reports_not_found_and_bad_ids() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {
            "code": "DOCUMENT_NOT_FOUND", "message": "no document", "request_id": "r1"}})

    result = run(handler, ["documents", "delete", str(uuid.uuid4()), "--yes"])
    assert result.exit_code != 0 and "DOCUMENT_NOT_FOUND" in result.output
    bad = run(handler, ["documents", "delete", "not-a-uuid", "--yes"])
    assert bad.exit_code != 0 and "BAD_OPTION" in bad.output
