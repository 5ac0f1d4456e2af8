-- Embedding models that can change (issue 18): a tenant is re-embedded into a NEW
-- collection while search answers from the active one, then ``vector_index`` (the active
-- collection and its model, one row) is flipped in the same transaction that moves the new
-- vectors into ``chunks.embedding``. Idempotent: every statement can run again.

-- The vectors of the collection being built, per chunk: ``chunks.embedding`` keeps the
-- active model's until the switch.
CREATE TABLE IF NOT EXISTS chunk_embeddings (
    chunk_id    text NOT NULL REFERENCES chunks(chunk_id) ON DELETE CASCADE,
    collection  text NOT NULL,
    model       text NOT NULL,
    embedding   real[] NOT NULL,
    PRIMARY KEY (collection, chunk_id)
);

-- One row per re-embedding: what it builds, how far it got, how it ended.
CREATE TABLE IF NOT EXISTS reembeddings (
    reembed_id      uuid PRIMARY KEY,
    collection      text NOT NULL,
    model           text NOT NULL,
    version         text NOT NULL,
    dimension       int NOT NULL,
    from_collection text,
    from_model      text,
    state           text NOT NULL CHECK (state IN ('RUNNING', 'SWITCHED', 'FAILED')),
    chunks_total    int NOT NULL DEFAULT 0,
    chunks_done     int NOT NULL DEFAULT 0,
    error           text,
    actor           text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
-- at most one running at a time, whichever process asks
CREATE UNIQUE INDEX IF NOT EXISTS reembeddings_one_running ON reembeddings ((true))
    WHERE state = 'RUNNING';
