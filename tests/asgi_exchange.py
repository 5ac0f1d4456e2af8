"""One request driven straight into an ASGI app, to see whether (and how often) the app asked
for body bytes before answering: the request-guard tests of both planes use it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any


class Exchange:
    """One request sent straight to the ASGI app: what it answered, and how many times it
    asked for body bytes (each ``receive`` hands it the next chunk, for ever if endless;
    an empty chunk ends the body, and past the last one the client stops sending)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.receives = 0
        self.received = 0
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""

    async def receive(self) -> dict[str, Any]:
        self.receives += 1
        chunk = next(self._chunks, None)
        if chunk is None:
            await asyncio.sleep(3600)  # a client that stops sending
        self.received += len(chunk or b"")
        # an empty chunk ends the body
        return {"type": "http.request", "body": chunk, "more_body": chunk != b""}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    @property
    def code(self) -> str:
        return str(json.loads(self.body)["error"]["code"])
