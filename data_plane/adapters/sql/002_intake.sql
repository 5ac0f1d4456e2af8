-- Intake gateway (issue 3): held files and quarantine. Idempotent.

-- A file whose malware scan could not run yet is held as PROCESSING / SCAN_PENDING; the
-- verdict its other checks reached (e.g. MIME_NOT_ALLOWED) waits here until the scan
-- decides, because MALWARE_DETECTED wins over every other reason.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS held_reason text;
-- What the scanner found (the signature name), for quarantine and the report.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS malware_signature text;
CREATE INDEX IF NOT EXISTS documents_scan_pending ON documents (created_at)
    WHERE reason = 'SCAN_PENDING';
CREATE INDEX IF NOT EXISTS documents_quarantined ON documents (created_at)
    WHERE status = 'QUARANTINED';
