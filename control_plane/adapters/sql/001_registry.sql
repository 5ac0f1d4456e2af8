-- The control plane's tenant registry. Idempotent: safe to run at every start.
CREATE TABLE IF NOT EXISTS tenants (
    slug             text PRIMARY KEY,
    display_name     text NOT NULL,
    provider         text NOT NULL,
    state            text NOT NULL CHECK (state IN ('REQUESTED', 'PROVISIONING', 'ACTIVE',
                         'SUSPENDED', 'DEPROVISIONING', 'DEPROVISIONED', 'FAILED')),
    config           jsonb NOT NULL DEFAULT '{}'::jsonb,
    endpoint         text,
    failed_operation text CHECK (failed_operation IN ('provision', 'deprovision')),
    failure_reason   text,
    port             integer,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- Lifecycle history: one row per transition, with who triggered it.
CREATE TABLE IF NOT EXISTS tenant_events (
    id          bigserial PRIMARY KEY,
    slug        text NOT NULL REFERENCES tenants (slug),
    transition  smallint NOT NULL,
    action      text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    actor       text NOT NULL,
    at          timestamptz NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS tenant_events_slug_idx ON tenant_events (slug, id);

-- Vendor keys: only the SHA-256 of a key is ever stored.
CREATE TABLE IF NOT EXISTS vendor_keys (
    key_id      text PRIMARY KEY,
    slug        text NOT NULL REFERENCES tenants (slug),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    scopes      text[] NOT NULL,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX IF NOT EXISTS vendor_keys_slug_idx ON vendor_keys (slug);
