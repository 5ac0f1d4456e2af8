-- The tenant database: PostgreSQL is the system of record (SPEC §5.4).
-- Idempotent: every statement can run again.

CREATE TABLE IF NOT EXISTS vendor_keys (
    key_id      text PRIMARY KEY,
    key_sha256  text NOT NULL,
    scopes      text[] NOT NULL,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE IF NOT EXISTS batches (
    batch_id         uuid PRIMARY KEY,
    client_ref       text NOT NULL,
    idempotency_key  text UNIQUE,
    key_id           text,
    received_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per file named in a batch (or sent without being named), whatever its outcome.
-- ``stage`` is the pipeline's progress: RECEIVED → PARSED → EMBEDDED → INDEXED.
CREATE TABLE IF NOT EXISTS documents (
    document_id      uuid PRIMARY KEY,
    batch_id         uuid NOT NULL REFERENCES batches(batch_id),
    ordinal          int NOT NULL,
    name             text NOT NULL,
    sha256           text,
    declared_sha256  text,
    size             bigint,
    declared_type    text,
    mime_type        text,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    status           text NOT NULL,
    reason           text,
    detail           text,
    stored           boolean NOT NULL DEFAULT false,
    duplicate_of     uuid,
    stage            text NOT NULL DEFAULT 'RECEIVED',
    raw_key          text,
    canonical_key    text,
    title            text,
    parser           text,
    parser_version   text,
    parse_status     text,
    page_count       int,
    chunk_count      int,
    superseded_by    uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- Seconds spent per pipeline stage (parse, chunk, embed, commit, index) for reports and bench.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS timings jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE INDEX IF NOT EXISTS documents_batch ON documents (batch_id, ordinal);
CREATE INDEX IF NOT EXISTS documents_sha ON documents (sha256) WHERE stored;
CREATE INDEX IF NOT EXISTS documents_name ON documents (name) WHERE stored;

-- The canonical document as rows (its JSON lives in the object store).
CREATE TABLE IF NOT EXISTS document_elements (
    document_id   uuid NOT NULL REFERENCES documents(document_id) ON DELETE CASCADE,
    element_index int NOT NULL,
    type          text NOT NULL,
    text          text NOT NULL,
    level         int,
    heading_path  text[] NOT NULL,
    page          int,
    sheet         text,
    cells         jsonb,
    PRIMARY KEY (document_id, element_index)
);

-- Chunks and their vectors are committed here first; Qdrant is a projection of them.
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id        text PRIMARY KEY,
    document_id     uuid NOT NULL REFERENCES documents(document_id) ON DELETE CASCADE,
    ordinal         int NOT NULL,
    text            text NOT NULL,
    content_sha256  text NOT NULL,
    heading_path    text[] NOT NULL,
    page            int,
    pages           int[] NOT NULL,
    sheet           text,
    element_indexes int[] NOT NULL,
    token_count     int NOT NULL,
    embedding_model text NOT NULL,
    embedding       real[] NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks (document_id, ordinal);

-- The embedding model the tenant's vector collection was built with.
CREATE TABLE IF NOT EXISTS vector_index (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    collection  text NOT NULL,
    model       text NOT NULL,
    version     text NOT NULL,
    dimension   int NOT NULL
);

-- The audit stream lives in its own schema: 004_audit.sql.
