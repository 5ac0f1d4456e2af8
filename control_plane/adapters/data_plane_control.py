"""The control plane's client of a tenant data plane's control routes (``/control/v1``).

It authenticates with the tenant's **control key** (scope ``control``, kept in the tenant's
SOPS secrets, its hash installed in the data plane by the provider) and names the admin who
asked in ``X-Frostbyte-Actor``, so the data plane's audit chain records ``admin:<name>``.
Vendor keys cannot call these routes; this client is the only caller. Its base URL is the
provider's control channel (``Provider.control_channel``), not necessarily the tenant's
endpoint: on Hetzner the vendor port is closed to the control plane, and the channel is an
SSH forward to the data plane's loopback port; a local (process engine) tenant's channel is
its API's Unix socket, named by an ``http+unix://<percent-encoded path>`` base URL
(:func:`unix_socket_url`, the convention of requests-unixsocket and docker-py), so control
calls never pass through the vendor-facing gateway.

Failures map to the control plane's errors: a data plane that cannot be reached or answers
5xx → :class:`~control_plane.errors.DataPlaneError` (502); an unknown quarantined document →
:class:`~control_plane.errors.DocumentNotFound`; a refused control key →
:class:`ControlKeyRefused` (the caller re-installs the key once and retries).
"""

from __future__ import annotations

import ssl
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from control_plane.domain.ports import ControlKeyRefused, QuarantineAction
from control_plane.errors import (
    DataPlaneError,
    DocumentNotFound,
    EmbeddingModelUnknown,
    ReembedInProgress,
)
from frostbyte_common import logs
from frostbyte_common.errors import FrostbyteError

UNIX_SCHEME = "http+unix"
#: The data plane's refusals of an admin's request that reach the admin as they are.
_PASSED_ON: dict[str, type[FrostbyteError]] = {
    "EMBEDDING_MODEL_UNKNOWN": EmbeddingModelUnknown,
    "REEMBED_IN_PROGRESS": ReembedInProgress,
}


def unix_socket_url(socket: Path) -> str:
    """The base URL of an HTTP server on the Unix socket ``socket``."""
    return f"{UNIX_SCHEME}://{quote(str(socket), safe='')}"


def unix_socket_of(base_url: str) -> Path | None:
    """The socket a :func:`unix_socket_url` names; None for an ordinary URL."""
    parts = urlsplit(base_url)
    return Path(unquote(parts.netloc)) if parts.scheme == UNIX_SCHEME else None


class DataPlaneControl:
    """:class:`~control_plane.domain.ports.DataPlaneClient` over HTTP: one tenant's control
    routes at ``endpoint`` (the control channel's base URL). ``transport`` lets tests answer
    without a server."""

    def __init__(self, endpoint: str, control_key: str, *, actor: str,
                 transport: httpx.AsyncBaseTransport | None = None,
                 timeout_s: float = 60.0, verify: ssl.SSLContext | bool = True) -> None:
        """``verify``: what an HTTPS endpoint's certificate must chain to (the control
        plane's CA for a local tenant's gateway)."""
        self._endpoint = endpoint.rstrip("/")
        self._base = self._endpoint
        self._verify = verify
        self._headers = {"Authorization": f"Bearer {control_key}", "X-Frostbyte-Actor": actor}
        self._transport = transport
        self._socket = unix_socket_of(self._endpoint)
        if self._socket is not None:  # plain HTTP on the API's own socket
            self._base = "http://data-plane"
        self._timeout_s = timeout_s

    async def _call(self, method: str, path: str, *, json: Any = None,
                    params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self._request(method, path, json=json, params=params)
        body: dict[str, Any] = response.json()
        return body

    async def _request(self, method: str, path: str, *, json: Any = None,
                       params: dict[str, Any] | None = None) -> httpx.Response:
        url = f"{self._base}/control/v1{path}"
        try:
            transport = self._transport
            if transport is None and self._socket is not None:
                transport = httpx.AsyncHTTPTransport(uds=str(self._socket))
            async with httpx.AsyncClient(transport=transport, verify=self._verify,
                                         timeout=self._timeout_s) as client:
                response = await client.request(method, url,
                                                headers=self._headers | logs.request_id_header(),
                                                json=json, params=params)
        except httpx.HTTPError as exc:
            raise DataPlaneError(f"the data plane at {self._endpoint} cannot be reached "
                                 f"({type(exc).__name__}); is it running?") from None
        code, message = _error(response)
        if response.status_code == 401:
            raise ControlKeyRefused(f"the data plane at {self._endpoint} refused the "
                                    f"control key: {message}")
        if response.status_code == 404 and code == "DOCUMENT_NOT_FOUND":
            raise DocumentNotFound(message)
        if code in _PASSED_ON:  # the admin's request was refused, not the data plane broken
            raise _PASSED_ON[code](message)
        if response.status_code >= 400:
            raise DataPlaneError(f"the data plane answered {response.status_code} "
                                 f"{code}: {message}")
        return response

    async def set_suspended(self, suspended: bool) -> dict[str, Any]:
        """Close (True) or reopen (False) the tenant's vendor endpoint."""
        return await self._call("PUT", "/suspension", json={"suspended": suspended})

    async def suspended(self) -> bool:
        return bool((await self._call("GET", "/suspension"))["suspended"])

    async def quarantine(self, *, limit: int, offset: int) -> dict[str, Any]:
        """The tenant's quarantined documents, newest first."""
        return await self._call("GET", "/quarantine",
                                params={"limit": limit, "offset": offset})

    async def quarantine_action(self, document_id: uuid.UUID,
                                action: QuarantineAction) -> dict[str, Any]:
        """Release a quarantined document into the pipeline, or purge it."""
        return await self._call("POST", f"/quarantine/{document_id}/{action}")

    async def audit_export(self) -> bytes:
        """The tenant's signed audit export (JSON Lines, manifest first), as raw bytes."""
        return (await self._request("POST", "/audit/export")).content

    async def audit_key(self) -> dict[str, str]:
        """The key the tenant's audit checkpoints are signed with (``key_id``,
        ``public_key``)."""
        body = await self._call("GET", "/audit/key")
        return {"key_id": str(body.get("key_id", "")),
                "public_key": str(body.get("public_key", ""))}

    async def record_rotation(self, rotation: dict[str, Any]) -> dict[str, Any]:
        """Append ``secrets.rotated`` to the tenant's audit chain; the appended event."""
        return await self._call("POST", "/audit/rotation", json=rotation)

    async def record_restored(self, restore: dict[str, Any]) -> dict[str, Any]:
        """Append ``tenant.restored`` to the audit chain the data plane continues."""
        return await self._call("POST", "/audit/restored", json=restore)

    async def start_reembed(self, model: str) -> dict[str, Any]:
        """Start re-embedding the tenant into ``model``; its record and the active
        collection."""
        return await self._call("POST", "/reembed", json={"model": model})

    async def reembed_status(self) -> dict[str, Any]:
        """The latest re-embedding and the collection search uses now."""
        return await self._call("GET", "/reembed")

    async def consistency(self, *, repair: bool, first: int) -> dict[str, Any]:
        """Check (GET) or repair (POST) the consistency of the tenant's three stores."""
        if repair:
            return await self._call("POST", "/consistency/repair", params={"first": first})
        return await self._call("GET", "/consistency", params={"first": first})


def _error(response: httpx.Response) -> tuple[str, str]:
    """The ``{"error": {"code", "message"}}`` of an answer, or a generic one."""
    if response.status_code < 400:
        return "", ""
    try:
        error = response.json().get("error", {})
        return str(error.get("code", "")), str(error.get("message", ""))[:500]
    except (ValueError, AttributeError):
        return f"HTTP_{response.status_code}", response.text[:200]
