"""Request and response bodies of the control-plane API (SPEC §9); they feed OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from control_plane.domain.jobs import JobRecord, StepRecord
from control_plane.domain.lifecycle import Tenant, TenantEvent
from control_plane.domain.tenant_config import effective_config
from control_plane.domain.vendor_keys import IssuedVendorKey, VendorKeyRecord
from control_plane.services.job_history import JOB_OUTPUT_LINES
from frostbyte_common.audit_checkpoint import key_id_of

Scope = Literal["ingest", "read", "audit"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(_Body):
    slug: str = Field(description="DNS label, at most 30 lowercase characters; never reused.")
    display_name: str = Field(min_length=1, max_length=200)
    provider: Literal["local", "hetzner"] = "local"
    config: dict[str, Any] | None = Field(
        None, description="Overrides of the tenant config; omitted keys take the defaults."
    )


class TenantOut(BaseModel):
    slug: str
    display_name: str
    state: str
    provider: str
    endpoint: str | None = Field(description="Base URL of the data plane (ACTIVE, SUSPENDED).")
    tls_fingerprint: str | None = Field(
        None, description="`sha256:<hex>` of the server certificate the endpoint presents, "
        "issued by the control plane's CA (`GET /v1/tls/ca`); null where no TLS is served.")
    audit_public_key: str | None = Field(
        None, description="The Ed25519 public key (raw, base64) the tenant's audit "
        "checkpoints are signed with, recorded at provisioning; an auditor verifies exports "
        "(`frostbyte audit verify-export --public-key`) and the archived trail against it.")
    audit_key_id: str | None = Field(
        None, description="`ed25519:` + the first 16 hex of the key's SHA-256, as in checkpoints.")
    config: dict[str, Any] = Field(description="The full effective tenant config.")
    failed_operation: Literal["provision", "deprovision"] | None = None
    failure_reason: str | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(
            slug=tenant.slug,
            display_name=tenant.display_name,
            state=tenant.state.value,
            provider=tenant.provider,
            endpoint=tenant.endpoint,
            tls_fingerprint=tenant.tls_fingerprint,
            audit_public_key=tenant.audit_public_key,
            audit_key_id=key_id_of(tenant.audit_public_key) if tenant.audit_public_key else None,
            config=effective_config(tenant).model_dump(mode="json"),
            failed_operation=tenant.failed_operation.value if tenant.failed_operation else None,
            failure_reason=tenant.failure_reason,
            created_at=tenant.created_at,
            updated_at=tenant.updated_at,
        )


class TenantList(BaseModel):
    tenants: list[TenantOut]


class DeprovisionRequest(_Body):
    waive_audit_archive: str | None = Field(
        None, min_length=10, max_length=500,
        description="Why the tenant may be destroyed although its audit trail cannot be "
        "archived (its data plane is gone or broken). Without it, a failed archive stops the "
        "deprovisioning before anything is destroyed. Recorded in the tenant's events.")


class VendorKeyCreate(_Body):
    scopes: list[Scope] = Field(min_length=1)
    label: str | None = Field(None, max_length=200)


class VendorKeyIssued(BaseModel):
    key_id: str
    key: str = Field(description="The vendor key. Shown once; only its hash is stored.")
    scopes: list[str]
    label: str | None = None

    @classmethod
    def of(cls, issued: IssuedVendorKey) -> VendorKeyIssued:
        return cls(key_id=issued.key_id, key=issued.key, scopes=list(issued.scopes),
                   label=issued.label)


class RotationOut(BaseModel):
    job_id: str
    vendor_keys: list[VendorKeyIssued] = Field(
        description="The new vendor keys, shown once; the old ones are refused.")


class VendorKeyOut(BaseModel):
    key_id: str
    scopes: list[str]
    label: str | None
    created_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: VendorKeyRecord) -> VendorKeyOut:
        return cls(key_id=record.key_id, scopes=list(record.scopes), label=record.label,
                   created_at=record.created_at, revoked_at=record.revoked_at)


class VendorKeyList(BaseModel):
    vendor_keys: list[VendorKeyOut]


class EventOut(BaseModel):
    transition: int
    action: str
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: TenantEvent) -> EventOut:
        return cls(
            transition=event.transition,
            action=event.action.value,
            from_state=event.from_state.value if event.from_state else None,
            to_state=event.to_state.value,
            actor=event.actor,
            at=event.at,
            detail=event.detail,
        )


class EventList(BaseModel):
    events: list[EventOut]


class ChainVerdictOut(BaseModel):
    ok: bool
    events: int = Field(description="Events that verified before the first problem.")
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


class JobOut(BaseModel):
    job_id: str
    operation: Literal["provision", "deprovision", "rotate"]
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    actor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None

    @classmethod
    def of(cls, job: JobRecord) -> JobOut:
        return cls.model_validate(job, from_attributes=True)


class JobList(BaseModel):
    jobs: list[JobOut]


class StepOut(BaseModel):
    step: str
    status: Literal["running", "done", "failed", "skipped"]
    attempts: int = Field(description="How many times the step was started (a crash or a "
                                      "resumed job starts it again).")
    started_at: datetime
    finished_at: datetime | None
    message: str | None

    @classmethod
    def of(cls, step: StepRecord) -> StepOut:
        return cls.model_validate(step, from_attributes=True)


class JobLog(BaseModel):
    job: JobOut
    steps: list[StepOut]
    output: list[str] = Field(
        description="The provider's tool output (hetzner: Pulumi and Ansible, each line "
        "'<UTC time> [<source>] <text>') written for the tenant while the job was open, "
        f"oldest first; at most the last {JOB_OUTPUT_LINES} lines. Empty for a provider that "
        "records none (local).")
    output_lines: int = Field(
        description="How many output lines the job has; more than len(output) when only "
        "the tail is shown.")


class Health(BaseModel):
    status: str


class QuarantineList(BaseModel):
    documents: list[dict[str, Any]] = Field(
        description="Quarantined documents, newest first: document_id, batch_id, name, "
        "sha256, size, mime_type, status, reason, detail, malware_signature, created_at.")
    limit: int
    offset: int


class QuarantineActionOut(BaseModel):
    document_id: str
    status: str = Field(description="ACCEPTED (released into the pipeline) or PURGED.")


class DriftKindOut(BaseModel):
    kind: str = Field(description="objects_without_rows, rows_without_objects, "
                      "chunks_missing_from_index, points_extra_in_index or documents_stuck.")
    found: int
    repaired: int
    remaining: int
    first: list[dict[str, Any]] = Field(
        description="The first findings: subject (an object key, a document id or a point "
        "id), detail, repair (reproject, delete_point, enqueue, reprocess, or null: reported "
        "only), repaired.")


class ConsistencyOut(BaseModel):
    clean: bool = Field(description="No drift left after the run.")
    repair: bool = Field(description="Whether repairs were made.")
    kinds: list[DriftKindOut]
    audit_seq: int | None = Field(
        description="Sequence of the tenant's consistency.repaired event; null when nothing "
        "was repaired.")
