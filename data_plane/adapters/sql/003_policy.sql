-- Policy at ingestion (issue 5): PII findings, classification and the safety verdict.
-- Idempotent. Findings record type, location and score — never the matched value.

ALTER TABLE documents ADD COLUMN IF NOT EXISTS doc_type text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS sensitivity text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS classified_by text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS safety_verdict text;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS safety_score real;
-- Rules that fired: [{"reason", "rule", "score", "element_index"}], no document text.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS safety_signals jsonb;
-- {"IBAN_CODE": {"REDACT": 2}, ...}
ALTER TABLE documents ADD COLUMN IF NOT EXISTS pii_counts jsonb;
CREATE INDEX IF NOT EXISTS documents_doc_type ON documents (doc_type);

CREATE TABLE IF NOT EXISTS pii_findings (
    document_id   uuid NOT NULL REFERENCES documents(document_id) ON DELETE CASCADE,
    seq           int NOT NULL,
    entity_type   text NOT NULL,
    action        text NOT NULL CHECK (action IN ('REDACT', 'FLAG', 'BLOCK')),
    location      text NOT NULL,           -- element, cell, title, metadata
    element_index int,
    cell_row      int,
    cell_col      int,
    meta_key      text,
    start_offset  int NOT NULL,            -- in the original text of that location
    end_offset    int NOT NULL,
    score         real NOT NULL,
    recognizer    text NOT NULL,
    PRIMARY KEY (document_id, seq)
);
CREATE INDEX IF NOT EXISTS pii_findings_type ON pii_findings (entity_type, action);
