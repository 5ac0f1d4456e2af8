"""Who may call: a key in ``Authorization: Bearer <key>`` with the scope the route needs,
and, for every vendor route, a tenant that is not suspended.

Vendor keys carry ``ingest``/``read``/``audit``; the control routes (``/control/v1``) need
the **control credential** (``control`` scope alone, kept by the control plane) and the
admin's name in ``X-Frostbyte-Actor``, recorded in the audit chain as ``admin:<name>``.

The suspension guard is a dependency of every route of the app: on a suspended tenant each
``/v1/...`` call is refused with 403 ``TENANT_SUSPENDED`` before its own authentication runs;
``/healthz``, ``/readyz``, ``/metrics`` and ``/control/v1`` still answer.

The vendor web page (:mod:`data_plane.api.web`) signs in with a key and then holds a session
cookie (:data:`SESSION_COOKIE`): :func:`admit` takes it as the credential when no
``Authorization`` header is sent — the same scopes as the key it was opened with — and
tells the request guard the session's CSRF token, which every change made with the cookie
must carry (:func:`frostbyte_common.request_guard.admitted_by_cookie`).

Both run before a request's body is read: :func:`admit` is the request guard's check
(:mod:`frostbyte_common.request_guard`, installed by ``create_app``) for every route that
depends on :func:`authenticated_caller`; the caller it finds is the one the route's
dependencies then return, so a key is looked up once per request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from data_plane.api import dependencies
from data_plane.errors import InsufficientScope, TenantSuspended
from data_plane.services.access import Caller
from frostbyte_common.errors import Unauthenticated, ValidationFailed
from frostbyte_common.request_guard import admitted_by_cookie, cookie_credential
from frostbyte_common.vendor_keys import CONTROL_SCOPE
from frostbyte_common.web_session import VENDOR_COOKIE

VENDOR_PREFIX = "/v1/"
#: The vendor page's session cookie (HttpOnly, Secure, SameSite=Strict, Path=/).
SESSION_COOKIE = VENDOR_COOKIE
_ACTOR_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")

__all__ = ["SESSION_COOKIE", "AuditCaller", "Caller", "ControlCaller", "ControlCallerDep",
           "IngestCaller", "ReadCaller", "admit", "authenticated_caller",
           "refuse_when_suspended", "require"]


#: The OpenAPI security scheme (Swagger's Authorize): the header itself is read by
#: :func:`authenticated_caller` and :func:`admit`.
VENDOR_KEY = HTTPBearer(scheme_name="VendorKey", auto_error=False, description=(
    "A vendor key, as `Authorization: Bearer <key>`; its scopes (ingest, read, audit) "
    "decide which routes answer."))


def _authorization(request: Request, _: Annotated[HTTPAuthorizationCredentials | None,
                                                  Security(VENDOR_KEY)] = None) -> str | None:
    return request.headers.get("authorization")


def authenticated_caller(request: Request, access: dependencies.Access,
                         authorization: Annotated[str | None, Depends(_authorization)] = None
                         ) -> Caller:
    """The holder of the presented key (any scope): the one :func:`admit` found, else
    looked up now."""
    admitted: Caller | None = getattr(request.state, "caller", None)
    if admitted is not None:
        return admitted
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("send a vendor key as 'Authorization: Bearer <key>'")
    return access.authenticate(authorization[7:].strip())


async def admit(request: Request) -> None:
    """The request guard's check, on the headers alone: the suspension guard, then the
    key or the page's session (any scope; each route still checks its own)."""
    await refuse_when_suspended(request)
    request.state.suspension_checked = True
    session_id = cookie_credential(request, SESSION_COOKIE)
    if session_id is not None:
        sessions = dependencies.web_sessions(request)
        request.state.caller = await run_in_threadpool(sessions.caller, session_id)
        admitted_by_cookie(request, sessions.csrf_token(session_id))
        return
    request.state.caller = await run_in_threadpool(
        authenticated_caller, request, dependencies.access(request),
        request.headers.get("authorization"))


def require(scope: str) -> Callable[..., Caller]:
    """A dependency: the caller, whose key must carry ``scope``."""

    def dependency(caller: Annotated[Caller, Depends(authenticated_caller)]) -> Caller:
        if scope not in caller.scopes:
            raise InsufficientScope(f"this key lacks the '{scope}' scope")
        return caller

    return dependency


IngestCaller = Annotated[Caller, Depends(require("ingest"))]
ReadCaller = Annotated[Caller, Depends(require("read"))]
AuditCaller = Annotated[Caller, Depends(require("audit"))]


@dataclass(frozen=True)
class ControlCaller:
    """The control plane, acting for the admin ``actor`` (as recorded in the audit chain)."""

    key_id: str
    actor: str


def control_caller(caller: Annotated[Caller, Depends(require(CONTROL_SCOPE))],
                   x_frostbyte_actor: Annotated[str | None, Header()] = None) -> ControlCaller:
    """The control credential plus the admin's name."""
    actor = (x_frostbyte_actor or "").strip()
    if not _ACTOR_RE.fullmatch(actor):
        raise ValidationFailed("send the admin's name in X-Frostbyte-Actor "
                               "(1-128 printable characters)", code="ACTOR_REQUIRED")
    return ControlCaller(key_id=caller.key_id, actor=f"admin:{actor}")


ControlCallerDep = Annotated[ControlCaller, Depends(control_caller)]


async def refuse_when_suspended(request: Request) -> None:
    """App-wide dependency: a suspended tenant refuses every vendor call (``/v1/...``)."""
    if not request.url.path.startswith(VENDOR_PREFIX) or \
            getattr(request.state, "suspension_checked", False):
        return
    # Looked up only here: health and control routes answer whatever the services' state.
    if await run_in_threadpool(dependencies.suspension(request).is_suspended):
        raise TenantSuspended("this tenant is suspended by its platform admin; its data is "
                              "kept — contact your platform admin to resume it")
