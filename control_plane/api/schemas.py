"""Request and response bodies of the control-plane API (SPEC §9); they feed OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from control_plane.domain.health import TenantHealth
from control_plane.domain.jobs import JobRecord, StepRecord
from control_plane.domain.lifecycle import Tenant, TenantEvent, TenantState
from control_plane.domain.tenant_config import effective_config
from control_plane.domain.vendor_keys import IssuedVendorKey, VendorKeyRecord
from control_plane.services.job_history import JOB_OUTPUT_LINES
from frostbyte_common.audit_checkpoint import key_id_of
from frostbyte_common.slugs import SLUG_MAX_LENGTH, SLUG_PATTERN

Scope = Literal["ingest", "read", "audit"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(_Body):
    """A tenant to create."""

    # the rule is checked in code (422 INVALID_SLUG), and described here for clients
    slug: str = Field(description="DNS label, at most 30 lowercase characters; never reused.",
                      json_schema_extra={"pattern": SLUG_PATTERN,
                                         "maxLength": SLUG_MAX_LENGTH})
    display_name: str = Field(min_length=1, max_length=200, description="A name for people.")
    provider: Literal["local", "hetzner"] = Field(
        "local", description="Where its data plane runs: this host (local) or a Hetzner "
                             "server.")
    config: dict[str, Any] | None = Field(
        None, description="Overrides of the tenant config; omitted keys take the defaults."
    )


class HealthOut(BaseModel):
    """The last health poll of a tenant's data plane (``FROSTBYTE_CP_HEALTH_POLL_INTERVAL_S``)."""

    checked_at: datetime = Field(description="When it was polled (UTC).")
    ready: bool = Field(description="Whether its readiness check passed.")
    detail: str = Field(description="Why not (a process gone, `/readyz` answering 503 …), "
                        "or `ready`.")
    consecutive_failures: int = Field(description="Polls in a row that found it not ready.")

    @classmethod
    def of(cls, health: TenantHealth | None) -> HealthOut | None:
        if health is None:
            return None
        return cls(checked_at=health.checked_at, ready=health.ready, detail=health.detail,
                   consecutive_failures=health.consecutive_failures)


class TenantOut(BaseModel):
    """A tenant: its state, endpoint and effective config."""

    slug: str = Field(description="The tenant's slug (its id).")
    display_name: str = Field(description="Its name for people.")
    state: TenantState = Field(description="Its lifecycle state.")
    provider: str = Field(description="local or hetzner.")
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
    failed_operation: Literal["provision", "deprovision"] | None = Field(
        None, description="In FAILED: the operation that failed (retry resumes it).")
    failure_reason: str | None = Field(None, description="In FAILED: why.")
    version: str | None = Field(
        None, description="The data-plane release it runs (PEP 440), recorded at its first "
        "provisioning and changed by an update; null before.")
    health: HealthOut | None = Field(
        None, description="Its data plane's last health poll; null before the first (only "
        "ACTIVE tenants are polled).")
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it last changed (UTC).")

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(
            slug=tenant.slug,
            display_name=tenant.display_name,
            state=tenant.state,
            provider=tenant.provider,
            endpoint=tenant.endpoint,
            tls_fingerprint=tenant.tls_fingerprint,
            audit_public_key=tenant.audit_public_key,
            audit_key_id=key_id_of(tenant.audit_public_key) if tenant.audit_public_key else None,
            config=effective_config(tenant).model_dump(mode="json"),
            failed_operation=tenant.failed_operation.value if tenant.failed_operation else None,
            failure_reason=tenant.failure_reason,
            version=tenant.version,
            health=HealthOut.of(tenant.health),
            created_at=tenant.created_at,
            updated_at=tenant.updated_at,
        )


class TenantList(BaseModel):
    """Every tenant."""

    tenants: list[TenantOut] = Field(description="The tenants, deprovisioned ones included.")


class DeprovisionRequest(_Body):
    """Optional: a waiver of the audit archive."""

    waive_audit_archive: str | None = Field(
        None, min_length=10, max_length=500,
        description="Why the tenant may be destroyed although its audit trail cannot be "
        "archived (its data plane is gone or broken). Without it, a failed archive stops the "
        "deprovisioning before anything is destroyed. Recorded in the tenant's events.")


class UpdateRequest(_Body):
    """The data-plane release to move the tenant to."""

    version: str = Field(min_length=1, max_length=64, description="A release version "
                         "(PEP 440) this control plane's provider can run: `frostbyte releases "
                         "list`.")


class VendorKeyCreate(_Body):
    """A vendor key to issue."""

    scopes: list[Scope] = Field(min_length=1, description="What the key may do: ingest "
                                "(submit, erase), read (batches, documents, search), audit.")
    label: str | None = Field(None, max_length=200, description="Who or what holds it.")


class VendorKeyIssued(BaseModel):
    """A vendor key just issued: the key is in this answer only."""

    key_id: str = Field(description="The key's id (not secret).")
    key: str = Field(description="The vendor key. Shown once; only its hash is stored.")
    scopes: list[str] = Field(description="Its scopes.")
    label: str | None = Field(None, description="Its label.")

    @classmethod
    def of(cls, issued: IssuedVendorKey) -> VendorKeyIssued:
        return cls(key_id=issued.key_id, key=issued.key, scopes=list(issued.scopes),
                   label=issued.label)


class RotationOut(BaseModel):
    """A secret rotation: its job and the re-issued vendor keys."""

    job_id: str = Field(description="The rotation job.")
    vendor_keys: list[VendorKeyIssued] = Field(
        description="The new vendor keys, shown once; the old ones are refused.")


class VendorKeyOut(BaseModel):
    """A vendor key, without the key."""

    key_id: str = Field(description="The key's id.")
    scopes: list[str] = Field(description="Its scopes.")
    label: str | None = Field(description="Its label.")
    created_at: datetime | None = Field(description="When it was issued (UTC).")
    revoked_at: datetime | None = Field(description="When it was revoked; null while valid.")

    @classmethod
    def of(cls, record: VendorKeyRecord) -> VendorKeyOut:
        return cls(key_id=record.key_id, scopes=list(record.scopes), label=record.label,
                   created_at=record.created_at, revoked_at=record.revoked_at)


class VendorKeyList(BaseModel):
    """A tenant's vendor keys."""

    vendor_keys: list[VendorKeyOut] = Field(description="The keys, revoked ones included.")


class EventOut(BaseModel):
    """One lifecycle event of a tenant (a link of its hash chain)."""

    transition: int = Field(description="Its sequence number.")
    action: str = Field(description="What was done (create, suspend, …).")
    from_state: str | None = Field(description="The state before.")
    to_state: str = Field(description="The state after.")
    actor: str = Field(description="Who did it.")
    at: datetime = Field(description="When (UTC).")
    detail: dict[str, Any] = Field(description="What else is recorded.")

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
    """A tenant's lifecycle events, oldest first."""

    events: list[EventOut] = Field(description="The events.")


class ChainVerdictOut(BaseModel):
    """The tenant's lifecycle chain, recomputed."""

    ok: bool = Field(description="Whether the chain verifies.")
    events: int = Field(description="Events that verified before the first problem.")
    head_hash: str = Field(description="The chain's head hash.")
    first_bad_seq: int | None = Field(None, description="The first bad event, if any.")
    problem: str | None = Field(None, description="What is wrong, if anything.")


class JobOut(BaseModel):
    """A provisioning, deprovisioning or rotation job."""

    job_id: str = Field(description="The job's id.")
    operation: Literal["provision", "deprovision", "rotate", "update"] = Field(
        description="What it does.")
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] = Field(
        description="Where it is.")
    actor: str = Field(description="Who started it.")
    created_at: datetime = Field(description="When it was queued (UTC).")
    started_at: datetime | None = Field(description="When it started.")
    finished_at: datetime | None = Field(description="When it ended.")
    error: str | None = Field(description="Why it failed, if it did.")

    @classmethod
    def of(cls, job: JobRecord) -> JobOut:
        return cls.model_validate(job, from_attributes=True)


class JobList(BaseModel):
    """A tenant's jobs, oldest first."""

    jobs: list[JobOut] = Field(description="The jobs.")


class StepOut(BaseModel):
    """One step of a job."""

    step: str = Field(description="The step's name.")
    status: Literal["running", "done", "failed", "skipped"] = Field(description="Its status.")
    attempts: int = Field(description="How many times the step was started (a crash or a "
                                      "resumed job starts it again).")
    started_at: datetime = Field(description="When it (last) started (UTC).")
    finished_at: datetime | None = Field(description="When it ended.")
    message: str | None = Field(description="What it said.")

    @classmethod
    def of(cls, step: StepRecord) -> StepOut:
        return cls.model_validate(step, from_attributes=True)


class JobLog(BaseModel):
    """A job, its steps and its provider's output."""

    job: JobOut = Field(description="The job.")
    steps: list[StepOut] = Field(description="Its steps as they ran.")
    output: list[str] = Field(
        description="The provider's tool output (hetzner: Pulumi and Ansible, each line "
        "'<UTC time> [<source>] <text>') written for the tenant while the job was open, "
        f"oldest first; at most the last {JOB_OUTPUT_LINES} lines. Empty for a provider that "
        "records none (local).")
    output_lines: int = Field(
        description="How many output lines the job has; more than len(output) when only "
        "the tail is shown.")


class Health(BaseModel):
    """The process answers (and, for readiness, its registry)."""

    status: str = Field(description="ok (liveness) or ready (readiness).")


class QuarantinedDocument(BaseModel):
    """A document the tenant's intake holds apart, as its data plane lists it (a field the
    data plane adds is passed on)."""

    model_config = ConfigDict(extra="allow")

    document_id: str = Field(description="The document's id.")
    name: str = Field(description="The file's name.")
    status: str = Field(description="QUARANTINED (or PURGED).")
    reason: str | None = Field(None, description="Why it is held: MALWARE_DETECTED, "
                                                 "INJECTION_SUSPECTED or HIDDEN_TEXT.")
    batch_id: str | None = Field(None, description="The batch it came in.")
    sha256: str | None = Field(None, description="SHA-256 of its bytes.")
    size: int | None = Field(None, description="Its size in bytes.")
    mime_type: str | None = Field(None, description="The detected MIME type.")
    detail: str | None = Field(None, description="The checks' detail.")
    malware_signature: str | None = Field(None, description="The scanner's signature name.")
    created_at: datetime | None = Field(None, description="When it was received (UTC).")


class QuarantineList(BaseModel):
    """A page of a tenant's quarantined documents."""

    documents: list[QuarantinedDocument] = Field(
        description="Quarantined documents, newest first.")
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="How many items were skipped.")


class QuarantineActionOut(BaseModel):
    """A released or purged document."""

    document_id: str = Field(description="The document.")
    status: str = Field(description="ACCEPTED (released into the pipeline) or PURGED.")


class DriftKindOut(BaseModel):
    """The drift of one kind."""

    kind: str = Field(description="objects_without_rows, rows_without_objects, "
                      "chunks_missing_from_index, points_extra_in_index or documents_stuck.")
    found: int = Field(description="Findings.")
    repaired: int = Field(description="Of them, repaired.")
    remaining: int = Field(description="Of them, left.")
    first: list[dict[str, Any]] = Field(
        description="The first findings: subject (an object key, a document id or a point "
        "id), detail, repair (reproject, delete_point, enqueue, reprocess, or null: reported "
        "only), repaired.")


class ConsistencyOut(BaseModel):
    """The drift between the tenant's stores."""

    clean: bool = Field(description="No drift left after the run.")
    repair: bool = Field(description="Whether repairs were made.")
    kinds: list[DriftKindOut] = Field(description="Every kind of drift, also when clean.")
    audit_seq: int | None = Field(
        description="Sequence of the tenant's consistency.repaired event; null when nothing "
        "was repaired.")


class BackupOut(BaseModel):
    """One backup of a tenant: an encrypted archive on the control plane's host."""

    backup_id: str = Field(description="32 hex digits.")
    slug: str = Field(description="The tenant backed up.")
    created_at: datetime = Field(description="When it was made (UTC).")
    path: str = Field(description="The archive on the control plane's host "
                      "(`<state>/backups/<slug>/<id>.tar.age`, root-only).")
    size: int = Field(description="The archive's size in bytes.")
    sha256: str = Field(description="The archive's SHA-256 (hex).")
    trigger: Literal["manual", "scheduled"] = Field(description="Who made it.")
    actor: str = Field(description="The admin (or control-plane) who made it.")
    manifest: dict[str, Any] = Field(
        description="What it holds: source_slug, audit_chain, audit_events, audit_head_hash, "
        "objects, database_dump_bytes, members, versions.")


class BackupList(BaseModel):
    """A tenant's backups."""

    backups: list[BackupOut] = Field(description="Newest first.")


class BackupPurged(BaseModel):
    """Every backup of the tenant deleted, then its backup key destroyed."""

    slug: str = Field(description="The tenant whose backups were purged.")
    deleted: list[str] = Field(description="The ids of the backups deleted.")
    backup_key_destroyed: bool = Field(description="The tenant's backup key is gone: no copy "
                                       "of its archives opens here any more.")


class RestoreRequest(_Body):
    """A new tenant from a backup: name the backup (its id) or its archive file."""

    slug: str = Field(description="The new tenant's slug (never one taken before).",
                      json_schema_extra={"pattern": SLUG_PATTERN,
                                         "maxLength": SLUG_MAX_LENGTH})
    backup_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$",
                                  description="A backup this control plane lists.")
    archive: str | None = Field(
        None, max_length=4096, pattern=r"^/[^\x00-\x1f\x7f]*$",
        description="Or an absolute path of an archive file on the control plane's host.")
    display_name: str | None = Field(None, min_length=1, max_length=200,
                                     description="Default: the source's, `(restored)`.")
