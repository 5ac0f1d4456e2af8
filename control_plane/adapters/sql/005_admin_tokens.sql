-- Admin API tokens (issue 7): only the SHA-256 of a token is stored. Idempotent.
CREATE TABLE IF NOT EXISTS admin_tokens (
    token_id    text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'viewer')),
    sha256      text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
