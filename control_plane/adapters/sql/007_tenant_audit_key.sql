-- Issue 16: the Ed25519 public key (raw 32 bytes, base64) a tenant's audit checkpoints are
-- signed with, read from its data plane at provisioning and kept after deprovisioning: the
-- archived audit export is verified against it, not against the key the export carries.
-- Idempotent.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS audit_public_key text
    CHECK (audit_public_key IS NULL OR audit_public_key ~ '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$');
