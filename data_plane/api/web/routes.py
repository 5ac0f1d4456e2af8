"""The vendor web page at ``/`` (SPEC §5.8): sign in with a vendor key, then one page that
uploads files or a folder, follows batches, shows and downloads acceptance reports, searches
with citations and the retrieval proof, lists the quarantine and erases documents.

Server-rendered (Jinja2, autoescaped) with one small script (``static/app.js``) that calls
the tenant API itself (``/v1/...``) with the session cookie and the CSRF token: the page
adds no second API. Sign-in exchanges the key for a session (:mod:`data_plane.services.
web_sessions`) held in an ``HttpOnly; Secure; SameSite=Strict`` cookie; the key itself is
never stored in the browser. The page, the sign-in form and the two assets are the request
guard's open paths (:data:`OPEN_PATHS`), and so is sign-out, which checks a live session's
CSRF token itself; every other change made with the cookie passes the guard's session and
CSRF checks. Which sections show is decided by the
session's scopes; the API decides again on every call."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from data_plane.api import dependencies
from data_plane.api.auth import SESSION_COOKIE
from data_plane.errors import TenantSuspended
from frostbyte_common.errors import NotFound, Unauthenticated
from frostbyte_common.request_guard import (
    CSRF_FIELD,
    CSRF_HEADER,
    CsrfRefused,
    cookie_credential,
)
from frostbyte_common.version import __version__
from frostbyte_common.web_session import csrf_matches

HERE = Path(__file__).parent
#: The page's assets, by URL path: nothing else is served from the folder.
ASSETS = {"/static/app.js": ("app.js", "text/javascript"),
          "/static/app.css": ("app.css", "text/css")}
SIGN_IN = "/session"
SIGN_OUT = "/session/end"
#: Served without a credential: the page (it shows the sign-in form until a session
#: exists), the sign-in form's target, sign-out (it checks a live session's CSRF token
#: itself) and the assets.
OPEN_PATHS = ("/", SIGN_IN, SIGN_OUT, *ASSETS)
#: Only this origin's own files, no inline script or style, never framed.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

#: ``Sec-Fetch-Site`` values of a sign-in this origin's own page sent (or a typed URL):
#: a browser's cross-site form post is refused, so another site cannot sign a vendor's
#: browser in under a key of its choosing (a browser too old to send the header is let
#: through; every later change needs the session's CSRF token anyway).
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})

_templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                         autoescape=select_autoescape(default=True), auto_reload=False)

router = APIRouter(include_in_schema=False)


def _html(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    body = _templates.get_template(template).render(version=__version__, **context)
    return HTMLResponse(body, status_code=status_code, headers=_SECURITY_HEADERS)


def _set_session_cookie(response: Response, session_id: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, session_id, max_age=max_age, path="/", secure=True,
                        httponly=True, samesite="strict")


def _clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True,
                           samesite="strict")


def _sign_in_page(request: Request, *, error: str | None = None,
                  status_code: int = 200) -> HTMLResponse:
    settings = dependencies.settings(request)
    response = _html("sign_in.html", status_code, tenant=settings.tenant, error=error)
    if request.cookies.get(SESSION_COOKIE):
        _clear_session_cookie(response)  # a session that has ended
    return response


@router.get("/", response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    """The signed-in page, or the sign-in form when the request has no live session."""
    session_id = cookie_credential(request, SESSION_COOKIE)
    if session_id is None:
        return _sign_in_page(request)
    sessions = dependencies.web_sessions(request)
    try:
        caller = await run_in_threadpool(sessions.caller, session_id)
    except Unauthenticated:
        return _sign_in_page(request, error="Your session has ended. Sign in again.")
    settings = dependencies.settings(request)
    limits = settings.tenant_config.intake
    return _html(
        "page.html", tenant=settings.tenant, key_id=caller.key_id,
        scopes=sorted(caller.scopes), csrf_token=sessions.csrf_token(session_id),
        csrf_header=CSRF_HEADER, csrf_field=CSRF_FIELD, sign_out=SIGN_OUT,
        max_batch_files=limits.max_batch_files, max_batch_bytes=limits.max_batch_bytes,
        max_file_bytes=limits.max_file_bytes)


@router.post(SIGN_IN, response_model=None)
async def sign_in(request: Request) -> Response:
    """The sign-in form: a vendor key in, a session cookie out (303 to the page)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in _OWN_FETCH_SITES:
        # another site's form signing the browser in with a key of its choosing
        return _sign_in_page(request, status_code=403,
                             error="Sign in from this page itself.")
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    if not key:
        return _sign_in_page(request, error="Enter your vendor key.", status_code=400)
    if await run_in_threadpool(dependencies.suspension(request).is_suspended):
        return _sign_in_page(request, status_code=TenantSuspended.status_code,
                             error="This tenant is suspended by its platform admin; its "
                                   "data is kept. Contact your platform admin to resume it.")
    sessions = dependencies.web_sessions(request)
    try:
        signed_in = await run_in_threadpool(sessions.sign_in, key)
    except Unauthenticated:
        return _sign_in_page(request, status_code=401,
                             error="That key is not a valid vendor key for this endpoint.")
    response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
    _set_session_cookie(response, signed_in.session_id, sessions.ttl_s)
    return response


@router.post(SIGN_OUT, response_model=None)
async def sign_out(request: Request) -> Response:
    """Sign-out: the session is deleted, the cookie cleared, back to the sign-in form. Open
    to the guard so that a page left open past its session's end still signs out cleanly;
    a live session's sign-out needs its CSRF token (the form's hidden field)."""
    session_id = cookie_credential(request, SESSION_COOKIE)
    if session_id is not None:
        sessions = dependencies.web_sessions(request)
        try:
            await run_in_threadpool(sessions.caller, session_id)
        except Unauthenticated:
            pass  # ended already: only the cookie is left to clear
        else:
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            fields = form.get(CSRF_FIELD, [])
            presented = request.headers.get(CSRF_HEADER) or (fields[0] if fields else None)
            if not csrf_matches(session_id, presented):
                raise CsrfRefused("signing out needs the page's CSRF token: reload the page")
            await run_in_threadpool(sessions.sign_out, session_id)
    response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
    _clear_session_cookie(response)
    return response


@router.get("/static/{name}")
def asset(request: Request, name: str) -> FileResponse:
    """The page's script and style sheet (no CDN, no external font)."""
    found = ASSETS.get(request.url.path)
    if found is None:
        raise NotFound(f"no asset {name!r}")
    filename, media_type = found
    return FileResponse(HERE / "static" / filename, media_type=media_type,
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-cache"})
