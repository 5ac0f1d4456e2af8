-- Signed-in sessions of the vendor web page (SPEC §5.8, issue 17). The browser holds a
-- random session id in an HttpOnly cookie; only its sha256 is stored, with the vendor key
-- it was opened with (its id and the hash it had then), that key's scopes and the expiry.
-- A session is live while it has not expired and its key is neither revoked nor re-issued
-- (the stored key hash still matches): revoking or rotating a key ends its sessions.
-- Idempotent.

CREATE TABLE IF NOT EXISTS web_sessions (
    session_sha256  text PRIMARY KEY CHECK (length(session_sha256) = 64),
    key_id          text NOT NULL REFERENCES vendor_keys(key_id) ON DELETE CASCADE,
    key_sha256      text NOT NULL,
    scopes          text[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS web_sessions_expires_at ON web_sessions (expires_at);
CREATE INDEX IF NOT EXISTS web_sessions_key_id ON web_sessions (key_id);
