"""A tenant's jobs as an admin reads them: the list, and one job's steps with the tail of
its provider's output."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from control_plane.domain.jobs import JobRecord, StepRecord
from control_plane.domain.ports import JobStorePort, TenantRegistryPort
from control_plane.providers.base import JobOutput, Provider

JOB_OUTPUT_LINES = 2000  # the tail of a job's provider output shown in its log


class JobHistoryService:
    def __init__(self, registry: TenantRegistryPort, store: JobStorePort,
                 providers: Mapping[str, Provider]) -> None:
        self._registry = registry
        self._store = store
        self._providers = dict(providers)

    async def jobs(self, slug: str) -> list[JobRecord]:
        await self._registry.get(slug)
        return await self._store.list_jobs(slug)

    async def job_log(self, slug: str, job_id: str
                      ) -> tuple[JobRecord, list[StepRecord], JobOutput]:
        """The job, its steps, and the tail of its provider's output: what the provider
        wrote for the tenant from the job's creation until it finished (one open job per
        tenant, so that window is the job's). No output when the provider is not
        configured here."""
        tenant = await self._registry.get(slug)
        job = await self._store.get(slug, job_id)
        steps = await self._store.steps(job.job_id)
        provider = self._providers.get(tenant.provider)
        output = JobOutput() if provider is None else await asyncio.to_thread(
            provider.job_output, tenant, job.created_at, job.finished_at, JOB_OUTPUT_LINES)
        return job, steps, output
