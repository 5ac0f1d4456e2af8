"""uvicorn as both APIs run it (frostbyte_common/serving.py), with either HTTP parser: a
request head that trickles past the header timeout or grows past 64 KiB closes the
connection, a normal keep-alive client is untouched, and requests past the concurrency
limit get 503 (issue 16, finding 2)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from frostbyte_common.serving import protocol

HEADER_TIMEOUT_S = 1.0


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers ``ok``; ``/slow`` after a second (to hold a request open)."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=[H11Protocol, HttpToolsProtocol], ids=["h11", "httptools"])
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            http=protocol(HEADER_TIMEOUT_S, base=request.param),
                            limit_concurrency=4, lifespan="off")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    yield port
    running.should_exit = True
    thread.join(timeout=10)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes the connection within ``seconds`` (whatever it answers
    first: h11 refuses an over-long head with its own 400)."""
    deadline = time.monotonic() + seconds
    with contextlib.suppress(ConnectionResetError):
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                if sock.recv(65536) == b"":
                    return True
            except TimeoutError:
                return False
        return False
    return True


def test_a_trickled_head_is_cut_off_after_the_header_timeout(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        cut = False
        while time.monotonic() - started < HEADER_TIMEOUT_S + 2:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                cut = True
                break
            sock.settimeout(0.2)
            with contextlib.suppress(TimeoutError):
                if sock.recv(1024) == b"":
                    cut = True
                    break
        assert cut, "the trickling connection was never closed"
        assert time.monotonic() - started >= HEADER_TIMEOUT_S - 0.2


def test_a_head_over_64_kib_is_cut_off(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(OSError):
            for _ in range(20):
                sock.sendall(b"a" * 8192)
        assert closed_within(sock, 5)


def test_keep_alive_clients_and_idle_ones(server: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{server}") as client:
        for _ in range(3):  # one connection, several requests, each head on time
            assert client.get("/").text == "ok"
            time.sleep(HEADER_TIMEOUT_S / 2)
    with socket.create_connection(("127.0.0.1", server)) as idle:  # never sends a byte
        assert closed_within(idle, HEADER_TIMEOUT_S + 2)


def test_requests_past_the_concurrency_limit_get_503(server: int) -> None:
    statuses: list[int] = []

    def one() -> None:
        statuses.append(httpx.get(f"http://127.0.0.1:{server}/slow", timeout=10).status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(200) >= 1 and 503 in statuses, statuses
