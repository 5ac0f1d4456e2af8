-- Issue 18: the data-plane release (PEP 440 version) a tenant runs, recorded at provisioning
-- and changed by an update (POST /v1/tenants/{slug}/update); and the update job's operation.
-- Idempotent.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS version text
    CHECK (version IS NULL OR version ~ '^[0-9A-Za-z.+!-]{1,64}$');
ALTER TABLE tenant_jobs DROP CONSTRAINT IF EXISTS tenant_jobs_operation_check;
ALTER TABLE tenant_jobs ADD CONSTRAINT tenant_jobs_operation_check
    CHECK (operation IN ('provision', 'deprovision', 'rotate', 'update'));
