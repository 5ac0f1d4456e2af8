"""``frostbyte tenants reembed|set-embedding-key`` through CliRunner against a fake control
plane (issue 18): the re-embedding is followed until it switched (or failed, exit 1), and the
embeddings API key is read from standard input — never the command line — sent once, and
never printed."""

from __future__ import annotations

import json
from typing import Any

import httpx
from typer.testing import CliRunner

from frostbyte_cli.main import Deps, app
from tests.unit.cli.fakes import NO_WAIT

CP_ENV = {"FROSTBYTE_URL": "http://cp.test", "FROSTBYTE_ADMIN_TOKEN": "admin-secret"}
KEY = "sk-or-v1-" + "ab" * 24
OLD = {"name": "all-MiniLM-L6-v2", "version": "0.1.0", "dimension": 384}
NEW = {"name": "nomic-ai/nomic-embed-text-v1.5", "version": "1.5", "dimension": 768}


class ControlPlane:
    """Answers the re-embedding's status as ``states`` says, one poll after another."""

    def __init__(self, states: list[str]) -> None:
        self.requests: list[httpx.Request] = []
        self.states = states

    def answer(self, state: str, done: int) -> dict[str, Any]:
        switched = state == "SWITCHED"
        return {"reembed": {"reembed_id": "r1", "state": state, "collection": "c2",
                            "model": NEW, "chunks_total": 40, "chunks_done": done,
                            "error": "EmbeddingUnavailable: no weights" if state == "FAILED"
                            else None},
                "active": {"collection": "c2" if switched else "c1",
                           "model": NEW if switched else OLD}}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = (request.method, request.url.path)
        if route == ("POST", "/v1/tenants/acme/reembed"):
            return httpx.Response(202, json=self.answer("RUNNING", 0))
        if route == ("GET", "/v1/tenants/acme/reembed"):
            state = self.states.pop(0)
            return httpx.Response(200, json=self.answer(state, 40 if state != "RUNNING"
                                                        else 12))
        if route == ("PUT", "/v1/tenants/acme/secrets/embedding-api-key"):
            return httpx.Response(200, json={"tenant": "acme", "stored": True,
                                             "applied": True, "replaced": False})
        return httpx.Response(404, json={"error": {"code": "NOT_FOUND", "message": "no",
                                                   "request_id": "r0"}})


def invoke(cp: ControlPlane, args: list[str], stdin: str | None = None) -> Any:
    obj = Deps(transport=httpx.MockTransport(cp.handle), retry=NO_WAIT, poll_interval=0,
               width=200)
    return CliRunner().invoke(app, args, obj=obj, env=CP_ENV, input=stdin)


def test_reembed_follows_the_progress_until_the_switch() -> None:
    cp = ControlPlane(["RUNNING", "RUNNING", "SWITCHED"])
    result = invoke(cp, ["tenants", "reembed", "acme", "--model", "nomic-embed-text-v1.5"])
    assert result.exit_code == 0, result.output
    assert json.loads(cp.requests[0].content) == {"model": "nomic-embed-text-v1.5"}
    assert [r.method for r in cp.requests] == ["POST", "GET", "GET", "GET"]
    assert "re-embedded: 40 chunks" in result.output
    assert "nomic-ai/nomic-embed-text-v1.5 (768-d)" in result.output


def test_a_failed_reembedding_exits_1_and_says_search_still_answers() -> None:
    cp = ControlPlane(["RUNNING", "FAILED"])
    result = invoke(cp, ["tenants", "reembed", "acme", "--model", "nomic-embed-text-v1.5"])
    assert result.exit_code == 1
    assert "no weights" in result.output and "all-MiniLM-L6-v2 (384-d)" in result.output


def test_reembed_without_waiting_prints_the_start_as_json() -> None:
    cp = ControlPlane([])
    result = invoke(cp, ["tenants", "reembed", "acme", "--model", "x", "--no-wait",
                         "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["reembed"]["state"] == "RUNNING"
    assert [r.method for r in cp.requests] == ["POST"]


def test_the_key_comes_from_standard_input_and_is_never_printed() -> None:
    cp = ControlPlane([])
    result = invoke(cp, ["tenants", "set-embedding-key", "acme"], stdin=KEY + "\n")
    assert result.exit_code == 0, result.output
    [sent] = cp.requests
    assert json.loads(sent.content) == {"api_key": KEY}
    assert KEY not in result.output
    assert "applied" in result.output


def test_the_key_is_no_argument() -> None:
    cp = ControlPlane([])
    result = invoke(cp, ["tenants", "set-embedding-key", "acme", KEY], stdin="")
    assert result.exit_code == 2  # a usage error: there is no place for it on the line
    assert cp.requests == []
    empty = invoke(cp, ["tenants", "set-embedding-key", "acme"], stdin="\n")
    assert empty.exit_code == 2 and cp.requests == []
