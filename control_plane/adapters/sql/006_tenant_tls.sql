-- Issue 15: the SHA-256 fingerprint of the server certificate a tenant's endpoint presents,
-- issued by the control plane's CA at provisioning and re-issued at rotation. Idempotent.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS tls_fingerprint text
    CHECK (tls_fingerprint IS NULL OR tls_fingerprint ~ '^sha256:[0-9a-f]{64}$');
