"""The ``MalwareScanner`` port on clamd's INSTREAM command over its Unix socket.

A small client of our own: of the PyPI clients, ``clamd`` (1.0.2, 2014) and ``pyclamd``
(0.4.0, 2017) are unmaintained, and ``clamav-client`` (0.7.2) streams 1 KiB chunks, applies
its timeout only after connecting and lets a broken pipe mid-stream escape as a bare
``OSError``. The protocol is three messages (``zINSTREAM\\0``; length-prefixed chunks; a
zero length), so we speak it directly and map every failure to ``ScannerUnavailable``.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from data_plane.domain.intake_scan import ScanVerdict
from data_plane.errors import ScannerUnavailable

CHUNK_BYTES = 1 << 20


class ClamdScanner:
    """INSTREAM client of one clamd socket; one connection per scan (clamd's model)."""

    def __init__(self, socket_path: Path | str, *, timeout: float = 120.0) -> None:
        self._path = str(socket_path)
        self._timeout = timeout

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout)
        try:
            sock.connect(self._path)
        except OSError as exc:
            sock.close()
            raise ScannerUnavailable(f"clamd at {self._path} cannot be reached: {exc}") from exc
        return sock

    @staticmethod
    def _reply(sock: socket.socket) -> str:
        data = bytearray()
        while not data.endswith(b"\0"):
            block = sock.recv(4096)
            if not block:
                break
            data += block
        return data.rstrip(b"\0").decode("utf-8", "replace").strip()

    def ping(self) -> bool:
        try:
            with self._connect() as sock:
                sock.sendall(b"zPING\0")
                return self._reply(sock) == "PONG"
        except (ScannerUnavailable, OSError):
            return False

    def version(self) -> str:
        """clamd's ``VERSION`` reply (engine, and the daily database's version and date when
        an official one is loaded); ``ScannerUnavailable`` when clamd does not answer."""
        try:
            with self._connect() as sock:
                sock.sendall(b"zVERSION\0")
                reply = self._reply(sock)
        except ScannerUnavailable:
            raise
        except OSError as exc:
            raise ScannerUnavailable(f"clamd did not answer VERSION: {exc}") from exc
        if not reply:
            raise ScannerUnavailable("clamd closed the connection without a VERSION reply")
        return reply

    def reload(self) -> str:
        """Ask clamd to reload its signature database (``RELOAD``; it keeps scanning with
        the old one meanwhile); its reply, ``RELOADING``."""
        try:
            with self._connect() as sock:
                sock.sendall(b"zRELOAD\0")
                return self._reply(sock)
        except ScannerUnavailable:
            raise
        except OSError as exc:
            raise ScannerUnavailable(f"clamd did not answer RELOAD: {exc}") from exc

    def scan(self, path: Path) -> ScanVerdict:
        """Stream the file to clamd; the verdict, or ``ScannerUnavailable``."""
        try:
            with self._connect() as sock, path.open("rb") as source:
                sock.sendall(b"zINSTREAM\0")
                while block := source.read(CHUNK_BYTES):
                    sock.sendall(struct.pack("!L", len(block)) + block)
                sock.sendall(struct.pack("!L", 0))
                reply = self._reply(sock)
        except ScannerUnavailable:
            raise
        except OSError as exc:  # timeouts, resets, broken pipes while streaming
            raise ScannerUnavailable(f"clamd scan did not finish: {exc}") from exc
        return parse_reply(reply)


def parse_reply(reply: str) -> ScanVerdict:
    """``stream: OK`` → clean; ``stream: NAME FOUND`` → infected; anything else (``... ERROR``,
    an empty reply when clamd died) → ``ScannerUnavailable``."""
    body = reply.removeprefix("stream:").strip()
    if body == "OK":
        return ScanVerdict()
    if body.endswith(" FOUND"):
        return ScanVerdict(signature=body.removesuffix(" FOUND").strip())
    raise ScannerUnavailable(f"clamd gave no verdict: {reply or '(no reply)'}")


def scanner_from_settings(socket_path: Path | None, timeout: float) -> ClamdScanner | None:
    """The tenant's scanner, or None when no clamd is configured."""
    return ClamdScanner(socket_path, timeout=timeout) if socket_path else None
