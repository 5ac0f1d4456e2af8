-- Idempotency-Key of POST /v1/batches (issue 16): at most 255 characters, scoped by the
-- vendor key that sent it, bound to the sha256 of the manifest it came with, and naming its
-- batch until ``expires_at`` (the data plane's idempotency_key_ttl_s after the batch);
-- then the value may name a new batch (the row is taken over). Idempotent.

CREATE TABLE IF NOT EXISTS idempotency_keys (
    key_id           text NOT NULL,
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- NULL only for a key carried over from before this table: it replays any manifest
    manifest_sha256  text,
    batch_id         uuid NOT NULL REFERENCES batches(batch_id),
    -- the receipt first answered, which a replay answers again (NULL until it is kept)
    receipt          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
);

-- Until now a key was unique across the tenant (batches.idempotency_key UNIQUE, whose
-- index made an 8 KB key a 500 after the files were stored). Once, while that constraint
-- is still there: carry the keys over, live for a day from their batch, then drop it.
-- batches.idempotency_key stays, as a record of the key a batch was sent under.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint
               WHERE conrelid = 'batches'::regclass AND conname = 'batches_idempotency_key_key')
    THEN
        INSERT INTO idempotency_keys (key_id, idempotency_key, manifest_sha256, batch_id,
                                      created_at, expires_at)
        SELECT coalesce(key_id, ''), idempotency_key, NULL, batch_id, received_at,
               received_at + interval '1 day'
        FROM batches
        WHERE idempotency_key IS NOT NULL AND length(idempotency_key) BETWEEN 1 AND 255
        ON CONFLICT DO NOTHING;
        ALTER TABLE batches DROP CONSTRAINT batches_idempotency_key_key;
    END IF;
END
$$;
