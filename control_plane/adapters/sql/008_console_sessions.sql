-- Admin console sessions (issue 17, SPEC §5.8): only the SHA-256 of a session id is stored,
-- with the admin token that signed in, its role and the expiry. A session of a revoked token
-- is refused (the lookup joins admin_tokens). Idempotent.
CREATE TABLE IF NOT EXISTS console_sessions (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    token_id    text NOT NULL REFERENCES admin_tokens (token_id),
    role        text NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expires_at ON console_sessions (expires_at);
