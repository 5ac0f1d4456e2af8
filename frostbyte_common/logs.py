"""Logs of every Frostbyte process: one JSON object per line, on standard error.

:func:`configure` sets up the standard library's logging and structlog once per process, so
that every record — ours, the libraries', uvicorn's, ``warnings``, an uncaught exception in
any thread — is written as one line::

    {"time": "2026-12-02T10:00:00.123Z", "level": "info", "logger": "data_plane.services.pipeline",
     "event": "document parsed", "tenant": "acme", "batch_id": "…", "document_id": "…"}

* ``time`` — ISO-8601 in UTC, milliseconds; ``level`` — debug, info, warning, error, critical;
  ``logger`` — the logger's name; ``event`` — the message, formatted;
* context fields, from context variables (:func:`bind`): ``tenant`` (bound at a process's
  start), ``request_id`` (per HTTP request, :mod:`frostbyte_common.request_context`),
  ``batch_id`` / ``document_id`` (while a worker processes a job); fields a call passes in
  ``extra=`` are kept as they are;
* ``exception`` — the traceback of a record logged with ``exc_info``, as one string (its
  newlines escaped, so a traceback never breaks a line).

Nothing secret is written: fields whose name says secret (password, token, authorization,
api key...) are replaced by ``"[redacted]"``, and a password inside a connection URL or a
libpq conninfo, or a bearer token, is masked wherever it appears in a line (defence in
depth: the code does not log them in the first place).

A process writes its lines with one ``write()`` each to its standard error, which the
process that started it points at a log file or a pipe (the local provider's
:mod:`frostbyte_common.log_relay`, which also wraps whatever else a process writes there).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

import structlog

from frostbyte_common.log_relay import json_line, mask_text
from frostbyte_common.log_relay import relay_argv as relay_argv  # the provider's, re-exported
from frostbyte_common.log_relay import wrap_line as wrap_line

REDACTED = "[redacted]"

#: Field names whose values are never written.
_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|authorization|api[_-]?key|cookie|credential|"
    r"private[_-]?key|conninfo|database_url)", re.IGNORECASE)
#: Attributes of every LogRecord: not copied into a line as ``extra`` fields.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "color_message", "taskName"}


@dataclass(frozen=True, slots=True)
class LogSetup:
    """What a process configured, handed to the processes it spawns (the parser child)."""

    level: str = "INFO"
    context: Mapping[str, Any] = field(default_factory=dict)


_current: LogSetup | None = None


def _utc_time(_logger: Any, _name: str, event: MutableMapping[str, Any]
              ) -> MutableMapping[str, Any]:
    record = event.get("_record")
    created = record.created if isinstance(record, logging.LogRecord) else None
    when = datetime.fromtimestamp(created, UTC) if created is not None else datetime.now(UTC)
    event["time"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return event


def _record_extras(_logger: Any, _name: str, event: MutableMapping[str, Any]
                   ) -> MutableMapping[str, Any]:
    """Fields a stdlib call passed in ``extra=`` (``request_id``, ``document_id``...)."""
    record = event.get("_record")
    if isinstance(record, logging.LogRecord):
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                event.setdefault(key, value)
    return event


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        value = event[key]
        if _SECRET_KEY.search(key):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = mask_text(value)
    return event


def _order(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """The fixed fields first, so that a line reads the same way every time."""
    first = {k: event.pop(k) for k in ("time", "level", "logger", "event") if k in event}
    return {**first, **event}


def render(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> str:
    """The last processor: the line (:func:`frostbyte_common.log_relay.json_line`)."""
    return json_line(event)


def _stdlib_level(_logger: Any, name: str, event: MutableMapping[str, Any]
                  ) -> MutableMapping[str, Any]:
    record = event.get("_record")
    if isinstance(record, logging.LogRecord):
        event["level"] = record.levelname.lower()
        event["logger"] = record.name
    else:
        event.setdefault("level", "warning" if name == "warn" else name)
    return event


def formatter() -> logging.Formatter:
    """The formatter of every handler: a record becomes one JSON line."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _stdlib_level,
        _record_extras,
    ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            _utc_time,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact,
            _order,
            render,
        ],
    )


class JsonLinesHandler(logging.Handler):
    """Writes each record as one line with a single ``write()`` to a file descriptor, so
    that lines of processes sharing it (a worker and its parser child) never interleave."""

    def __init__(self, fd: int = 2) -> None:
        super().__init__()
        self.fd = fd
        self.setFormatter(formatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
        except Exception:
            self.handleError(record)


def configure(level: str = "INFO", *, stream: TextIO | None = None, **context: Any) -> None:
    """Make every record of this process one JSON line on standard error (or ``stream``),
    at ``level`` and above, with ``context`` (e.g. ``tenant=``) on every line."""
    global _current
    handler: logging.Handler
    if stream is None:
        handler = JsonLinesHandler()
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # libraries that configure their own handlers (and levels) write through ours instead,
    # at the root's level until they are told another (uvicorn sets its own from log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "procrastinate", "py.warnings"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
        named.setLevel(logging.NOTSET)
        named.disabled = False
    # httpx writes every request's URL, query string included, at INFO: a caller logs what
    # it calls itself, and keeps what a URL may carry out of the log
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
    if stream is None and not os.isatty(2):
        # progress bars are for a terminal: in a log, each redraw is another line
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    bind(**context)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    _current = LogSetup(level=level.upper(), context=dict(context))


def current() -> LogSetup | None:
    """What :func:`configure` set in this process (None: not configured)."""
    return _current


def bind(**fields: Any) -> None:
    """Put ``fields`` on every line this context writes from now on (None values unset)."""
    present = {k: v for k, v in fields.items() if v is not None}
    structlog.contextvars.bind_contextvars(**present)
    absent = [k for k, v in fields.items() if v is None]
    if absent:
        structlog.contextvars.unbind_contextvars(*absent)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """``fields`` on every line written inside the block (and whatever :func:`bind` adds
    inside it); the context bound before comes back after it."""
    before = structlog.contextvars.get_contextvars()
    bind(**fields)
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**before)


def request_id_header() -> dict[str, str]:
    """``{"X-Request-ID": id}`` of the request being served (empty outside one): a call one
    plane makes to the other for it carries it on, so both planes' lines share the id."""
    rid = structlog.contextvars.get_contextvars().get("request_id")
    return {"X-Request-ID": str(rid)} if rid else {}


def context() -> dict[str, Any]:
    """The context fields bound now."""
    return dict(structlog.contextvars.get_contextvars())


def _uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("uncaught").critical("uncaught exception", exc_info=(kind, exc, tb))


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    logging.getLogger("uncaught").critical(
        "uncaught exception in thread %s", args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

