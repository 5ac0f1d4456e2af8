"""In-memory stand-ins for the control plane's ports (:mod:`control_plane.domain.ports`) and a
recording Provider, for unit tests of the services and the job steps. They keep the rules
an admin would notice from the PostgreSQL adapters: a tenant is saved only from the state the
caller expected (``ConcurrentUpdate`` otherwise), one open job per tenant, a step recorded
again counts an attempt, a job that ended keeps its end."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import uuid
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from control_plane.domain.admin_tokens import AdminToken
from control_plane.domain.jobs import OPEN, JobRecord, StepRecord
from control_plane.domain.lifecycle import Tenant, TenantEvent, TenantState
from control_plane.domain.vendor_keys import VendorKeyRecord
from control_plane.errors import (
    AdminTokenNotFound,
    ConcurrentUpdate,
    JobNotFound,
    LastAdminToken,
    TenantExists,
    TenantNotFound,
    VendorKeyNotFound,
)
from control_plane.providers.base import JobOutput
from frostbyte_common.audit_chain import ChainVerdict
from frostbyte_common.tenant_config import TenantConfig


def run(coro: Awaitable[Any]) -> Any:
    """Run one awaitable to its end on a fresh event loop (the services are async)."""
    async def main() -> Any:
        return await coro
    return asyncio.run(main())


def _now() -> datetime:
    return datetime.now(UTC)


class InMemoryRegistry:
    """Tenants (stored as copies: a caller's changes count only once saved), their events and
    vendor keys."""

    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.event_log: list[TenantEvent] = []
        self.keys: dict[str, VendorKeyRecord] = {}

    async def ping(self) -> None:
        return None

    async def create(self, tenant: Tenant, event: TenantEvent) -> None:
        if tenant.slug in self.tenants:
            raise TenantExists(f"tenant {tenant.slug!r} already exists")
        self.tenants[tenant.slug] = copy.deepcopy(tenant)
        self.event_log.append(event)

    async def save(self, tenant: Tenant, event: TenantEvent | None, *,
                   expected_state: TenantState) -> None:
        if self.tenants[tenant.slug].state is not expected_state:
            raise ConcurrentUpdate(f"tenant {tenant.slug!r} is no longer {expected_state.value}")
        self.tenants[tenant.slug] = copy.deepcopy(tenant)
        if event is not None:
            self.event_log.append(event)

    async def get(self, slug: str) -> Tenant:
        try:
            return copy.deepcopy(self.tenants[slug])
        except KeyError:
            raise TenantNotFound(f"no tenant {slug!r}") from None

    async def list_tenants(self, states: Iterable[TenantState] | None = None) -> list[Tenant]:
        wanted = set(states) if states is not None else set(TenantState)
        return [copy.deepcopy(t) for t in self.tenants.values() if t.state in wanted]

    async def events(self, slug: str) -> list[TenantEvent]:
        return [e for e in self.event_log if e.slug == slug]

    async def verify_events(self, slug: str) -> ChainVerdict:
        raise NotImplementedError("the hash chain is the PostgreSQL adapter's")

    async def add_vendor_key(self, record: VendorKeyRecord) -> VendorKeyRecord:
        stored = replace(record, created_at=_now())
        self.keys[record.key_id] = stored
        return stored

    async def delete_vendor_key(self, key_id: str) -> None:
        self.keys.pop(key_id, None)

    async def vendor_key(self, slug: str, key_id: str) -> VendorKeyRecord:
        record = self.keys.get(key_id)
        if record is None or record.slug != slug:
            raise VendorKeyNotFound(f"tenant {slug!r} has no vendor key {key_id!r}")
        return record

    async def revoke_vendor_keys(self, slug: str, key_ids: Sequence[str] | None = None) -> int:
        count = 0
        for key_id, record in list(self.keys.items()):
            if record.slug == slug and record.revoked_at is None and (
                    key_ids is None or key_id in key_ids):
                self.keys[key_id] = replace(record, revoked_at=_now())
                count += 1
        return count

    async def vendor_keys(self, slug: str) -> list[VendorKeyRecord]:
        return [k for k in self.keys.values() if k.slug == slug]

    # -- what an admin would read ------------------------------------------------------------
    def actions(self, slug: str) -> list[str]:
        return [e.action.value for e in self.event_log if e.slug == slug]


class InMemoryJobStore:
    def __init__(self) -> None:
        self.jobs: dict[str, JobRecord] = {}
        self.step_records: dict[str, dict[str, StepRecord]] = {}

    async def open_or_create(self, slug: str, operation: str,
                             actor: str) -> tuple[JobRecord, bool]:
        existing = await self.open_job(slug)
        if existing is not None:
            return existing, False
        job = JobRecord(str(uuid.uuid4()), slug, operation, "queued", actor, _now(), None,
                        None, None)
        self.jobs[job.job_id] = job
        return job, True

    async def open_job(self, slug: str) -> JobRecord | None:
        return next((j for j in self.jobs.values() if j.slug == slug and j.status in OPEN),
                    None)

    async def open_jobs(self) -> list[JobRecord]:
        return [j for j in self.jobs.values() if j.status in OPEN]

    async def get(self, slug: str, job_id: str) -> JobRecord:
        job = self.jobs.get(job_id)
        if job is None or job.slug != slug:
            raise JobNotFound(f"tenant {slug!r} has no job {job_id!r}")
        return job

    async def list_jobs(self, slug: str) -> list[JobRecord]:
        return [j for j in self.jobs.values() if j.slug == slug]

    async def set_status(self, job_id: str, status: str, error: str | None = None) -> None:
        job = self.jobs[job_id]
        if job.status not in OPEN:
            return
        self.jobs[job_id] = replace(
            job, status=status,
            started_at=(job.started_at or _now()) if status == "running" else job.started_at,
            finished_at=None if status in OPEN else _now(),
            error=error if error is not None else job.error)

    async def status(self, job_id: str) -> str:
        return self.jobs[job_id].status

    async def steps(self, job_id: str) -> list[StepRecord]:
        return sorted(self.step_records.get(job_id, {}).values(), key=lambda s: s.position)

    async def start_step(self, job_id: str, step: str, position: int) -> None:
        steps = self.step_records.setdefault(job_id, {})
        before = steps.get(step)
        steps[step] = (StepRecord(step, position, "running", 1, _now(), None, None)
                       if before is None else
                       replace(before, status="running", attempts=before.attempts + 1,
                               started_at=_now(), finished_at=None))

    async def end_step(self, job_id: str, step: str, status: str, message: str | None) -> None:
        steps = self.step_records[job_id]
        steps[step] = replace(steps[step], status=status, message=message,
                              finished_at=_now())


class RecordingQueue:
    def __init__(self) -> None:
        self.deferred: list[tuple[str, str]] = []
        self.recovered: list[list[tuple[str, str]]] = []

    async def defer(self, job_id: str, slug: str) -> None:
        self.deferred.append((job_id, slug))

    async def recover(self, open_jobs: Iterable[tuple[str, str]]) -> int:
        jobs = list(open_jobs)
        self.recovered.append(jobs)
        return len(jobs)


class InMemorySecrets:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, str]] = {}
        self.writes = 0

    def put(self, slug: str, values: Mapping[str, str]) -> None:
        self.values[slug] = dict(values)
        self.writes += 1

    def get(self, slug: str) -> dict[str, str]:
        return dict(self.values[slug])

    def exists(self, slug: str) -> bool:
        return slug in self.values

    def shred(self, slug: str) -> dict[str, bool]:
        self.values.pop(slug, None)
        return {"tenant_age_key": True, "secrets_file": True}


class RecordingProvider:
    """A Provider that records every call; its data planes are at ``http://127.0.0.1:<n>``.
    ``left_behind`` names resources :meth:`verify_deprovisioned` reports still present."""

    name = "local"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.configs: list[TenantConfig] = []
        self.running: set[str] = set()
        self.destroyed: set[str] = set()
        self.left_behind: set[str] = set()
        self.certificates: dict[str, int] = {}  # slug -> how many certificates issued

    def endpoint(self, slug: str) -> str:
        return f"http://127.0.0.1:{40000 + sum(map(ord, slug))}"

    def provision(self, tenant: Tenant, config: TenantConfig) -> str:
        self.calls.append(("provision", tenant.slug))
        self.configs.append(config)
        self.running.add(tenant.slug)
        self.certificates.setdefault(tenant.slug, 1)
        return self.endpoint(tenant.slug)

    def tls_fingerprint(self, tenant: Tenant) -> str | None:
        issued = self.certificates.get(tenant.slug)
        return None if issued is None else \
            "sha256:" + hashlib.sha256(f"{tenant.slug}/{issued}".encode()).hexdigest()

    def start(self, tenant: Tenant, config: TenantConfig) -> str:
        self.calls.append(("start", tenant.slug))
        self.running.add(tenant.slug)
        return self.endpoint(tenant.slug)

    def is_healthy(self, tenant: Tenant) -> bool:
        return tenant.slug in self.running

    def apply_secrets(self, tenant: Tenant, config: TenantConfig) -> str:
        self.calls.append(("apply_secrets", tenant.slug))
        self.certificates[tenant.slug] = self.certificates.get(tenant.slug, 0) + 1
        return self.endpoint(tenant.slug)

    def stop(self, tenant: Tenant) -> list[str]:
        self.calls.append(("stop", tenant.slug))
        was_running = tenant.slug in self.running
        self.running.discard(tenant.slug)
        return ["data-plane", "worker"] if was_running else []

    def install_vendor_key(self, tenant: Tenant, key_id: str, sha256: str,
                           scopes: Sequence[str], label: str | None) -> None:
        self.calls.append(("install_vendor_key", tenant.slug))

    def revoke_vendor_key(self, tenant: Tenant, key_id: str) -> None:
        self.calls.append(("revoke_vendor_key", tenant.slug))

    @contextlib.contextmanager
    def control_channel(self, tenant: Tenant) -> Iterator[str]:
        yield self.endpoint(tenant.slug)

    def deprovision(self, tenant: Tenant) -> None:
        self.calls.append(("deprovision", tenant.slug))
        self.running.discard(tenant.slug)
        self.destroyed.add(tenant.slug)

    def verify_deprovisioned(self, tenant: Tenant) -> dict[str, bool]:
        gone = tenant.slug in self.destroyed
        return {name: gone and name not in self.left_behind
                for name in ("database", "role", "files")}

    def job_output(self, tenant: Tenant, since: datetime, until: datetime | None,
                   limit: int) -> JobOutput:
        return JobOutput()

    def count(self, call: str) -> int:
        return sum(1 for name, _ in self.calls if name == call)


class InMemoryAdminTokens:
    """Admin tokens by digest; the last active admin token cannot be revoked."""

    def __init__(self) -> None:
        self.tokens: dict[str, tuple[AdminToken, str]] = {}  # id -> (record, sha256)

    async def add(self, token_id: str, name: str, role: str, sha256: str,
                  created_by: str) -> AdminToken | None:
        if any(digest == sha256 for _, digest in self.tokens.values()):
            return None
        record = AdminToken(token_id, name, role, created_by, _now(), None)
        self.tokens[token_id] = (record, sha256)
        return record

    async def any_exists(self) -> bool:
        return bool(self.tokens)

    async def active_by_sha256(self, sha256: str) -> AdminToken | None:
        return next((r for r, digest in self.tokens.values()
                     if digest == sha256 and r.revoked_at is None), None)

    async def list_tokens(self) -> list[AdminToken]:
        return [r for r, _ in self.tokens.values()]

    async def revoke(self, token_id: str) -> AdminToken:
        if token_id not in self.tokens:
            raise AdminTokenNotFound(f"no admin token {token_id!r}")
        record, digest = self.tokens[token_id]
        admins = [r for r, _ in self.tokens.values()
                  if r.role == "admin" and r.revoked_at is None and r.token_id != token_id]
        if record.role == "admin" and record.revoked_at is None and not admins:
            raise LastAdminToken("this is the last admin token")
        revoked = replace(record, revoked_at=record.revoked_at or _now())
        self.tokens[token_id] = (revoked, digest)
        return revoked
