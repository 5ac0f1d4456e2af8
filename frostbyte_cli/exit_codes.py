"""The ``frostbyte`` command's exit codes, and the JSON shape of an error (``--json``).

A script tells the outcomes apart by the exit code alone:

    0  success (a batch: every document INDEXED, or the only rejections are DUPLICATE)
    1  a check said no: the audit chain or an export is broken, ``doctor`` found drift, a
       tenant ended FAILED, a certificate fingerprint differs; a confirmation was declined
       (nothing was done); or an error not listed below
    2  usage: a wrong or missing option, argument, setting (FROSTBYTE_ENDPOINT, FROSTBYTE_KEY,
       the admin token) or file; or the server refused the request as invalid (400, 413,
       422: INVALID_MANIFEST, DUPLICATE_NAME, BATCH_TOO_LARGE, VALIDATION_FAILED, ...)
    3  auth: the server refused the credential (401 UNAUTHENTICATED, 403 INSUFFICIENT_SCOPE,
       TENANT_SUSPENDED, FORBIDDEN)
    4  not found (404: BATCH_NOT_FOUND, DOCUMENT_NOT_FOUND, TENANT_NOT_FOUND, ...)
    5  conflict (409: IDEMPOTENCY_KEY_REUSED, DOCUMENT_HELD, INVALID_TRANSITION, ...)
    6  partial batch: the batches went in, but some document ended (or, with --no-wait,
       already is) REJECTED, QUARANTINED or FAILED — DUPLICATE excepted — or is not finished
       when the wait ends
    7  server or network: unreachable, TLS refused, a 5xx, 408, or 429 after the retries
       (Retry-After honoured), or a wait that ran out of time

``frostbyte bundle`` keeps its own refusal codes (see ``offline_bundle/errors.py``).

With ``--json`` an error is one line of JSON on **stderr**, the servers' envelope with two
fields added: ``{"error": {"code", "message", "request_id", "http_status", "exit_code"}}``
(``request_id`` and ``http_status`` are null for an error found before any answer). Stdout
then holds only results, never an error.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

from frostbyte_cli.client import (
    PARTIAL_BATCH_EXIT,
    ApiError,
    CliError,
    ConnectionFailed,
    WaitTimedOut,
)


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    CONFLICT = 5
    PARTIAL_BATCH = PARTIAL_BATCH_EXIT
    UNAVAILABLE = 7


#: Codes of errors the CLI finds itself, before or without an answer, that mean "called
#: wrong" (exit 2).
USAGE_CODES = frozenset({
    "USAGE", "BAD_OPTION", "NO_FILES", "DUPLICATE_NAME", "FILE_TOO_LARGE", "BAD_CA_CERT",
    "NO_TENANT_ENDPOINT", "NO_ADMIN_TOKEN", "INVALID_IDEMPOTENCY_KEY",
})
#: Codes of errors the CLI finds itself that mean "the server or the network" (exit 7).
UNAVAILABLE_CODES = frozenset({"CONNECTION_FAILED", "TIMEOUT", "BAD_RESPONSE"})

#: The table as the help and the vendor guide show it.
EXIT_CODE_HELP = (
    "Exit codes: 0 success (duplicates-only rejections included); 1 a check failed (audit "
    "chain, doctor, tenant FAILED); 2 usage (bad option, missing setting, or a request the "
    "server refused as invalid: 400/413/422); 3 auth (401/403); 4 not found (404); "
    "5 conflict (409); 6 partial batch (a document REJECTED, QUARANTINED, FAILED or "
    "unfinished, DUPLICATE excepted); 7 server or network (unreachable, 5xx, 408, 429 after "
    "retries, a wait timed out). With --json an error is one JSON line on stderr: "
    '{"error": {"code", "message", "request_id", "http_status", "exit_code"}}.'
)


def exit_code_for_status(status: int) -> ExitCode:
    """The exit code of an HTTP error status."""
    if status in (401, 403):
        return ExitCode.AUTH
    if status == 404:
        return ExitCode.NOT_FOUND
    if status == 409:
        return ExitCode.CONFLICT
    if status in (408, 429) or status >= 500:
        return ExitCode.UNAVAILABLE
    if 400 <= status < 500:
        return ExitCode.USAGE
    return ExitCode.FAILED


def exit_code_for(error: CliError) -> ExitCode:
    """The exit code of a failure (see the module's table)."""
    if isinstance(error, ConnectionFailed | WaitTimedOut) or error.code in UNAVAILABLE_CODES:
        return ExitCode.UNAVAILABLE
    if isinstance(error, ApiError) and error.status_code is not None:
        return exit_code_for_status(error.status_code)
    if error.code in USAGE_CODES:
        return ExitCode.USAGE
    return ExitCode.FAILED


def error_envelope(code: str, message: str, *, exit_code: int, request_id: str | None = None,
                   http_status: int | None = None) -> dict[str, Any]:
    """The JSON of an error under ``--json`` (the servers' envelope, two fields added)."""
    return {"error": {"code": code, "message": message, "request_id": request_id,
                      "http_status": http_status, "exit_code": int(exit_code)}}


def envelope_of(error: CliError) -> dict[str, Any]:
    return error_envelope(error.code, error.message, exit_code=exit_code_for(error),
                          request_id=error.request_id, http_status=error.status_code)


def envelope_line(envelope: dict[str, Any]) -> str:
    """One line, so that a script reads the error with a single ``readline``."""
    return json.dumps(envelope, sort_keys=True, ensure_ascii=False, default=str)
