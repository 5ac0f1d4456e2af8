"""frostbyte_common.logs: every record one JSON object per line, whatever it holds."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI

from frostbyte_common import logs
from frostbyte_common.http_errors import install_error_handlers
from frostbyte_common.log_relay import relay_argv, wrap_line
from frostbyte_common.request_context import REQUEST_ID_HEADER


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Logging configured onto a buffer for the test; the root logger put back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = sys.excepthook, threading.excepthook
    out = io.StringIO()
    # an earlier test of the run may have left warnings captured (pytest swaps showwarning
    # per test): start from "not captured" so configure() routes them here, as in a process
    logging.captureWarnings(False)
    logs.configure("INFO", stream=out, tenant="acme")
    yield out
    structlog.contextvars.clear_contextvars()
    logging.captureWarnings(False)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    """Every line of the output as JSON; a line that is not one object fails the test.
    Lines are split as the strictest reader splits them (str.splitlines)."""
    parsed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


def test_quotes_newlines_and_non_ascii_stay_in_one_line(stream: io.StringIO) -> None:
    message = 'he said "stop"\nthen left\ttab\r\\ Ünïcødé 日本 \u2028 sep \x85 \x1b[31m'
    logging.getLogger("frostbyte.test").warning("%s", message)
    [line] = lines(stream)
    assert line["event"] == message
    assert line["level"] == "warning"
    assert line["logger"] == "frostbyte.test"
    assert line["tenant"] == "acme"
    assert line["time"].endswith("Z") and "T" in line["time"]
    assert "日本" in stream.getvalue()  # written as UTF-8, not \\u escapes


def test_a_traceback_is_the_exception_field_of_one_line(stream: io.StringIO) -> None:
    try:
        raise ValueError('bad "value"\nsecond line')
    except ValueError:
        logging.getLogger("frostbyte.test").exception("it failed")
    [line] = lines(stream)
    assert line["event"] == "it failed"
    assert line["level"] == "error"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert 'ValueError: bad "value"\nsecond line' in line["exception"]


def test_context_fields_are_bound_per_block_and_extras_kept(stream: io.StringIO) -> None:
    log = logging.getLogger("frostbyte.test")
    with logs.bound(batch_id="b1"):
        logs.bind(document_id="d1")
        log.info("inside", extra={"stage": "parse"})
    log.info("after")
    inside, after = lines(stream)
    assert inside | {"time": None} == {
        "time": None, "level": "info", "logger": "frostbyte.test", "event": "inside",
        "tenant": "acme", "batch_id": "b1", "document_id": "d1", "stage": "parse"}
    assert "batch_id" not in after and "document_id" not in after
    assert after["tenant"] == "acme"


def test_structlog_loggers_write_the_same_lines(stream: io.StringIO) -> None:
    structlog.get_logger("frostbyte.struct").info("counted", items=3)
    [line] = lines(stream)
    assert line["event"] == "counted" and line["items"] == 3
    assert line["level"] == "info" and line["logger"] == "frostbyte.struct"
    assert line["tenant"] == "acme" and "time" in line


def test_secrets_never_reach_a_line(stream: io.StringIO) -> None:
    log = logging.getLogger("frostbyte.test")
    log.info("connecting to postgresql://fb_acme:s3cr3t-pw@127.0.0.1:5432/fb_acme",
             extra={"api_key": "sk-live-123", "authorization": "Bearer abc.def",
                    "conninfo": "host=x password=hunter2"})
    log.info("libpq says: host=/run password=hunter2 dbname=x; header Bearer tok.en-1")
    text = stream.getvalue()
    for secret in ("s3cr3t-pw", "sk-live-123", "abc.def", "hunter2", "tok.en-1"):
        assert secret not in text
    first, second = lines(stream)
    assert first["event"] == "connecting to postgresql://fb_acme:***@127.0.0.1:5432/fb_acme"
    assert first["api_key"] == first["authorization"] == first["conninfo"] == "[redacted]"
    assert second["event"] == "libpq says: host=/run password=*** dbname=x; header Bearer ***"


def test_warnings_and_library_loggers_are_lines(stream: io.StringIO) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    warned, uvicorn = lines(stream)
    assert warned["logger"] == "py.warnings" and "deprecated thing" in warned["event"]
    assert uvicorn["logger"] == "uvicorn.error"
    assert uvicorn["event"] == "Started server process [42]"


def test_an_uncaught_exception_in_a_process_is_one_json_line() -> None:
    code = ("from frostbyte_common import logs; logs.configure('INFO', tenant='t1');"
            "raise RuntimeError('no \"way\"\\nout')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    [line] = [json.loads(x) for x in done.stderr.splitlines()]
    assert line["level"] == "critical" and line["tenant"] == "t1"
    assert 'RuntimeError: no "way"\nout' in line["exception"]


def test_a_thread_that_dies_is_one_line(stream: io.StringIO) -> None:
    def boom() -> None:
        raise KeyError("lost")

    thread = threading.Thread(target=boom, name="worker-7")
    thread.start()
    thread.join()
    [line] = lines(stream)
    assert line["event"] == "uncaught exception in thread worker-7"
    assert "KeyError: 'lost'" in line["exception"]


# -- the relay: what other processes write --------------------------------------------------
def test_the_relay_keeps_a_log_line_and_wraps_anything_else() -> None:
    ours = '{"time":"2026-12-02T10:00:00.000Z","level":"info","event":"x","request_id":"r"}'
    assert wrap_line(ours.encode() + b"\n", logger="data_plane.api") == ours
    not_a_log_line = json.loads(wrap_line(b'{"applied": ["0001"]}\n', logger="data_plane.migrate"))
    assert not_a_log_line["event"] == '{"applied": ["0001"]}'
    assert not_a_log_line["logger"] == "data_plane.migrate"
    plain = json.loads(wrap_line("Traceback (most recent call last): «é»\n".encode(),
                                 logger="data_plane.api", level="error",
                                 context={"tenant": "acme"}))
    assert plain | {"time": None} == {"time": None, "level": "error", "logger": "data_plane.api",
                                      "event": "Traceback (most recent call last): «é»",
                                      "tenant": "acme"}
    assert json.loads(wrap_line(b"\xff\xfe broken utf-8", logger="x"))["event"].endswith(
        "broken utf-8")


@pytest.mark.parametrize(("raw", "level", "event"), [
    (b"2026/12/02 10:00:00 [warn] 12#12: *3 upstream sent \"bad\" header, client: 127.0.0.1",
     "warning", '12#12: *3 upstream sent "bad" header, client: 127.0.0.1'),
    (b"2026/12/02 10:00:00 [emerg] 1#1: bind() failed", "critical", "1#1: bind() failed"),
    (b"2026/12/02 10:00:00 [notice] 1#1: start worker processes", "info",
     "1#1: start worker processes"),
    (b"Wed Dec  2 10:00:20 2026 -> Self checking every 600 seconds.", "info",
     "Self checking every 600 seconds."),
    (b"ERROR: Can't open/parse the config file", "error",
     "ERROR: Can't open/parse the config file"),
    (b"LibClamAV Warning: cli_scanxz: decompress file size exceeds limits", "warning",
     "LibClamAV Warning: cli_scanxz: decompress file size exceeds limits"),
    (b"connect to postgresql://u:pw@h/db failed", "info",
     "connect to postgresql://u:***@h/db failed"),
])
def test_the_relay_reads_nginx_and_clamd_levels(raw: bytes, level: str, event: str) -> None:
    line = json.loads(wrap_line(raw, logger="nginx"))
    assert (line["level"], line["event"], line["logger"]) == (level, event, "nginx")


def test_the_relay_process_turns_its_input_into_lines() -> None:
    given = b'plain "text"\n\n{"time":"t","level":"info","event":"kept"}\nlast without newline'
    done = subprocess.run(
        relay_argv(sys.executable, logger="clamd", context={"tenant": "acme"}),
        input=given, capture_output=True, timeout=60, check=True)
    out = [json.loads(x) for x in done.stdout.decode().splitlines()]
    assert [o["event"] for o in out] == ['plain "text"', "kept", "last without newline"]
    assert out[0]["tenant"] == "acme" and out[0]["logger"] == "clamd"


# -- the request context: ids and access lines ---------------------------------------------
def app_with_routes() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, internal_message="internal error")

    @app.get("/v1/things")
    def things() -> dict[str, str]:
        logging.getLogger("frostbyte.route").info("listing things")
        return {"ok": "yes"}

    @app.get("/v1/broken")
    def broken() -> None:
        raise RuntimeError("route bug")

    return app


def call(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False,
                                        client=("203.0.113.9", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path, headers=headers)
    return asyncio.run(go())


def test_a_request_has_its_id_on_its_lines_and_in_its_answer(stream: io.StringIO) -> None:
    response = call(app_with_routes(), "/v1/things?api_key=sk-in-query",
                    {REQUEST_ID_HEADER: "caller-id.1"})
    assert response.status_code == 200
    assert response.headers[REQUEST_ID_HEADER] == "caller-id.1"
    route, access = lines(stream)
    assert route["event"] == "listing things" and route["request_id"] == "caller-id.1"
    assert access["logger"] == "frostbyte.access"
    assert access["request_id"] == "caller-id.1"
    assert (access["method"], access["path"], access["status"], access["client"]) == (
        "GET", "/v1/things", 200, "203.0.113.9")
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert "sk-in-query" not in stream.getvalue()


def test_an_unsafe_request_id_is_replaced(stream: io.StringIO) -> None:
    response = call(app_with_routes(), "/v1/things", {REQUEST_ID_HEADER: "bad id <script>" * 3})
    rid = response.headers[REQUEST_ID_HEADER]
    assert len(rid) == 32 and rid.isalnum()
    assert {line["request_id"] for line in lines(stream)} == {rid}


def test_a_failed_request_logs_its_traceback_and_a_500_access_line(
        stream: io.StringIO) -> None:
    response = call(app_with_routes(), "/v1/broken")
    assert response.status_code == 500
    rid = response.headers[REQUEST_ID_HEADER]
    assert response.json()["error"]["request_id"] == rid
    records = lines(stream)
    access = next(r for r in records if r["logger"] == "frostbyte.access")
    assert access["status"] == 500 and access["request_id"] == rid
    failure = next(r for r in records if "exception" in r)
    assert "RuntimeError: route bug" in failure["exception"] and failure["request_id"] == rid


def test_the_relay_loads_no_logging_library() -> None:
    """A relay runs beside every process of every tenant: an interpreter and the standard
    library, not structlog (which would double its memory)."""
    code = ("import sys, frostbyte_common.log_relay; "
            "sys.exit(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'structlog', 'pydantic', 'httpx', 'fastapi'}) or 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_a_call_to_a_data_plane_carries_the_request_id_it_serves() -> None:
    """An admin's request id reaches the data plane's lines of the control call it made."""
    from control_plane.adapters.data_plane_control import DataPlaneControl

    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get(REQUEST_ID_HEADER))
        return httpx.Response(200, json={"suspended": False})

    control = DataPlaneControl("http://dp.test", "ck", actor="admin:ops",
                               transport=httpx.MockTransport(answer))

    async def calls() -> None:
        await control.suspended()  # outside a request: no id
        with logs.bound(request_id="admin-req-7"):
            await control.suspended()

    asyncio.run(calls())
    assert sent == [None, "admin-req-7"]
