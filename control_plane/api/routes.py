"""Thin admin routes: parse, call the service, shape the response (SPEC §9)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response

from control_plane.api.auth import require_admin
from control_plane.api.dependencies import (
    Certificates,
    Control,
    Jobs,
    Lifecycle,
    Quarantine,
    Registry,
    Rotation,
    Updates,
    VendorKeys,
)
from control_plane.api.schemas import (
    ChainVerdictOut,
    ConsistencyOut,
    DeprovisionRequest,
    EventList,
    EventOut,
    Health,
    JobList,
    JobLog,
    JobOut,
    QuarantineActionOut,
    QuarantineList,
    RotationOut,
    StepOut,
    TenantCreate,
    TenantList,
    TenantOut,
    UpdateRequest,
    VendorKeyCreate,
    VendorKeyIssued,
    VendorKeyList,
    VendorKeyOut,
)
from frostbyte_common.errors import DependencyUnavailable
from frostbyte_common.openapi import error_responses

Actor = Annotated[str, Depends(require_admin)]

_NO_TENANT = "TENANT_NOT_FOUND: no such tenant."
#: The errors of a route on one tenant; with a state check (409), and through its data plane
#: (502: the data plane answered badly).
_TENANT = error_responses(503, e404=_NO_TENANT)
_CONFLICT = error_responses(
    503, e404=_NO_TENANT, e409="INVALID_TRANSITION (or TENANT_NOT_ACTIVE): the tenant's state "
                               "does not allow it")
_DATA_PLANE = error_responses(
    502, 503, e404=_NO_TENANT, e409="TENANT_NOT_ACTIVE: the tenant is not ACTIVE or SUSPENDED")

tenants = APIRouter(prefix="/v1/tenants", tags=["tenants"])
tls = APIRouter(prefix="/v1/tls", tags=["tls"])
health = APIRouter(tags=["health"])


@tenants.post("", status_code=202, response_model=TenantOut, responses=error_responses(
    503, e409="TENANT_EXISTS: the slug is taken (deprovisioned tenants' slugs too).",
    e422="VALIDATION_FAILED, INVALID_SLUG, INVALID_CONFIG or PROVIDER_NOT_AVAILABLE."))
async def create_tenant(body: TenantCreate, service: Lifecycle, actor: Actor) -> TenantOut:
    """Create a tenant (REQUESTED) and start provisioning its data plane in the background."""
    tenant = await service.create(
        body.slug, body.display_name, body.provider, body.config, actor=actor
    )
    return TenantOut.of(tenant)


@tenants.get("", response_model=TenantList, responses=error_responses(503))
async def list_tenants(service: Lifecycle, actor: Actor) -> TenantList:
    """List every tenant, deprovisioned ones included (their slugs stay taken)."""
    return TenantList(tenants=[TenantOut.of(t) for t in await service.list_tenants()])


@tenants.get("/{slug}", response_model=TenantOut, responses=_TENANT)
async def get_tenant(slug: str, service: Lifecycle, actor: Actor) -> TenantOut:
    """One tenant with its state, endpoint and effective config."""
    return TenantOut.of(await service.get(slug))


@tenants.get("/{slug}/events", name="list_tenant_events", response_model=EventList,
             responses=_TENANT)
async def tenant_events(slug: str, service: Lifecycle, actor: Actor) -> EventList:
    """The tenant's lifecycle history: every transition, with who triggered it."""
    return EventList(events=[EventOut.of(e) for e in await service.events(slug)])


@tenants.get("/{slug}/events/verify", name="verify_tenant_events",
             response_model=ChainVerdictOut, responses=_TENANT)
async def verify_tenant_events(slug: str, service: Lifecycle, actor: Actor) -> ChainVerdictOut:
    """Recompute the tenant's lifecycle hash chain: ``ok`` false with the first bad
    sequence number and the problem if a row was edited, removed, inserted or reordered."""
    verdict = await service.verify_events(slug)
    return ChainVerdictOut(ok=verdict.ok, events=verdict.events, head_hash=verdict.head_hash,
                           first_bad_seq=verdict.first_bad_seq, problem=verdict.problem)


@tenants.get("/{slug}/jobs", name="list_tenant_jobs", response_model=JobList, responses=_TENANT)
async def tenant_jobs(slug: str, service: Jobs, actor: Actor) -> JobList:
    """The tenant's provisioning and deprovisioning jobs, oldest first."""
    return JobList(jobs=[JobOut.of(j) for j in await service.jobs(slug)])


@tenants.get("/{slug}/jobs/{job_id}/log", name="get_job_log",
             response_model=JobLog, responses=error_responses(
    503, e404="TENANT_NOT_FOUND or JOB_NOT_FOUND."))
async def tenant_job_log(slug: str, job_id: str, service: Jobs, actor: Actor) -> JobLog:
    """One job, its steps as they ran (a step done before a crash is not run again) and the
    tail of its provider's output."""
    job, steps, output = await service.job_log(slug, job_id)
    return JobLog(job=JobOut.of(job), steps=[StepOut.of(s) for s in steps],
                  output=list(output.lines), output_lines=output.total)


@tenants.post("/{slug}/suspend", status_code=202, response_model=TenantOut, responses=_CONFLICT)
async def suspend_tenant(slug: str, service: Lifecycle, actor: Actor) -> TenantOut:
    """ACTIVE → SUSPENDED: the vendor endpoint is closed, the data kept."""
    return TenantOut.of(await service.suspend(slug, actor=actor))


@tenants.post("/{slug}/resume", status_code=202, response_model=TenantOut, responses=_CONFLICT)
async def resume_tenant(slug: str, service: Lifecycle, actor: Actor) -> TenantOut:
    """SUSPENDED → ACTIVE: the vendor endpoint opens again."""
    return TenantOut.of(await service.resume(slug, actor=actor))


@tenants.post("/{slug}/retry", status_code=202, response_model=TenantOut, responses=_CONFLICT)
async def retry_tenant(slug: str, service: Lifecycle, actor: Actor) -> TenantOut:
    """FAILED → PROVISIONING (or DEPROVISIONING for a failed teardown)."""
    return TenantOut.of(await service.retry(slug, actor=actor))


@tenants.post("/{slug}/deprovision", status_code=202, response_model=TenantOut,
              responses=_CONFLICT)
async def deprovision_tenant(slug: str, service: Lifecycle, actor: Actor,
                             body: DeprovisionRequest | None = None) -> TenantOut:
    """ACTIVE, SUSPENDED or FAILED → DEPROVISIONING; destroyed and verified in the background
    (→ DEPROVISIONED). The vendor endpoint closes before this answers. The tenant's signed
    audit export is archived first; if that fails the job stops (FAILED) unless the body
    waives the archive with a reason."""
    waiver = body.waive_audit_archive if body is not None else None
    return TenantOut.of(await service.deprovision(slug, actor=actor,
                                                  waive_audit_archive=waiver))


@tenants.post("/{slug}/cancel", status_code=202, response_model=TenantOut, responses=_CONFLICT)
async def cancel_tenant_job(slug: str, service: Lifecycle, actor: Actor) -> TenantOut:
    """Cancel the running (de)provisioning job: it stops at the next step boundary, rolls back,
    and the tenant lands in FAILED."""
    return TenantOut.of(await service.cancel(slug, actor=actor))


@tenants.patch("/{slug}/config", status_code=202, response_model=TenantOut,
               responses=_CONFLICT)
async def patch_tenant_config(
    slug: str,
    service: Lifecycle,
    actor: Actor,
    patch: Annotated[dict[str, Any], Body(description="JSON Merge Patch (RFC 7396).")],
) -> TenantOut:
    """Merge-patch the tenant's config. ACTIVE: re-applied to the running data plane
    (→ PROVISIONING → ACTIVE). FAILED: stored, applied by the next retry. Else 409."""
    return TenantOut.of(await service.patch_config(slug, patch, actor=actor))


@tenants.post("/{slug}/update", status_code=202, response_model=TenantOut,
              responses={**_CONFLICT, **error_responses(
                  e404="TENANT_NOT_FOUND or RELEASE_NOT_FOUND: no release of that version.",
                  e409="INVALID_TRANSITION (not ACTIVE), CONCURRENT_UPDATE (a job is running) "
                       "or SCHEMA_AHEAD (the release is older than the tenant's database).",
                  e422="VALIDATION_FAILED, INVALID_VERSION (not PEP 440, or the version it "
                       "runs) or PROVIDER_NOT_AVAILABLE (its provider cannot update).")})
async def update_tenant(slug: str, body: UpdateRequest, service: Updates,
                        actor: Actor) -> TenantOut:
    """ACTIVE → PROVISIONING → ACTIVE on data-plane release ``version``: stopped, started on
    the new release (its migrations first), healthy and reporting the version — else rolled
    back by itself to the release it ran, ACTIVE with an ``update failed, rolled back``
    event (FAILED only if the rollback fails too). Checked before anything moves."""
    return TenantOut.of(await service.update(slug, body.version, actor=actor))


@tenants.post("/{slug}/vendor-keys", status_code=201, response_model=VendorKeyIssued,
              responses=_DATA_PLANE)
async def issue_vendor_key(
    slug: str, body: VendorKeyCreate, service: VendorKeys, actor: Actor
) -> VendorKeyIssued:
    """Issue a vendor key for an ACTIVE tenant. The key is in this response only."""
    issued = await service.issue(slug, body.scopes, body.label, actor=actor)
    return VendorKeyIssued.of(issued)


@tenants.get("/{slug}/vendor-keys", response_model=VendorKeyList, responses=_TENANT)
async def list_vendor_keys(slug: str, service: VendorKeys, actor: Actor) -> VendorKeyList:
    """The tenant's vendor keys: ids, scopes and labels — never the keys."""
    return VendorKeyList(vendor_keys=[VendorKeyOut.of(k) for k in await service.list_keys(slug)])


@tenants.post("/{slug}/rotate-secrets", status_code=202, response_model=RotationOut,
              responses={**_CONFLICT, **error_responses(502)})
async def rotate_secrets(slug: str, service: Rotation, actor: Actor) -> RotationOut:
    """Re-issue every credential (ACTIVE or SUSPENDED; no state change). The new vendor keys
    are in this answer only; the old ones are refused from now on."""
    job_id, issued = await service.rotate(slug, actor=actor)
    return RotationOut(job_id=job_id, vendor_keys=[VendorKeyIssued.of(k) for k in issued])


@tenants.delete("/{slug}/vendor-keys/{key_id}", response_model=VendorKeyOut,
                responses={**_DATA_PLANE, **error_responses(
                    e404="TENANT_NOT_FOUND or VENDOR_KEY_NOT_FOUND.")})
async def revoke_vendor_key(slug: str, key_id: str, service: VendorKeys, actor: Actor
                            ) -> VendorKeyOut:
    """Revoke a vendor key: the data plane refuses it from now on. Idempotent."""
    return VendorKeyOut.of(await service.revoke(slug, key_id, actor=actor))


@tenants.get("/{slug}/quarantine", response_model=QuarantineList, responses=_DATA_PLANE,
             response_model_exclude_unset=True)
async def list_quarantine(
    slug: str, service: Quarantine, actor: Actor,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    # the data plane's bound (PostgreSQL's OFFSET is a bigint): its 422 would be our 502
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> QuarantineList:
    """The tenant's quarantined documents, newest first (ACTIVE or SUSPENDED tenants)."""
    return QuarantineList.model_validate(
        await service.list_documents(slug, limit=limit, offset=offset, actor=actor))


@tenants.post("/{slug}/quarantine/{document_id}/{action}", response_model=QuarantineActionOut,
              responses={**_DATA_PLANE, **error_responses(
                  e404="TENANT_NOT_FOUND, or DOCUMENT_NOT_FOUND: no such quarantined "
                       "document.")})
async def quarantine_action(
    slug: str, document_id: uuid.UUID, action: Literal["release", "purge"],
    service: Quarantine, actor: Actor,
) -> QuarantineActionOut:
    """Release a quarantined document into the pipeline, or purge it (its bytes deleted).
    Admin only — vendor keys never release quarantine; audited in the tenant's chain with
    the admin as actor."""
    return QuarantineActionOut.model_validate(
        await service.act(slug, document_id, action, actor=actor))


@tenants.get("/{slug}/consistency", response_model=ConsistencyOut, responses=_DATA_PLANE)
async def check_consistency(
    slug: str, registry: Registry, control: Control, actor: Actor,
    first: Annotated[int, Query(ge=0, le=1000)] = 20,
) -> ConsistencyOut:
    """The drift between the tenant's PostgreSQL, object store and vector index (objects
    without rows, rows without objects, chunks missing from or extra in the index, documents
    stuck in the pipeline): counts and the first findings per kind. Changes nothing."""
    return ConsistencyOut.model_validate(await control.consistency(
        await registry.get(slug), repair=False, first=first, actor=actor))


@tenants.post("/{slug}/consistency/repair", response_model=ConsistencyOut,
              responses=_DATA_PLANE)
async def repair_consistency(
    slug: str, registry: Registry, control: Control, actor: Actor,
    first: Annotated[int, Query(ge=0, le=1000)] = 20,
) -> ConsistencyOut:
    """Check, then fix from PostgreSQL what can be fixed (re-project missing points, delete
    extra ones, queue or re-process stuck documents whose raw bytes are there); what cannot
    be fixed (lost raw bytes, objects no row names) is reported, never deleted. Audited in
    the tenant's chain (``consistency.repaired``) with the admin as actor."""
    return ConsistencyOut.model_validate(await control.consistency(
        await registry.get(slug), repair=True, first=first, actor=actor))


@tls.get("/ca", name="get_ca_certificate", response_class=Response, responses={200: {
    "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
    "description": "The CA certificate (PEM) that issues every tenant endpoint's "
                   "certificate."}})
async def ca_certificate(certificates: Certificates) -> Response:
    """The control plane's CA certificate, which clients trust for tenant endpoints (SPEC
    §7). Public: it holds no secret, and vendors fetch it without an admin token; compare
    a tenant's certificate with `tls_fingerprint` of `GET /v1/tenants/{slug}`."""
    pem = await asyncio.to_thread(certificates.certificate_pem)
    return Response(pem, media_type="application/x-pem-file",
                    headers={"Content-Disposition": 'attachment; filename="frostbyte-ca.pem"'})


@health.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@health.get("/readyz", response_model=Health, responses={503: {"description": "Not ready"}})
async def readyz(registry: Registry, response: Response) -> Health:
    """Readiness: the registry database answers."""
    try:
        await registry.ping()
    except Exception as exc:
        raise DependencyUnavailable("registry database unreachable") from exc
    return Health(status="ready")
