-- Issue 18: the last health poll of each tenant's data plane (control_plane.services.
-- health_polling): when, ready or not, why (a probe's reason, never a secret), and how many
-- polls in a row failed. Written by the poller only; the tenant's JSON shows it. Idempotent.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS last_health_at timestamptz;
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS last_health_ok boolean;
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS last_health_detail text;
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS consecutive_failures integer NOT NULL DEFAULT 0
    CHECK (consecutive_failures >= 0);
