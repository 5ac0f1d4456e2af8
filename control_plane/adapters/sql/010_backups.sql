-- Issue 18: per-tenant backups and restores. Idempotent.
-- A backup is one encrypted archive on the control plane's disk; its row says where, how big,
-- its sha256 and a summary of its manifest. Rows outlive the tenant (a deprovisioned tenant's
-- backups stay restorable until they are purged, which deletes the files and the backup key).
CREATE TABLE IF NOT EXISTS tenant_backups (
    backup_id   text PRIMARY KEY CHECK (backup_id ~ '^[0-9a-f]{32}$'),
    slug        text NOT NULL REFERENCES tenants (slug),
    created_at  timestamptz NOT NULL,
    path        text NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    trigger     text NOT NULL CHECK (trigger IN ('manual', 'scheduled')),
    summary     jsonb NOT NULL,
    actor       text NOT NULL
);
CREATE INDEX IF NOT EXISTS tenant_backups_slug ON tenant_backups (slug, created_at);

-- A tenant brought up from a backup: the restore's source, and the audit chain its data
-- plane continues (the source's: the chain's events name the tenant they began with).
CREATE TABLE IF NOT EXISTS tenant_restores (
    slug            text PRIMARY KEY,
    source_slug     text NOT NULL,
    backup_id       text NOT NULL,
    archive_path    text NOT NULL,
    archive_sha256  text NOT NULL CHECK (archive_sha256 ~ '^[0-9a-f]{64}$'),
    audit_chain     text NOT NULL,
    restored_event  jsonb,
    revoked_key_ids jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now()
);
