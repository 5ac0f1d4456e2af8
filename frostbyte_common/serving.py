"""How both APIs are served: uvicorn with limits a hostile client cannot outwait.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) and the requests it
takes at once (``limit_concurrency``: past it, 503), but nothing bounds the time a client
takes to send a request's line and headers — a connection that trickles a header byte now
and then is held for ever, and a few thousand of them lock real clients out — nor, with
httptools (the parser uvicorn picks when it is installed), their size. :func:`protocol`
adds both to uvicorn's HTTP protocol: a request head must be complete within
``header_timeout_s`` of its first byte (or of the connection), and within
:data:`MAX_HEAD_BYTES`; else the connection is closed. Body timeouts and caps are the
request guard's (:mod:`frostbyte_common.request_guard`), inside the app.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

log = logging.getLogger(__name__)

#: The most bytes a request's line and headers may take (nginx's default large header
#: buffers hold 4 x 8 KiB; h11's own limit is 16 KiB).
MAX_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What the server allows a client, from the deployable's settings."""

    header_timeout_s: float = 10.0
    keep_alive_timeout_s: int = 5
    max_concurrency: int = 200


def protocol(header_timeout_s: float, base: type[asyncio.Protocol] = AutoHTTPProtocol,
             max_head_bytes: int = MAX_HEAD_BYTES) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol ``base`` (h11 or httptools), closing a connection whose
    request head is not complete within ``header_timeout_s`` or ``max_head_bytes``."""

    class HeadLimitedProtocol(base):  # type: ignore[misc, valid-type]
        """A request head is due: a timer from the connection (or from the first byte after
        a response) until the server has the whole head (a new request cycle)."""

        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            waiting = cycle is None or cycle.response_complete
            if waiting and self._head_timer is None:
                self._arm()  # the first byte of the next request
            super().data_received(data)
            if self.cycle is not cycle:  # a whole head arrived: the app has the request
                self._disarm()
            elif waiting and self._head_timer is not None:
                self._head_bytes += len(data)
                if self._head_bytes > max_head_bytes:
                    log.warning("closing a connection whose request head passed %d bytes",
                                max_head_bytes)
                    self._close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._head_bytes = 0
            self._head_timer = self.loop.call_later(header_timeout_s, self._expired)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _expired(self) -> None:
            self._head_timer = None
            log.info("closing a connection that sent no whole request head in %g s",
                     header_timeout_s)
            self._close()

        def _close(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.close()

    HeadLimitedProtocol.__name__ = f"HeadLimited{base.__name__}"
    return HeadLimitedProtocol


def serve(app: Any, limits: ServerLimits, *, host: str | None = None, port: int | None = None,
          uds: Path | None = None, log_level: str = "info", **options: Any) -> None:
    """Run ``app`` with uvicorn on ``host:port`` or the Unix socket ``uds``, within
    ``limits``; ``options`` go to uvicorn as they are.

    Logging is the process's (:func:`frostbyte_common.logs.configure`): uvicorn installs no
    handler of its own (``log_config=None``), its error log goes through ours as JSON, and
    its access log is off — each request's access line, with its id and duration, is
    :mod:`frostbyte_common.request_context`'s."""
    where: dict[str, Any] = {"uds": str(uds)} if uds is not None else {"host": host,
                                                                       "port": port}
    options = {"log_config": None, **options, "access_log": False}
    uvicorn.run(app, **where, log_level=log_level.lower(),
                http=protocol(limits.header_timeout_s),
                timeout_keep_alive=limits.keep_alive_timeout_s,
                limit_concurrency=limits.max_concurrency, **options)
