-- Durable provisioning jobs (issue 7): one row per job, one row per step. Idempotent.
-- The job queue itself is procrastinate's (procrastinate_jobs, same database); these tables
-- are what a job did, step by step, and what an admin reads (GET /v1/tenants/{slug}/jobs).
CREATE TABLE IF NOT EXISTS tenant_jobs (
    job_id      uuid PRIMARY KEY,
    slug        text NOT NULL REFERENCES tenants (slug),
    operation   text NOT NULL CHECK (operation IN ('provision', 'deprovision', 'rotate')),
    status      text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed',
                                                 'cancelled')),
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    error       text
);
-- At most one open job per tenant: a second request finds the first.
CREATE UNIQUE INDEX IF NOT EXISTS tenant_jobs_one_open_per_tenant
    ON tenant_jobs (slug) WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS tenant_jobs_slug_idx ON tenant_jobs (slug, created_at);

-- Each step of a job: a step that is 'done' is skipped when the job runs again.
CREATE TABLE IF NOT EXISTS tenant_job_steps (
    job_id      uuid NOT NULL REFERENCES tenant_jobs (job_id),
    step        text NOT NULL,
    position    smallint NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'skipped')),
    attempts    integer NOT NULL DEFAULT 1,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    message     text,
    PRIMARY KEY (job_id, step)
);
