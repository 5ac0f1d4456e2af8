-- E-mail attachments as child documents (issue 12, SPEC §5.2). Idempotent.

-- An attachment is a document of its own, in its parent's batch (same ordinal, listed
-- after it); erasing the parent erases its attachments.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS parent_document_id uuid;
CREATE INDEX IF NOT EXISTS documents_parent ON documents (parent_document_id)
    WHERE parent_document_id IS NOT NULL;
