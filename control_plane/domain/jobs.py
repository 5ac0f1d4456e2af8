"""A tenant job and its steps as the control plane records them (``tenant_jobs`` and
``tenant_job_steps``): one (de)provisioning run, or a secret rotation, of one tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

OPEN = ("queued", "running")  # at most one open job per tenant


@dataclass(frozen=True, slots=True)
class JobRecord:
    job_id: str
    slug: str
    operation: str
    status: str
    actor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class StepRecord:
    step: str
    position: int
    status: str
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    message: str | None
