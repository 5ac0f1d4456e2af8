"""The log relay: what a process writes that is not a JSON log line yet becomes one.

The local provider (and ``frostbyte local up``) start each long-lived process with its output
going through a relay into its file in ``logs/``::

    python -m frostbyte_common.log_relay --logger clamd --field tenant=acme

It reads its standard input line by line until the last process holding the pipe has exited,
and writes each line to its standard output: a line that already is a log line (a JSON object
with ``time``, ``level`` and ``event``: what :mod:`frostbyte_common.logs` writes) as it is;
anything else — clamd's log, nginx's error log (neither program writes JSON), a traceback
printed before a process set up its logging, a C library's warning — as
``{"time", "level", "logger", "event", ...fields}``, its level read from the line where it
says (nginx's ``[warn]``, clamd's ``ERROR:``). It runs as the process that started it (the
control plane, which alone writes ``logs/``).

Standard library only, and kept apart from :mod:`frostbyte_common.logs` (structlog): a relay
runs beside every process of every tenant, so it costs an interpreter's memory (~12 MB) and
nothing more. The text helpers here (:func:`mask_text`, :func:`json_line`) are the ones the
process-side logging uses too, so both write the same lines.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

#: ``scheme://user:password@`` in a URL, ``password=...`` in a libpq conninfo or a query, and
#: ``Bearer <token>``: masked inside any string written.
_SECRET_IN_TEXT = (
    (re.compile(r"(?P<keep>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)"), r"\g<keep>***"),
    (re.compile(r"(?P<keep>\b(password|passwd|secret|api_key|token)\s*=\s*)('[^']*'|[^\s&'\"]+)",
                re.IGNORECASE), r"\g<keep>***"),
    (re.compile(r"(?P<keep>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\g<keep>***"),
)
#: Characters json.dumps(ensure_ascii=False) leaves raw that some readers take for line
#: breaks (str.splitlines does): escaped, so a line is a line for every reader.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
#: nginx's error-log prefix (``2026/12/02 10:00:00 [warn] 12#12: *3 ...``) and clamd's
#: (``Wed Dec  2 10:00:00 2026 -> ...``, ``ERROR: ...``).
_NGINX_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(?P<level>[a-z]+)\] (?P<event>.*)$")
_CLAMD_TIME = re.compile(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} -> ")
_LEVEL_PREFIX = re.compile(r"^(LibClamAV )?(?P<level>ERROR|Error|WARNING|Warning|WARN):\s*")
_NGINX_LEVELS = {"debug": "debug", "info": "info", "notice": "info", "warn": "warning",
                 "error": "error", "crit": "critical", "alert": "critical",
                 "emerg": "critical"}
_REQUIRED = ("time", "level", "event")


def mask_text(text: str) -> str:
    """``text`` with any password in a URL or conninfo and any bearer token masked."""
    for pattern, replacement in _SECRET_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def json_line(event: Mapping[str, Any]) -> str:
    """One line of JSON (UTF-8 text kept as it is; control characters and anything a
    reader could take for a line break escaped); values JSON lacks are written as text."""
    text = json.dumps(event, ensure_ascii=False, default=str, separators=(",", ":"))
    for raw, escaped in _LINE_BREAKS.items():
        text = text.replace(raw, escaped)
    return text


def utc_now() -> str:
    """Now, as every line's ``time``: ISO-8601, UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wrap_line(raw: bytes, *, logger: str, level: str = "info",
              context: Mapping[str, Any] | None = None) -> str:
    """One line a process wrote, as a log line (see the module's docstring)."""
    text = raw.decode("utf-8", "replace").rstrip("\r\n")
    if text.startswith("{"):
        try:
            found = json.loads(text)
        except ValueError:
            found = None
        if isinstance(found, dict) and all(k in found for k in _REQUIRED):
            return json_line(found) if any(c in text for c in _LINE_BREAKS) else text
    if (nginx := _NGINX_LINE.match(text)) is not None:
        level = _NGINX_LEVELS.get(nginx["level"], level)
        text = nginx["event"]
    else:
        text = _CLAMD_TIME.sub("", text, count=1)
        if (prefix := _LEVEL_PREFIX.match(text)) is not None:
            level = "error" if prefix["level"].upper() == "ERROR" else "warning"
    return json_line({"time": utc_now(), "level": level, "logger": logger,
                      "event": mask_text(text), **(context or {})})


def relay(source: Iterable[bytes], fd: int, *, logger: str, level: str = "info",
          context: Mapping[str, Any] | None = None) -> None:
    """Copy ``source``'s lines to the file descriptor ``fd``, each made a log line by
    :func:`wrap_line` and written with one ``write()``, until ``source`` ends."""
    for raw in source:
        if not raw.strip():
            continue
        view = memoryview((wrap_line(raw, logger=logger, level=level, context=context)
                           + "\n").encode("utf-8"))
        while view:
            view = view[os.write(fd, view):]


def relay_argv(python: str, *, logger: str, level: str = "info",
               context: Mapping[str, str] | None = None) -> list[str]:
    """The command of a relay: it reads its standard input, writes its standard output."""
    argv = [python, "-m", "frostbyte_common.log_relay", "--logger", logger, "--level", level]
    for key, value in (context or {}).items():
        argv += ["--field", f"{key}={value}"]
    return argv


def main(argv: list[str] | None = None) -> int:
    """``python -m frostbyte_common.log_relay --logger NAME [--level L] [--field K=V]...``"""
    args = sys.argv[1:] if argv is None else argv
    options: dict[str, str] = {"--level": "info"}
    fields: dict[str, str] = {}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag == "--field":
            key, _, field_value = value.partition("=")
            fields[key] = field_value
        elif flag in ("--logger", "--level"):
            options[flag] = value
        else:
            raise SystemExit(f"unknown option {flag}")
    if "--logger" not in options:
        raise SystemExit("--logger NAME is required")
    # the relay outlives a stop of the process it serves: it ends when its input does
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    relay(sys.stdin.buffer, sys.stdout.fileno(), logger=options["--logger"],
          level=options["--level"], context=fields)
    return 0


if __name__ == "__main__":
    sys.exit(main())
