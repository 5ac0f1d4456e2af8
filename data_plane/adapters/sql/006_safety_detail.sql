-- Why the safety step decided what it did, in words a vendor can read (issue 12): e.g.
-- "HIDDEN_TEXT: off-page text, tiny text (no instructions)" on a FLAG. No document text.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS safety_detail text;
