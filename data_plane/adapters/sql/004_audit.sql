-- The audit stream (SPEC §5.6): append-only, hash-chained events and signed Merkle
-- checkpoints in their own schema, owned by the role that migrates (the migration role).
-- The service role is granted USAGE on the schema and SELECT, INSERT on its tables only
-- (``AuditStore.grant_service_role``). A trigger refuses UPDATE, DELETE and TRUNCATE for
-- everybody, the owner included, unless the session sets the documented break-glass switch:
--     SET frostbyte.audit_break_glass = 'on';
-- (any role may set it, but only a role with UPDATE/DELETE/TRUNCATE privilege — the owner —
-- gets past the privilege check; every use is visible as a broken chain or checkpoint).
-- Idempotent: every statement can run again.

CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE IF NOT EXISTS audit.events (
    tenant        text NOT NULL,
    seq           bigint NOT NULL CHECK (seq > 0),
    event_id      uuid NOT NULL UNIQUE,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    event_type    text NOT NULL,
    subject_kind  text NOT NULL,
    subject_id    text NOT NULL,
    payload       jsonb NOT NULL,
    prev_hash     text NOT NULL,
    hash          text NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX IF NOT EXISTS events_type ON audit.events (tenant, event_type, seq);
CREATE INDEX IF NOT EXISTS events_actor ON audit.events (tenant, actor, seq);
CREATE INDEX IF NOT EXISTS events_subject ON audit.events (tenant, subject_id, seq);
CREATE INDEX IF NOT EXISTS events_time ON audit.events (tenant, occurred_at);
CREATE INDEX IF NOT EXISTS events_document ON audit.events (tenant, (payload->>'document_id'));
CREATE INDEX IF NOT EXISTS events_batch ON audit.events (tenant, (payload->>'batch_id'));

-- A checkpoint signs the RFC 6962 Merkle root of the first ``tree_size`` events.
CREATE TABLE IF NOT EXISTS audit.checkpoints (
    tenant      text NOT NULL,
    tree_size   bigint NOT NULL CHECK (tree_size > 0),
    root_hash   text NOT NULL,
    signed_at   timestamptz NOT NULL,
    key_id      text NOT NULL,
    public_key  text NOT NULL,
    signature   text NOT NULL,
    PRIMARY KEY (tenant, tree_size)
);

CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger AS $$
BEGIN
    IF current_setting('frostbyte.audit_break_glass', true) = 'on' THEN
        RAISE WARNING 'audit break-glass: % on %.% by %', TG_OP, TG_TABLE_SCHEMA,
            TG_TABLE_NAME, session_user;
        RETURN COALESCE(NEW, OLD);
    END IF;
    RAISE EXCEPTION '%.% is append-only (% refused; break-glass is off)',
        TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS events_append_only ON audit.events;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
DROP TRIGGER IF EXISTS events_no_truncate ON audit.events;
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
DROP TRIGGER IF EXISTS checkpoints_append_only ON audit.checkpoints;
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON audit.checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
DROP TRIGGER IF EXISTS checkpoints_no_truncate ON audit.checkpoints;
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON audit.checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

REVOKE ALL ON SCHEMA audit FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM PUBLIC;
