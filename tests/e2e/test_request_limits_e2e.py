"""A served data plane (``python -m data_plane serve``, uvicorn, the model loaded) against
hostile clients (security review, issue 16 finding 2): an unauthenticated 50 MB JSON body to
``POST /v1/search`` is answered 401 at once and the API's memory does not grow with it; a
client that trickles its headers is disconnected after the header timeout while a normal
client is still served."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.harness import DataPlaneHarness, submit

pytestmark = pytest.mark.e2e

MIB = 1 << 20
HEADER_TIMEOUT_S = 2.0


@dataclass
class _Plane(DataPlaneHarness):
    """The harness's data plane with the server's limits made short for the test, and its
    API alone: nothing here needs a document processed."""

    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra_env}

    def start(self, role: str) -> None:
        if role == "serve":
            super().start(role)


@pytest.fixture(scope="module")
def plane(module_database: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[_Plane]:
    with _Plane("limits", module_database, tmp_path_factory.mktemp("dp"), extra_env={
            "FROSTBYTE_DP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
            "FROSTBYTE_DP_BODY_TIMEOUT_S": "5"}) as harness:
        yield harness


def _rss(plane: _Plane) -> int:
    return int(psutil.Process(plane.procs["serve"].pid).memory_info().rss)


def _read_answer(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent until it closed the connection (or ``timeout``)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _stream(port: int, head: bytes, body: Iterator[bytes], limit: int) -> tuple[bytes, int]:
    """Send ``head``, then body chunks until the server answers (or ``limit`` bytes are
    sent); the answer and how many body bytes went out before it came."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for chunk in body:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable or sent >= limit:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed: its answer is waiting
            sent += len(chunk)
        return _read_answer(sock, 10), sent


def _json_forever() -> Iterator[bytes]:
    yield b'{"query": "'
    while True:
        yield b"a" * 65536


def _chunked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)


def test_an_unauthenticated_50_mb_search_is_refused_at_once_without_growing_the_api(
        plane: _Plane) -> None:
    # settle: the first requests warm what they touch
    for _ in range(3):
        httpx.post(f"{plane.url}/v1/search", json={"query": "warm"}, timeout=10)
    before = _rss(plane)
    size = 50 * MIB

    # declared: the answer comes before a single body byte is sent
    head = (b"POST /v1/search HTTP/1.1\r\nHost: dp\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % size)
    started = time.monotonic()
    answer, sent = _stream(plane.port, head, _json_forever(), limit=0)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b'"UNAUTHENTICATED"' in answer
    assert time.monotonic() - started < 5

    # streamed (chunked, no length): 50 MB offered, refused while the client still sends
    head = (b"POST /v1/search HTTP/1.1\r\nHost: dp\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    answer, sent = _stream(plane.port, head, _chunked(_json_forever()), limit=size)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
    assert sent < size, "the server let the whole 50 MB in before answering"

    # and with the key: the declared 50 MB is over the search cap, refused up front
    head = (b"POST /v1/search HTTP/1.1\r\nHost: dp\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
            % (plane.key.encode(), size))
    answer, _ = _stream(plane.port, head, _json_forever(), limit=0)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b'"BODY_TOO_LARGE"' in answer

    grown = _rss(plane) - before
    assert grown < 16 * MIB, f"the API's RSS grew by {grown / MIB:.1f} MiB"
    assert httpx.get(f"{plane.url}/healthz", timeout=10).status_code == 200


def test_a_client_trickling_headers_is_cut_off_while_others_are_served(
        plane: _Plane) -> None:
    lorises = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", plane.port), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: dp\r\n")
        lorises.append(sock)
    try:
        started = time.monotonic()
        closed: set[int] = set()
        served = 0
        while time.monotonic() - started < HEADER_TIMEOUT_S + 4 and len(closed) < len(lorises):
            for i, sock in enumerate(lorises):
                if i in closed:
                    continue
                try:
                    sock.sendall(b"X-Slow: 1\r\n")  # one header line at a time, never done
                    readable, _, _ = select.select([sock], [], [], 0)
                    if readable and sock.recv(1024) == b"":
                        closed.add(i)
                except OSError:
                    closed.add(i)
            # a normal client meanwhile
            served += httpx.get(f"{plane.url}/healthz", timeout=5).status_code == 200
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        assert len(closed) == len(lorises), (
            f"{len(lorises) - len(closed)} trickling connections still open after "
            f"{elapsed:.1f} s")
        assert elapsed >= HEADER_TIMEOUT_S - 0.5  # not before the timeout
        assert served >= 4
    finally:
        for sock in lorises:
            sock.close()


def test_an_idle_connection_that_never_sends_is_closed(plane: _Plane) -> None:
    with socket.create_connection(("127.0.0.1", plane.port), timeout=10) as sock:
        started = time.monotonic()
        assert _read_answer(sock, HEADER_TIMEOUT_S + 5) == b""
        assert time.monotonic() - started < HEADER_TIMEOUT_S + 3


def test_a_slow_body_is_answered_408(plane: _Plane, tmp_path: Path) -> None:
    head = (b"POST /v1/search HTTP/1.1\r\nHost: dp\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{\"query\""
            % plane.key.encode())
    with socket.create_connection(("127.0.0.1", plane.port), timeout=10) as sock:
        sock.sendall(head)
        answer = _read_answer(sock, 15)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b'"REQUEST_TIMEOUT"' in answer


def test_an_upload_still_streams_through_once_its_key_is_checked(
        plane: _Plane, tmp_path: Path) -> None:
    sample = tmp_path / "note.txt"
    sample.write_bytes(b"Parking permits are renewed every year in March.\n" * 2000)
    with plane.client() as client:
        receipt = submit(client, [sample])
    assert [d["status"] for d in receipt["documents"]] == ["ACCEPTED"]
    # without the key, the same upload is refused before its body is read
    head = (b"POST /v1/batches HTTP/1.1\r\nHost: dp\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\n\r\n"
            % (50 * MIB))
    answer, _ = _stream(plane.port, head, _json_forever(), limit=0)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]


def test_an_upload_refused_mid_stream_still_reads_its_413(plane: _Plane) -> None:
    """The manifest alone is over the batch limit: the 413 comes while 20 MB of file bytes
    are still to be sent, and the client reads it (the server stops reading that body)."""
    huge = {"client_ref": "too-big", "files": [
        {"name": "huge.bin", "sha256": "0" * 64, "size": 6 * 1024**3}]}
    with plane.client() as client:
        response = client.post("/v1/batches", data={"manifest": json.dumps(huge)},
                               files=[("files", ("huge.bin", b"\0" * (20 * MIB)))])
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "BATCH_TOO_LARGE"
    assert httpx.get(f"{plane.url}/healthz", timeout=10).status_code == 200
