-- The tenants' lifecycle events form a hash chain per tenant (the control plane's own audit
-- chain, SPEC §5.6), built with the same event model and hashing as the data plane's
-- (frostbyte_common.audit_chain). Rows written before the chain existed keep seq NULL.
-- The table is append-only: a trigger refuses UPDATE, DELETE and TRUNCATE unless the session
-- sets the documented break-glass switch ``SET frostbyte.audit_break_glass = 'on'``.
-- Idempotent: every statement can run again.

ALTER TABLE tenant_events ADD COLUMN IF NOT EXISTS seq bigint;
ALTER TABLE tenant_events ADD COLUMN IF NOT EXISTS event_id uuid;
ALTER TABLE tenant_events ADD COLUMN IF NOT EXISTS event_type text;
ALTER TABLE tenant_events ADD COLUMN IF NOT EXISTS prev_hash text;
ALTER TABLE tenant_events ADD COLUMN IF NOT EXISTS hash text;
CREATE UNIQUE INDEX IF NOT EXISTS tenant_events_chain ON tenant_events (slug, seq)
    WHERE seq IS NOT NULL;

CREATE OR REPLACE FUNCTION tenant_events_refuse_change() RETURNS trigger AS $$
BEGIN
    IF current_setting('frostbyte.audit_break_glass', true) = 'on' THEN
        RAISE WARNING 'audit break-glass: % on tenant_events by %', TG_OP, session_user;
        RETURN COALESCE(NEW, OLD);
    END IF;
    RAISE EXCEPTION 'tenant_events is append-only (% refused; break-glass is off)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS tenant_events_append_only ON tenant_events;
CREATE TRIGGER tenant_events_append_only BEFORE UPDATE OR DELETE ON tenant_events
    FOR EACH ROW EXECUTE FUNCTION tenant_events_refuse_change();
DROP TRIGGER IF EXISTS tenant_events_no_truncate ON tenant_events;
CREATE TRIGGER tenant_events_no_truncate BEFORE TRUNCATE ON tenant_events
    FOR EACH STATEMENT EXECUTE FUNCTION tenant_events_refuse_change();
