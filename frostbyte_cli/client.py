"""Typed HTTP clients of the two Frostbyte APIs (SPEC §9), shared by the CLI, the demo and
the benchmark.

    CliError                 code, message, request_id, status_code (None: no HTTP answer)
    ├── ApiError             the server answered non-2xx with ``{"error": {...}}`` (or not)
    ├── ConnectionFailed     the server could not be reached (after retries, for GETs)
    └── WaitTimedOut         a wait_for_* ran out of time

Retries, by the shared :class:`~frostbyte_common.retry.RetryPolicy` (tenacity; by default
5 attempts, capped exponential backoff with jitter; the backoff and the sleep are
injectable): every request is retried on 429 and 503 — the server refused it before acting —
after exactly the ``Retry-After`` it sent (a wish longer than ``max_retry_after``, 120 s by
default, gives up at once); an idempotent request (a GET, or a batch sent with an
``Idempotency-Key``, which replays instead of duplicating) also on connection errors and on
408, 500, 502 and 504. When the retries run out, the last answer is the error. Pass
``transport=httpx.MockTransport(...)`` to test without a server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, NotRequired, TypedDict, cast, overload

import httpx

from frostbyte_common.retry import (
    TRANSIENT_TRANSPORT_ERRORS,
    RetriesExhausted,
    RetryableStatus,
    parse_retry_after,
)
from frostbyte_common.retry import RetryPolicy as RetryPolicy  # how clients retry, re-exported
from frostbyte_common.version import __version__

BATCH_DONE = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS"})
DOC_TERMINAL = frozenset({"INDEXED", "REJECTED", "QUARANTINED", "FAILED", "PURGED"})
_HASH_BLOCK = 1 << 20
#: Answers that say "not done, try again" for any request (the server acted on nothing).
REFUSED_FOR_NOW = frozenset({429, 503})
#: Answers worth another try of an idempotent request.
RETRYABLE_IDEMPOTENT = frozenset({408, 429, 500, 502, 503, 504})
#: The CLI's policy: a few tries, and never a wait longer than two minutes.
DEFAULT_RETRY = RetryPolicy(attempts=5, max_retry_after=120.0)
#: Told before each retry: what failed, the try that failed (1-based), seconds to wait.
RetryNotice = Callable[[str, int, float], None]


# -- errors ---------------------------------------------------------------------------------


class CliError(Exception):
    """A failure the CLI reports as ``CODE: message`` (with the server's request id)."""

    def __init__(self, message: str, *, code: str, request_id: str | None = None,
                 status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.status_code = status_code

    def __str__(self) -> str:
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.code}: {self.message}{rid}"


class ApiError(CliError):
    """The server answered with a non-2xx status."""


class ConnectionFailed(CliError):
    """No HTTP answer at all: refused, reset, timed out."""


class WaitTimedOut(CliError):
    """A ``wait_for_*`` did not see the wanted state in time."""


def error_from_response(response: httpx.Response) -> ApiError:
    """The ``{"error": {"code", "message", "request_id"}}`` body as an ``ApiError``."""
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and "code" in err:
        return ApiError(str(err.get("message") or ""), code=str(err["code"]),
                        request_id=str(err.get("request_id") or request_id or "") or None,
                        status_code=response.status_code)
    text = response.text.strip().replace("\n", " ")[:300] or response.reason_phrase
    return ApiError(text, code=f"HTTP_{response.status_code}", request_id=request_id,
                    status_code=response.status_code)


# -- response shapes (SPEC §9 field names; servers may add fields) -----------------------------


class Tenant(TypedDict):
    slug: str
    state: str
    provider: str
    endpoint: str | None
    tls_fingerprint: NotRequired[str | None]
    config: NotRequired[dict[str, Any]]
    display_name: NotRequired[str]
    failed_operation: NotRequired[str | None]
    failure_reason: NotRequired[str | None]
    health: NotRequired[dict[str, Any] | None]  # the last health poll
    created_at: NotRequired[str]
    updated_at: NotRequired[str]


class IssuedKey(TypedDict):
    key_id: str
    key: str
    scopes: list[str]
    label: NotRequired[str | None]


class BatchDocument(TypedDict):
    name: str
    sha256: str | None
    declared_sha256: str | None
    status: str
    document_id: NotRequired[str | None]
    reason: NotRequired[str | None]
    stage: NotRequired[str]


class Batch(TypedDict):
    batch_id: str
    documents: list[BatchDocument]
    status: NotRequired[str]  # absent from the receipt of POST /v1/batches
    received_at: NotRequired[str]
    client_ref: NotRequired[str]


class SearchHit(TypedDict):
    chunk_id: str
    document_id: str
    document_name: str
    text: str
    text_enveloped: str
    heading_path: list[str]
    score: float
    content_sha256: str
    page: NotRequired[int | None]
    sheet: NotRequired[str | None]


class IndexInfo(TypedDict):
    model: str
    dimension: int
    version: NotRequired[str]


class SearchProof(TypedDict):
    query_sha256: str
    index: IndexInfo
    chunk_hashes: list[str]
    audit_seq: int
    audit_hash: NotRequired[str]


class SearchResult(TypedDict):
    hits: list[SearchHit]
    proof: SearchProof


class AuditVerdict(TypedDict):
    ok: bool
    events: int
    head_hash: str | None
    first_bad_seq: NotRequired[int]
    problem: NotRequired[str]


# -- the batch outcome rule ------------------------------------------------------------------


def document_ok(doc: Mapping[str, Any], *, final: bool = True) -> bool:
    """INDEXED, or a DUPLICATE rejection (SPEC §9); before the end also ACCEPTED/PROCESSING."""
    status = doc.get("status")
    if status == "INDEXED" or (status == "REJECTED" and doc.get("reason") == "DUPLICATE"):
        return True
    return not final and status in ("ACCEPTED", "PROCESSING")


#: The exit code of a batch some of whose documents did not make it (see
#: :mod:`frostbyte_cli.exit_codes`).
PARTIAL_BATCH_EXIT = 6
#: how long the CLI waits for a backup, which answers once the archive is written
BACKUP_TIMEOUT_S = 3600.0


def batch_exit_code(documents: Iterable[Mapping[str, Any]], *, final: bool = True) -> int:
    """0 when every document is INDEXED or the only rejections are duplicates, else
    :data:`PARTIAL_BATCH_EXIT` (6).

    ``final=False`` judges a receipt taken without waiting: documents still on their way
    (ACCEPTED, PROCESSING) count as fine."""
    return 0 if all(document_ok(d, final=final) for d in documents) else PARTIAL_BATCH_EXIT


# -- the manifest ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: Path
    name: str
    sha256: str
    size: int

    def manifest_entry(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "size": self.size}


def file_digest(path: Path) -> tuple[str, int]:
    """sha256 (hex) and size of a file, read block by block."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def build_manifest(paths: Sequence[Path], client_ref: str) -> tuple[dict[str, Any],
                                                                    list[FileEntry]]:
    """The ``manifest`` part of ``POST /v1/batches`` and the files it describes, in order.

    Names are the files' base names; two files with one name are refused here already
    (the server would answer ``DUPLICATE_NAME``). A name that is not UTF-8 cannot be sent
    as it is: its undecodable bytes go escaped (``bad\\xff.txt``), which the server
    rejects with ``UNSAFE_NAME`` like any name it cannot store."""
    if not paths:
        raise CliError("no files to submit", code="NO_FILES")
    entries: list[FileEntry] = []
    seen: dict[str, Path] = {}
    for path in paths:
        name = os.fsencode(path.name).decode("utf-8", "backslashreplace")
        if name in seen:
            raise CliError(f"two files are named {name!r}: {seen[name]} and {path}",
                           code="DUPLICATE_NAME")
        seen[name] = path
        sha, size = file_digest(path)
        entries.append(FileEntry(path=path, name=name, sha256=sha, size=size))
    return {"client_ref": client_ref, "files": [e.manifest_entry() for e in entries]}, entries


UploadProgress = Callable[[int, int], None]  # (bytes sent, bytes in all)


class _CountingReader:
    """A binary file that reports how far httpx's multipart encoder has read it.

    httpx sizes the part with ``fileno()``/``seek``/``tell`` and reads it in chunks, so the
    upload is streamed; a re-read (after a rewind) is not counted twice."""

    def __init__(self, fh: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._fh = fh
        self._on_read = on_read
        self._high = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        pos = self._fh.tell()
        if pos > self._high:
            self._on_read(pos - self._high)
            self._high = pos
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def rewind(self) -> None:
        """Back to the start for another try of the request, counting afresh."""
        self._fh.seek(0)
        self._high = 0

    def tell(self) -> int:
        return self._fh.tell()

    def fileno(self) -> int:
        return self._fh.fileno()


# -- transport with retries -----------------------------------------------------------------


class _Answer(RetryableStatus):
    """A retryable answer, kept so that the last one becomes the error when the retries run
    out."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code, str(response.request.url),
                         retry_after=parse_retry_after(response.headers.get("Retry-After")))
        self.response = response


class _Api:
    """One base URL and bearer token; retries (see the module's docstring) and maps failures
    onto :class:`CliError`."""

    def __init__(self, base_url: str, token: str, *, transport: httpx.BaseTransport | None,
                 timeout: float, retry: RetryPolicy,
                 verify: ssl.SSLContext | bool = True,
                 on_retry: RetryNotice | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._retry = retry
        self._on_retry = on_retry
        self._http = httpx.Client(
            base_url=self.base_url, transport=transport,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                     "User-Agent": f"frostbyte-cli/{__version__}"},
            timeout=httpx.Timeout(timeout, connect=10.0), verify=verify,
        )

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, idempotent: bool | None = None,
                before_attempt: Callable[[], None] | None = None,
                **kwargs: Any) -> httpx.Response:
        """``method path``, retried per the policy; ``idempotent`` defaults to "a GET";
        ``before_attempt`` runs before every try (to rewind a body's files)."""
        safe = method == "GET" if idempotent is None else idempotent
        statuses = RETRYABLE_IDEMPOTENT if safe else REFUSED_FOR_NOW
        retry_on: tuple[type[Exception], ...] = (
            (*TRANSIENT_TRANSPORT_ERRORS, _Answer) if safe else (_Answer,))

        def attempt() -> httpx.Response:
            if before_attempt is not None:
                before_attempt()
            response = self._http.request(method, path, **kwargs)
            if response.status_code in statuses:
                response.read()
                raise _Answer(response)
            return response

        def notice(error: Exception, tried: int, wait: float) -> None:
            if self._on_retry is not None:
                what = (_describe(error.response) if isinstance(error, _Answer)
                        else error.__class__.__name__)
                self._on_retry(f"{method} {path}: {what}", tried, wait)

        try:
            response = self._retry.call(attempt, retry_on=retry_on, on_retry=notice)
        except _Answer as refused:  # not retried (max_retry_after) or not retryable
            raise error_from_response(refused.response) from None
        except RetriesExhausted as gave_up:
            exc = gave_up.last_error
            if isinstance(exc, _Answer):
                raise error_from_response(exc.response) from None
            raise ConnectionFailed(
                f"cannot reach {self.base_url}: {exc.__class__.__name__}"
                f"{': ' + str(exc) if str(exc) else ''}", code="CONNECTION_FAILED",
            ) from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"cannot reach {self.base_url}: {exc.__class__.__name__}"
                f"{': ' + str(exc) if str(exc) else ''}", code="CONNECTION_FAILED",
            ) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    @contextlib.contextmanager
    def stream(self, method: str, path: str) -> Iterator[httpx.Response]:
        """A streamed answer (a download), not retried; an error answer raises."""
        try:
            with self._http.stream(method, path) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach {self.base_url}: {exc.__class__.__name__}",
                                   code="CONNECTION_FAILED") from exc

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(f"{method} {path} answered with a body that is not JSON",
                           code="BAD_RESPONSE", status_code=response.status_code,
                           request_id=response.headers.get("x-request-id")) from exc


def _describe(response: httpx.Response) -> str:
    error = error_from_response(response)
    after = response.headers.get("Retry-After")
    return f"{response.status_code} {error.code}" + (f" (Retry-After {after})" if after else "")


class _Waiter:
    def __init__(self, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.sleep = sleep
        self.clock = clock


# -- control plane --------------------------------------------------------------------------


class ControlPlaneClient:
    """The admin API: tenants and vendor keys (``Authorization: Bearer <admin token>``)."""

    def __init__(self, base_url: str, admin_token: str, *,
                 transport: httpx.BaseTransport | None = None, timeout: float = 30.0,
                 retry: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_retry: RetryNotice | None = None) -> None:
        retry = retry or DEFAULT_RETRY
        self._api = _Api(base_url, admin_token, transport=transport, timeout=timeout,
                         retry=retry, on_retry=on_retry)
        self._wait = _Waiter(retry.sleep, clock)

    @property
    def base_url(self) -> str:
        return self._api.base_url

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> ControlPlaneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ca_certificate(self) -> str:
        """``GET /v1/tls/ca``: the PEM of the CA that issues tenant endpoints' certificates."""
        pem = self._api.request("GET", "/v1/tls/ca").text
        if "BEGIN CERTIFICATE" not in pem:
            raise CliError(f"{self.base_url}/v1/tls/ca did not answer a PEM certificate",
                           code="BAD_RESPONSE")
        return pem

    def create_tenant(self, slug: str, display_name: str, provider: str = "local",
                      config: dict[str, Any] | None = None) -> Tenant:
        """``POST /v1/tenants``: the tenant in REQUESTED; provisioning runs in the background."""
        body: dict[str, Any] = {"slug": slug, "display_name": display_name,
                                "provider": provider}
        if config is not None:
            body["config"] = config
        return cast(Tenant, self._api.json("POST", "/v1/tenants", json=body))

    def get_tenant(self, slug: str) -> Tenant:
        """``GET /v1/tenants/{slug}``."""
        return cast(Tenant, self._api.json("GET", f"/v1/tenants/{slug}"))

    def list_tenants(self) -> list[Tenant]:
        """``GET /v1/tenants``."""
        return cast(list[Tenant], self._api.json("GET", "/v1/tenants")["tenants"])

    def wait_for_state(self, slug: str, states: Iterable[str], timeout: float = 600.0,
                       on_progress: Callable[[Tenant], None] | None = None,
                       poll_interval: float = 1.0) -> Tenant:
        """Poll the tenant until its state is one of ``states``.

        A tenant that lands in FAILED (when FAILED is not wanted) raises ``CliError``
        ``TENANT_FAILED`` with the failure reason; running out of time raises
        ``WaitTimedOut``."""
        wanted = frozenset(states)
        deadline = self._wait.clock() + timeout
        while True:
            tenant = self.get_tenant(slug)
            if on_progress is not None:
                on_progress(tenant)
            if tenant["state"] in wanted:
                return tenant
            if tenant["state"] == "FAILED":
                raise CliError(
                    f"tenant {slug} failed ({tenant.get('failed_operation') or 'operation'}): "
                    f"{tenant.get('failure_reason') or 'no reason recorded'}",
                    code="TENANT_FAILED")
            if self._wait.clock() >= deadline:
                raise WaitTimedOut(
                    f"tenant {slug} is still {tenant['state']} after {timeout:.0f} s "
                    f"(wanted {', '.join(sorted(wanted))})", code="TIMEOUT")
            self._wait.sleep(poll_interval)

    def create_vendor_key(self, slug: str, scopes: Sequence[str],
                          label: str | None = None) -> IssuedKey:
        """``POST /v1/tenants/{slug}/vendor-keys``: the key is in this answer only."""
        body: dict[str, Any] = {"scopes": list(scopes)}
        if label is not None:
            body["label"] = label
        return cast(IssuedKey, self._api.json("POST", f"/v1/tenants/{slug}/vendor-keys",
                                              json=body))

    # -- lifecycle (issue 7) ----------------------------------------------------------------
    def tenant_action(self, slug: str, action: str,
                      body: Mapping[str, Any] | None = None) -> Tenant:
        """``POST /v1/tenants/{slug}/{suspend|resume|retry|deprovision|cancel}``."""
        return cast(Tenant, self._api.json("POST", f"/v1/tenants/{slug}/{action}",
                                           json=dict(body) if body is not None else None))

    def backup(self, slug: str) -> dict[str, Any]:
        """``POST /v1/tenants/{slug}/backups``: one backup now (answers when written, which
        takes as long as dumping the tenant: the read timeout is an hour, not the usual)."""
        return cast(dict[str, Any], self._api.json(
            "POST", f"/v1/tenants/{slug}/backups",
            timeout=httpx.Timeout(BACKUP_TIMEOUT_S, connect=10.0)))

    def backups(self, slug: str) -> list[dict[str, Any]]:
        """``GET /v1/tenants/{slug}/backups``, newest first."""
        body = cast(dict[str, Any], self._api.json("GET", f"/v1/tenants/{slug}/backups"))
        return list(body["backups"])

    def delete_backups(self, slug: str, backup_id: str | None = None) -> dict[str, Any]:
        """``DELETE /v1/tenants/{slug}/backups[/{backup_id}]``: one backup, or all of them
        and the tenant's backup key (purge)."""
        path = f"/v1/tenants/{slug}/backups" + (f"/{backup_id}" if backup_id else "")
        return cast(dict[str, Any], self._api.json("DELETE", path))

    def restore(self, body: Mapping[str, Any]) -> Tenant:
        """``POST /v1/tenants/restore``: a new tenant from a backup."""
        return cast(Tenant, self._api.json("POST", "/v1/tenants/restore", json=dict(body)))

    def patch_config(self, slug: str, patch: dict[str, Any]) -> Tenant:
        """``PATCH /v1/tenants/{slug}/config`` with a JSON Merge Patch (RFC 7396)."""
        return cast(Tenant, self._api.json(
            "PATCH", f"/v1/tenants/{slug}/config", json=patch,
            headers={"Content-Type": "application/merge-patch+json"}))

    def vendor_keys(self, slug: str) -> list[dict[str, Any]]:
        """``GET /v1/tenants/{slug}/vendor-keys``: ids, scopes, labels — never the keys."""
        return cast(list[dict[str, Any]],
                    self._api.json("GET", f"/v1/tenants/{slug}/vendor-keys")["vendor_keys"])

    def revoke_vendor_key(self, slug: str, key_id: str) -> dict[str, Any]:
        """``DELETE /v1/tenants/{slug}/vendor-keys/{key_id}``."""
        return cast(dict[str, Any],
                    self._api.json("DELETE", f"/v1/tenants/{slug}/vendor-keys/{key_id}"))

    def events(self, slug: str) -> list[dict[str, Any]]:
        """``GET /v1/tenants/{slug}/events``: the lifecycle history."""
        return cast(list[dict[str, Any]],
                    self._api.json("GET", f"/v1/tenants/{slug}/events")["events"])

    def jobs(self, slug: str) -> list[dict[str, Any]]:
        """``GET /v1/tenants/{slug}/jobs``: (de)provisioning jobs, oldest first."""
        return cast(list[dict[str, Any]],
                    self._api.json("GET", f"/v1/tenants/{slug}/jobs")["jobs"])

    def job_log(self, slug: str, job_id: str) -> dict[str, Any]:
        """``GET /v1/tenants/{slug}/jobs/{job_id}/log``: the job, its steps and the tail of
        its provider's output."""
        return cast(dict[str, Any],
                    self._api.json("GET", f"/v1/tenants/{slug}/jobs/{job_id}/log"))

    def rotate_secrets(self, slug: str) -> dict[str, Any]:
        """``POST /v1/tenants/{slug}/rotate-secrets``: new vendor keys, shown once."""
        return cast(dict[str, Any], self._api.json("POST", f"/v1/tenants/{slug}/rotate-secrets"))

    # -- quarantine (admin only: vendor keys never release quarantine) ----------------------
    def quarantine(self, slug: str, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """``GET /v1/tenants/{slug}/quarantine``: quarantined documents, newest first."""
        return cast(dict[str, Any], self._api.json(
            "GET", f"/v1/tenants/{slug}/quarantine", params={"limit": limit, "offset": offset}))

    def quarantine_action(self, slug: str, document_id: str, action: str) -> dict[str, Any]:
        """``POST /v1/tenants/{slug}/quarantine/{document_id}/{release|purge}``."""
        return cast(dict[str, Any], self._api.json(
            "POST", f"/v1/tenants/{slug}/quarantine/{document_id}/{action}"))

    # -- consistency of the tenant's three stores (``frostbyte doctor``) --------------------
    def consistency(self, slug: str, *, repair: bool, first: int = 20) -> dict[str, Any]:
        """``GET /v1/tenants/{slug}/consistency`` (a check) or ``POST
        .../consistency/repair`` (check, then fix what can be fixed; audited)."""
        path = f"/v1/tenants/{slug}/consistency" + ("/repair" if repair else "")
        return cast(dict[str, Any], self._api.json("POST" if repair else "GET", path,
                                                   params={"first": first}))

    # -- embedding model and online key (issue 18) ------------------------------------------
    def start_reembed(self, slug: str, model: str) -> dict[str, Any]:
        """``POST /v1/tenants/{slug}/reembed``: a new collection for ``model`` is built."""
        return cast(dict[str, Any], self._api.json(
            "POST", f"/v1/tenants/{slug}/reembed", json={"model": model}))

    def reembed_status(self, slug: str) -> dict[str, Any]:
        """``GET /v1/tenants/{slug}/reembed``: the latest re-embedding, the active model."""
        return cast(dict[str, Any], self._api.json("GET", f"/v1/tenants/{slug}/reembed"))

    def set_embedding_key(self, slug: str, api_key: str) -> dict[str, Any]:
        """``PUT /v1/tenants/{slug}/secrets/embedding-api-key`` (never answered back)."""
        return cast(dict[str, Any], self._api.json(
            "PUT", f"/v1/tenants/{slug}/secrets/embedding-api-key", json={"api_key": api_key}))

    # -- admin tokens -----------------------------------------------------------------------
    def create_admin_token(self, name: str, role: str) -> dict[str, Any]:
        """``POST /v1/admin/tokens``: the token is in this answer only."""
        return cast(dict[str, Any], self._api.json("POST", "/v1/admin/tokens",
                                                   json={"name": name, "role": role}))

    def admin_tokens(self) -> list[dict[str, Any]]:
        """``GET /v1/admin/tokens``: never the tokens."""
        return cast(list[dict[str, Any]], self._api.json("GET", "/v1/admin/tokens")["tokens"])

    def revoke_admin_token(self, token_id: str) -> dict[str, Any]:
        """``DELETE /v1/admin/tokens/{token_id}``."""
        return cast(dict[str, Any], self._api.json("DELETE", f"/v1/admin/tokens/{token_id}"))


# -- tenant endpoint ------------------------------------------------------------------------


class TenantClient:
    """A tenant's data-plane API (``Authorization: Bearer <vendor key>``)."""

    def __init__(self, endpoint: str, key: str, *,
                 transport: httpx.BaseTransport | None = None, timeout: float = 300.0,
                 retry: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 verify: ssl.SSLContext | bool = True,
                 on_retry: RetryNotice | None = None) -> None:
        """``verify``: what the endpoint's certificate must chain to (the control plane's
        CA for a Frostbyte endpoint; see :func:`frostbyte_cli.targets.tenant_trust`);
        ``on_retry``: told before each retry (the CLI prints it)."""
        retry = retry or DEFAULT_RETRY
        self._api = _Api(endpoint, key, transport=transport, timeout=timeout, retry=retry,
                         verify=verify, on_retry=on_retry)
        self._wait = _Waiter(retry.sleep, clock)

    @property
    def endpoint(self) -> str:
        return self._api.base_url

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> TenantClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_until_ready(self, timeout: float = 300.0,
                         on_progress: Callable[[str], None] | None = None,
                         poll_interval: float = 1.0) -> None:
        """Poll ``GET /readyz`` until the data plane answers ready (a data plane that was
        just (re)started loads its model first); not answering yet is not an error."""
        deadline = self._wait.clock() + timeout
        while True:
            try:
                self._api.request("GET", "/readyz")
                return
            except (ApiError, ConnectionFailed) as exc:
                why = exc.code
            if on_progress is not None:
                on_progress(why)
            if self._wait.clock() >= deadline:
                raise WaitTimedOut(f"{self.endpoint} is not ready after {timeout:.0f} s "
                                   f"(last answer: {why})", code="TIMEOUT")
            self._wait.sleep(poll_interval)

    def submit_batch(self, paths: Sequence[Path], client_ref: str,
                     idempotency_key: str | None = None,
                     on_upload_progress: UploadProgress | None = None) -> Batch:
        """``POST /v1/batches``: hash every file (streamed), then stream the multipart body:
        the ``manifest`` part first, then one ``files`` part per file. Returns the receipt."""
        manifest, entries = build_manifest(paths, client_ref)
        receipt, _ = self.submit_prepared(manifest, entries, idempotency_key,
                                          on_upload_progress)
        return receipt

    def submit_prepared(self, manifest: Mapping[str, Any], entries: Sequence[FileEntry],
                        idempotency_key: str | None = None,
                        on_upload_progress: UploadProgress | None = None
                        ) -> tuple[Batch, bool]:
        """``POST /v1/batches`` of a manifest built already and its files, in its order:
        the receipt, and whether it is a replay (``Idempotent-Replayed: true``: the batch
        was received before under this key). With a key the request is retried like a GET
        (the files are read again from the start)."""
        total = sum(e.size for e in entries)
        sent = 0

        def advance(n: int) -> None:
            nonlocal sent
            sent += n
            if on_upload_progress is not None:
                on_upload_progress(min(sent, total), total)

        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        handles: list[IO[bytes]] = []
        readers: list[_CountingReader] = []

        def rewind() -> None:
            nonlocal sent
            sent = 0
            for reader in readers:
                reader.rewind()

        try:
            files: list[tuple[str, tuple[str, Any, str]]] = []
            for entry in entries:
                fh: IO[bytes] = entry.path.open("rb")
                handles.append(fh)
                readers.append(_CountingReader(fh, advance))
                files.append(("files", (entry.name, readers[-1], "application/octet-stream")))
            response = self._api.request(
                "POST", "/v1/batches", headers=headers, files=files,
                data={"manifest": json.dumps(manifest, ensure_ascii=False)},
                idempotent=bool(idempotency_key), before_attempt=rewind)
        finally:
            for fh in handles:
                fh.close()
        try:
            body = response.json()
        except ValueError as exc:
            raise ApiError("POST /v1/batches answered with a body that is not JSON",
                           code="BAD_RESPONSE", status_code=response.status_code,
                           request_id=response.headers.get("x-request-id")) from exc
        if on_upload_progress is not None:
            on_upload_progress(total, total)
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return cast(Batch, body), replayed

    def get_batch(self, batch_id: str) -> Batch:
        """``GET /v1/batches/{batch_id}``: the batch status and each document's."""
        return cast(Batch, self._api.json("GET", f"/v1/batches/{batch_id}"))

    def wait_for_batch(self, batch_id: str, timeout: float = 1800.0,
                       on_progress: Callable[[Batch], None] | None = None,
                       poll_interval: float = 1.0) -> Batch:
        """Poll the batch until it is COMPLETED or COMPLETED_WITH_ERRORS."""
        deadline = self._wait.clock() + timeout
        while True:
            batch = self.get_batch(batch_id)
            if on_progress is not None:
                on_progress(batch)
            if batch.get("status") in BATCH_DONE:
                return batch
            if self._wait.clock() >= deadline:
                pending = sum(1 for d in batch["documents"] if d["status"] not in DOC_TERMINAL)
                raise WaitTimedOut(
                    f"batch {batch_id} is still {batch.get('status')} after {timeout:.0f} s "
                    f"({pending} document(s) not finished)", code="TIMEOUT")
            self._wait.sleep(poll_interval)

    @overload
    def report(self, batch_id: str, fmt: Literal["json"] = "json") -> dict[str, Any]: ...

    @overload
    def report(self, batch_id: str, fmt: Literal["html", "csv"]) -> str: ...

    def report(self, batch_id: str, fmt: Literal["json", "html", "csv"] = "json"
               ) -> dict[str, Any] | str:
        """``GET /v1/batches/{batch_id}/report``: a dict for JSON, the text for HTML/CSV."""
        path = f"/v1/batches/{batch_id}/report"
        if fmt == "json":
            return cast(dict[str, Any], self._api.json("GET", path, params={"format": "json"}))
        return self._api.request("GET", path, params={"format": fmt}).text

    def search(self, query: str, top_k: int = 5,
               filters: Mapping[str, Any] | None = None) -> SearchResult:
        """``POST /v1/search``: hits with citations and the retrieval proof."""
        body: dict[str, Any] = {"query": query, "top_k": top_k}
        if filters:
            body["filters"] = dict(filters)
        return cast(SearchResult, self._api.json("POST", "/v1/search", json=body))

    def delete_document(self, document_id: str) -> dict[str, Any]:
        """``DELETE /v1/documents/{document_id}``: erase it; the counts of what went and
        the audit sequence of the ``document.deleted`` event."""
        body: dict[str, Any] = self._api.json("DELETE", f"/v1/documents/{document_id}")
        return body

    def audit_verify(self) -> AuditVerdict:
        """``GET /v1/audit/verify``: recompute the tenant's audit hash chain."""
        return cast(AuditVerdict, self._api.json("GET", "/v1/audit/verify"))

    def list_batches(self, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """``GET /v1/batches``: batches, newest first (``batches``, ``limit``, ``offset``)."""
        return cast(dict[str, Any], self._api.json(
            "GET", "/v1/batches", params={"limit": limit, "offset": offset}))

    def list_documents(self, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """``GET /v1/documents``: stored documents, newest first (``documents``, ...)."""
        return cast(dict[str, Any], self._api.json(
            "GET", "/v1/documents", params={"limit": limit, "offset": offset}))

    def get_document(self, document_id: str) -> dict[str, Any]:
        """``GET /v1/documents/{document_id}``: the canonical document JSON."""
        return cast(dict[str, Any], self._api.json("GET", f"/v1/documents/{document_id}"))

    def list_quarantine(self, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """``GET /v1/quarantine`` (``audit`` scope): documents held apart, read-only."""
        return cast(dict[str, Any], self._api.json(
            "GET", "/v1/quarantine", params={"limit": limit, "offset": offset}))

    def audit_events(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /v1/audit/events``: events in chain order (filters and paging in
        ``params``; page on with ``after_seq`` = the answer's ``next_after_seq``)."""
        return cast(dict[str, Any], self._api.json("GET", "/v1/audit/events",
                                                   params=dict(params)))

    def audit_proof(self, seq: int) -> dict[str, Any]:
        """``GET /v1/audit/proof/{seq}``: the inclusion proof of event ``seq``."""
        return cast(dict[str, Any], self._api.json("GET", f"/v1/audit/proof/{seq}"))

    def audit_export(self, out: IO[bytes]) -> int:
        """``POST /v1/audit/export``: the signed JSON Lines export, streamed into ``out``;
        the number of bytes written."""
        written = 0
        try:
            with self._api.stream("POST", "/v1/audit/export") as response:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    written += len(chunk)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"the export from {self.endpoint} broke off: "
                                   f"{exc.__class__.__name__}", code="CONNECTION_FAILED") from exc
        return written
