"""The console's pages and its sign-in and sign-out (see :mod:`control_plane.api.web`)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel, Field

from control_plane.api.dependencies import console_sessions, jobs, lifecycle, vendor_keys
from control_plane.api.schemas import EventOut, JobLog, JobOut, StepOut, TenantOut, VendorKeyOut
from control_plane.domain.console_sessions import ConsoleSession
from frostbyte_common.errors import FrostbyteError, ValidationFailed
from frostbyte_common.request_guard import CSRF_HEADER, CsrfRefused
from frostbyte_common.web_session import CONSOLE_COOKIE, csrf_matches, csrf_token

STATIC_PREFIX = "/console/static"
SIGN_IN_PATH = "/console/session"
SIGN_OUT_PATH = "/console/session/end"
_HERE = Path(str(resources.files("control_plane.api.web")))
STATIC_DIR = _HERE / "static"
#: States a tenant passes through on its way to a stable one: the page keeps polling.
TRANSITIONAL = ("REQUESTED", "PROVISIONING", "DEPROVISIONING")

templates = Jinja2Templates(env=Environment(
    loader=FileSystemLoader(str(_HERE / "templates")), autoescape=True))
console = APIRouter(include_in_schema=False)


def open_paths() -> tuple[str, ...]:
    """The console's paths the request guard serves without a credential."""
    assets = sorted(f"{STATIC_PREFIX}/{p.name}" for p in STATIC_DIR.iterdir() if p.is_file())
    return ("/", "/tenant", SIGN_IN_PATH, SIGN_OUT_PATH, *assets)


def static_app() -> StaticFiles:
    return StaticFiles(directory=str(STATIC_DIR))


def _secure(request: Request) -> bool:
    """``Secure`` when the request came over HTTPS, unless the settings say otherwise."""
    forced: bool | None = request.app.state.settings.console_secure_cookie
    return request.url.scheme == "https" if forced is None else forced


def _set_cookie(request: Request, response: Response, session_id: str, max_age_s: int
                ) -> None:
    response.set_cookie(CONSOLE_COOKIE, session_id, max_age=max_age_s, path="/",
                        secure=_secure(request), httponly=True, samesite="strict")


def _clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(CONSOLE_COOKIE, path="/", secure=_secure(request), httponly=True,
                           samesite="strict")


async def _session(request: Request) -> tuple[str, ConsoleSession] | None:
    session_id = request.cookies.get(CONSOLE_COOKIE)
    if not session_id:
        return None
    found = await console_sessions(request).find(session_id)
    return None if found is None else (session_id, found)


def _page(request: Request, name: str, context: dict[str, Any], *, status: int = 200
          ) -> HTMLResponse:
    response: HTMLResponse = templates.TemplateResponse(request, name, context,
                                                        status_code=status)
    # the pages are never cached (they carry the CSRF token) nor framed
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _sign_in_page(request: Request) -> HTMLResponse:
    response = _page(request, "sign_in.html", {"title": "Sign in"})
    if request.cookies.get(CONSOLE_COOKIE):  # a session that is no more: drop its cookie
        _clear_cookie(request, response)
    return response


def _signed_in(session_id: str, session: ConsoleSession) -> dict[str, Any]:
    return {"csrf_token": csrf_token(session_id), "who": session.name, "role": session.role,
            "can_act": session.role == "admin",
            "expires_at": session.expires_at.isoformat(timespec="seconds")}


@console.get("/", response_class=HTMLResponse)
async def tenants_page(request: Request) -> HTMLResponse:
    """The tenants and their states (or the sign-in form)."""
    found = await _session(request)
    if found is None:
        return _sign_in_page(request)
    tenant_list = [TenantOut.of(t) for t in await lifecycle(request).list_tenants()]
    return _page(request, "tenants.html", {"title": "Tenants", "tenants": tenant_list,
                                           **_signed_in(*found)})


@console.get("/tenant", response_class=HTMLResponse)
async def tenant_page(request: Request, slug: str = Query("", max_length=64)) -> HTMLResponse:
    """One tenant: its state, actions, live job log, vendor keys, event chain, quarantine."""
    found = await _session(request)
    if found is None:
        return _sign_in_page(request)
    try:
        tenant = TenantOut.of(await lifecycle(request).get(slug))
    except FrostbyteError as exc:
        return _page(request, "error.html", {"title": "Not found", "error": exc,
                                             **_signed_in(*found)}, status=exc.status_code)
    keys = [VendorKeyOut.of(k) for k in await vendor_keys(request).list_keys(slug)]
    events = [EventOut.of(e) for e in await lifecycle(request).events(slug)]
    job_history = jobs(request)
    job_list = [JobOut.of(j) for j in await job_history.jobs(slug)]
    last_log = None
    if job_list:
        job, steps, output = await job_history.job_log(slug, job_list[-1].job_id)
        last_log = JobLog(job=JobOut.of(job), steps=[StepOut.of(s) for s in steps],
                          output=list(output.lines), output_lines=output.total)
    return _page(request, "tenant.html", {
        "title": tenant.slug, "tenant": tenant, "keys": keys, "events": events,
        "jobs": job_list, "last_log": last_log, "transitional": TRANSITIONAL,
        "config_json": json.dumps(tenant.config, indent=2, sort_keys=True),
        **_signed_in(*found)})


class SignIn(BaseModel):
    token: str = Field(min_length=1, max_length=512)


class SignedInOut(BaseModel):
    name: str
    role: str
    expires_at: str


@console.post(SIGN_IN_PATH, response_model=SignedInOut)
async def sign_in(request: Request, response: Response, body: SignIn) -> SignedInOut:
    """Exchange an admin token for a session cookie. JSON only: a form of another site
    cannot send ``application/json`` without a CORS preflight, which this app never grants."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ValidationFailed("sign in with a JSON body {\"token\": \"...\"}",
                               code="UNSUPPORTED_MEDIA_TYPE")
    signed = await console_sessions(request).sign_in(body.token.strip())
    _set_cookie(request, response, signed.session_id, console_sessions(request).ttl_s)
    return SignedInOut(name=signed.session.name, role=signed.session.role,
                       expires_at=signed.session.expires_at.isoformat(timespec="seconds"))


@console.post(SIGN_OUT_PATH, status_code=204, response_class=Response)
async def sign_out(request: Request) -> Response:
    """End the session (the page's CSRF token required) and drop its cookie."""
    session_id = request.cookies.get(CONSOLE_COOKIE)
    response = Response(status_code=204)
    if session_id:
        # an open path (a viewer signs out too): the guard asked for no token, so here
        if not csrf_matches(session_id, request.headers.get(CSRF_HEADER)):
            raise CsrfRefused(f"signing out needs the page's {CSRF_HEADER} header")
        await console_sessions(request).sign_out(session_id)
    _clear_cookie(request, response)
    return response
