"""Control routes under ``/control/v1``: what only the control plane may do on a tenant's
data plane — suspend/resume it, release or purge quarantined documents, and fetch the
tenant's signed audit export (which the control plane archives before deprovisioning).

They need the **control credential**: a key the provider installs in the tenant's database
with the ``control`` scope, which the control plane keeps SOPS-encrypted and never hands to
anyone. Vendor keys carry ``ingest``/``read``/``audit`` only, so they get
``INSUFFICIENT_SCOPE`` here; the control key, conversely, has none of the vendor scopes. The
admin who asked is named in ``X-Frostbyte-Actor`` and recorded in the audit chain as
``admin:<name>``.

The suspension guard is a dependency of every route of the app: on a suspended tenant each
``/v1/...`` call is refused with 403 ``TENANT_SUSPENDED`` before its own authentication runs;
``/healthz``, ``/readyz``, ``/metrics`` and ``/control/v1`` still answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from data_plane.errors import TenantSuspended
from data_plane.services.audit import AuditService
from data_plane.services.suspension import SuspensionService
from frostbyte_common.errors import ValidationFailed

CONTROL_SCOPE = "control"
CONTROL_PREFIX = "/control/v1"
VENDOR_PREFIX = "/v1/"
_ACTOR_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


@dataclass(frozen=True)
class ControlCaller:
    """The control plane, acting for the admin ``actor`` (as recorded in the audit chain)."""

    key_id: str
    actor: str


def suspension(request: Request) -> SuspensionService:
    """The app's suspension service, built on first use over the tenant database."""
    service: SuspensionService | None = getattr(request.app.state, "suspension", None)
    if service is None:
        service = SuspensionService(request.app.state.services.core.db)
        request.app.state.suspension = service
    return service


async def refuse_when_suspended(request: Request) -> None:
    """App-wide dependency: a suspended tenant refuses every vendor call (``/v1/...``)."""
    if not request.url.path.startswith(VENDOR_PREFIX):
        return
    if await run_in_threadpool(suspension(request).is_suspended):
        raise TenantSuspended("this tenant is suspended by its platform admin; its data is "
                              "kept — contact your platform admin to resume it")


def control_caller(require_control: Callable[..., Any]) -> Callable[..., ControlCaller]:
    """A dependency: the control credential (``control`` scope) plus the admin's name."""

    # A default, not Annotated[...]: the dependency is a local, which a postponed
    # annotation cannot name.
    credential = Depends(require_control)

    def dependency(x_frostbyte_actor: Annotated[str | None, Header()] = None,
                   caller: Any = credential) -> ControlCaller:
        actor = (x_frostbyte_actor or "").strip()
        if not _ACTOR_RE.fullmatch(actor):
            raise ValidationFailed("send the admin's name in X-Frostbyte-Actor "
                                   "(1-128 printable characters)",
                                   code="ACTOR_REQUIRED")
        return ControlCaller(key_id=caller.key_id, actor=f"admin:{actor}")

    return dependency


class SuspensionIn(BaseModel):
    suspended: bool


def control_router(require_control: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix=CONTROL_PREFIX, tags=["control"])
    caller_dependency = Depends(control_caller(require_control))

    @router.get("/suspension")
    def get_suspension(request: Request, caller: Any = caller_dependency) -> dict[str, Any]:
        """Whether the tenant is suspended (control credential only)."""
        return {"suspended": suspension(request).is_suspended()}

    @router.put("/suspension")
    def put_suspension(request: Request, body: SuspensionIn,
                       caller: Any = caller_dependency) -> dict[str, Any]:
        """Suspend or resume the vendor endpoint (audited; control credential only)."""
        return suspension(request).set(body.suspended, actor=caller.actor)

    @router.post("/audit/export")
    def audit_export(request: Request, caller: Any = caller_dependency) -> StreamingResponse:
        """The tenant's signed audit export, as ``POST /v1/audit/export`` makes it (JSON
        Lines: manifest, then every event up to a checkpoint signed now), for the control
        plane to archive before deprovisioning (control credential only; audited)."""
        audit: AuditService = request.app.state.audit
        lines = audit.export(actor=caller.actor)
        return StreamingResponse(
            lines, media_type="application/x-ndjson",
            headers={"Content-Disposition":
                     f'attachment; filename="audit-{audit.tenant}.jsonl"'})

    return router
