"""Exit codes a script can branch on, errors as JSON under ``--json``, the table in the help,
and shell completion."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from frostbyte_cli.client import ApiError, CliError, ConnectionFailed, WaitTimedOut
from frostbyte_cli.exit_codes import ExitCode, exit_code_for
from frostbyte_cli.main import app
from tests.unit.cli.fakes import FakeApis, error
from tests.unit.cli.test_commands import CP_ENV, TENANT_ENV, invoke


@pytest.mark.parametrize(("status", "code"), [
    (400, ExitCode.USAGE), (413, ExitCode.USAGE), (422, ExitCode.USAGE),
    (401, ExitCode.AUTH), (403, ExitCode.AUTH), (404, ExitCode.NOT_FOUND),
    (409, ExitCode.CONFLICT), (408, ExitCode.UNAVAILABLE), (429, ExitCode.UNAVAILABLE),
    (500, ExitCode.UNAVAILABLE), (503, ExitCode.UNAVAILABLE),
])
def test_an_answer_maps_to_its_exit_code(status: int, code: ExitCode) -> None:
    assert exit_code_for(ApiError("x", code="X", status_code=status)) is code


def test_errors_found_without_an_answer_map_by_kind() -> None:
    assert exit_code_for(ConnectionFailed("x", code="CONNECTION_FAILED")) is ExitCode.UNAVAILABLE
    assert exit_code_for(WaitTimedOut("x", code="TIMEOUT")) is ExitCode.UNAVAILABLE
    assert exit_code_for(CliError("x", code="NO_TENANT_ENDPOINT")) is ExitCode.USAGE
    assert exit_code_for(CliError("x", code="TENANT_FAILED")) is ExitCode.FAILED
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 5, 6, 7]


def test_with_json_a_server_error_is_its_envelope_on_stderr_and_stdout_stays_empty() -> None:
    fake = FakeApis()
    result = invoke(fake, ["batch", "status", "b-9", "--json"], TENANT_ENV)
    assert result.exit_code == 4
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert json.loads(line) == {"error": {
        "code": "BATCH_NOT_FOUND", "message": "/v1/batches/b-9", "request_id": "req-123",
        "http_status": 404, "exit_code": 4}}


def test_without_json_the_error_is_a_line_for_people() -> None:
    result = invoke(FakeApis(), ["batch", "status", "b-9"], TENANT_ENV)
    assert result.exit_code == 4
    assert result.stderr.startswith("error BATCH_NOT_FOUND: ") and "req-123" in result.stderr


@pytest.mark.parametrize(("args", "env", "code", "exit_code"), [
    (["tenants", "list", "--json", "--admin-token", "wrong"], CP_ENV, "UNAUTHENTICATED", 3),
    (["tenants", "create", "acme", "--json"], CP_ENV, "TENANT_EXISTS", 5),
    (["batch", "list", "--json"], {}, "NO_TENANT_ENDPOINT", 2),
    (["batch", "list", "--json", "--endpoint", "http://down.test", "--key", "k"], {},
     "CONNECTION_FAILED", 7),
])
def test_each_kind_of_failure_has_its_code_in_json(args: list[str], env: dict[str, str],
                                                   code: str, exit_code: int) -> None:
    fake = FakeApis()
    fake.tenants["acme"] = {"display_name": "A", "state": "ACTIVE", "states": []}
    result = invoke(fake, args, env)
    assert result.exit_code == exit_code, result.output
    body = json.loads(result.stderr)
    assert (body["error"]["code"], body["error"]["exit_code"]) == (code, exit_code)


def test_a_usage_error_click_finds_is_json_too_with_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["batch", "submit", str(tmp_path / "nope"), "--json"])
    assert result.exit_code == 2
    body = json.loads(result.stderr)
    assert body["error"]["code"] == "USAGE" and "does not exist" in body["error"]["message"]
    plain = CliRunner().invoke(app, ["batch", "submit", str(tmp_path / "nope")])
    assert plain.exit_code == 2 and "Usage: frostbyte batch submit" in plain.stderr
    assert not plain.stderr.lstrip().startswith("{")


def test_a_500_after_the_retries_is_exit_7_with_the_servers_code() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return error(500, "INTERNAL", "internal error; quote the request id to support")

    from frostbyte_cli.shared import Deps
    from tests.unit.cli.fakes import NO_WAIT

    result = CliRunner().invoke(
        app, ["batch", "status", "b-1", "--json", "--endpoint", "http://x.test", "--key", "k"],
        obj=Deps(transport=httpx.MockTransport(handler), retry=NO_WAIT))
    assert result.exit_code == 7
    assert json.loads(result.stderr)["error"]["code"] == "INTERNAL"
    assert len(calls) == 3  # NO_WAIT: 3 attempts of an idempotent GET


def test_the_help_shows_the_exit_codes() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    for text in ("2 usage", "3 auth", "4 not found", "5 conflict", "6 partial batch",
                 "7 server or network"):
        assert text in flat


def test_shell_completion_is_offered_and_prints_a_script() -> None:
    help_text = CliRunner().invoke(app, ["--help"], terminal_width=200).output
    assert "--install-completion" in help_text and "--show-completion" in help_text
    script = CliRunner().invoke(app, ["--show-completion", "bash"])
    assert script.exit_code == 0
    assert "_FROSTBYTE_COMPLETE" in script.output and "complete " in script.output
