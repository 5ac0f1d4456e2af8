"""What each outcome means to the vendor and what she can do about it (the acceptance
report's plain-language columns). A pure table: every reason code of SPEC §9 has an entry,
and a unit test keeps it that way."""

from __future__ import annotations

from dataclasses import dataclass

from data_plane.domain.intake import DocStatus, Reason


@dataclass(frozen=True, slots=True)
class Explanation:
    explanation: str
    what_to_do: str


REASONS: dict[Reason, Explanation] = {
    Reason.NOT_IN_MANIFEST: Explanation(
        "A file arrived that the manifest does not list, so it was not taken in.",
        "Add the file to the manifest (name, size, sha256) and resubmit it."),
    Reason.MISSING_FILE: Explanation(
        "The manifest lists this file, but no file with this name arrived.",
        "Check the file name matches the manifest exactly and resubmit the file."),
    Reason.UNSAFE_NAME: Explanation(
        "The file name contains path separators, '..', control or text-direction "
        "characters, or is longer than 255 bytes; such names cannot be stored safely.",
        "Rename the file to a plain name (letters, digits, spaces, '-', '_', '.') and "
        "resubmit."),
    Reason.EMPTY_FILE: Explanation(
        "The file is empty (0 bytes).",
        "Re-export the document; an export or copy probably failed."),
    Reason.SIZE_LIMIT: Explanation(
        "The file is larger than this tenant's per-file limit.",
        "Split the document, or ask the platform admin to raise the limit."),
    Reason.SIZE_MISMATCH: Explanation(
        "The file's size differs from the size in the manifest: it changed or was cut "
        "short on the way.",
        "Rebuild the manifest from the file as it is now and resubmit both."),
    Reason.CHECKSUM_MISMATCH: Explanation(
        "The file's checksum differs from the manifest: its bytes are not the ones you "
        "described.",
        "Re-export the file, rebuild the manifest, and resubmit."),
    Reason.MIME_NOT_ALLOWED: Explanation(
        "The file's content is of a type this tenant does not accept.",
        "Convert it to an accepted format (PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown, "
        "text, e-mail, PNG, JPEG, TIFF) and resubmit."),
    Reason.MIME_EXTENSION_MISMATCH: Explanation(
        "The file's content is not what its name or declared type says (for example a "
        "program or an archive named '.pdf' or '.docx').",
        "Check the file is the document you meant to send; save it again in the format "
        "its name says and resubmit."),
    Reason.ARCHIVE_BOMB: Explanation(
        "The file is a compressed container (DOCX, XLSX, PPTX or zip) that declares far "
        "more content than it holds (size, compression ratio or number of parts), a "
        "pattern used to exhaust servers. It was not unpacked.",
        "Open and re-save the document in its application, or split it; contact the "
        "platform team if it is genuine."),
    Reason.DUPLICATE: Explanation(
        "The same bytes were already taken in; the existing document is referenced.",
        "Nothing to do: the document is already ingested."),
    Reason.PII_BLOCKED: Explanation(
        "The document contains personal data that this tenant's policy blocks.",
        "Remove or redact the personal data and resubmit, or ask the admin about the "
        "policy."),
    Reason.MALWARE_DETECTED: Explanation(
        "The malware scanner found a known threat in the file. It is quarantined apart "
        "and will never be parsed or indexed.",
        "Do not resubmit it. Scan the source machine, obtain a clean copy, and contact "
        "your security team; an admin can release a false positive."),
    Reason.INJECTION_SUSPECTED: Explanation(
        "The text contains instructions aimed at AI systems (prompt injection); the "
        "document is quarantined.",
        "Check the document's origin; an admin can release it after review."),
    Reason.HIDDEN_TEXT: Explanation(
        "The document contains hidden text (invisible, white-on-white or tiny); it is "
        "quarantined.",
        "Remove the hidden content and resubmit; an admin can release it after review."),
    Reason.PARSE_FAILED: Explanation(
        "The document could not be read (damaged, encrypted or an unsupported variant).",
        "Open it in its application, remove any password, save a fresh copy and "
        "resubmit."),
    Reason.NO_TEXT_EXTRACTED: Explanation(
        "The document was read but contains no text (e.g. an image-only file that OCR "
        "could not read).",
        "Submit a version with a text layer or a clearer scan."),
    Reason.SCAN_PENDING: Explanation(
        "The malware scanner was not available when the file arrived; the file is held "
        "and will be scanned before anything else happens to it.",
        "Nothing to do: the batch completes on its own once the scan has run."),
}

STATUSES: dict[DocStatus, Explanation] = {
    DocStatus.INDEXED: Explanation("Taken in, parsed and searchable.", "Nothing to do."),
    DocStatus.ACCEPTED: Explanation("Taken in; waiting for the pipeline.",
                                    "Nothing to do: check back for the final outcome."),
    DocStatus.PROCESSING: Explanation("Being parsed, checked and indexed.",
                                      "Nothing to do: check back for the final outcome."),
    DocStatus.PURGED: Explanation("A quarantined file that an admin deleted.",
                                  "Nothing to do."),
    DocStatus.REJECTED: Explanation("Not taken in.", "See the reason."),
    DocStatus.QUARANTINED: Explanation("Kept apart; never parsed or indexed.",
                                       "See the reason."),
    DocStatus.FAILED: Explanation("Taken in, but could not be processed.", "See the reason."),
}


def explain(status: str, reason: str | None) -> Explanation:
    """The explanation of one document's outcome (a reason is more specific than a
    status; PURGED is about the purge, whatever the original reason)."""
    if status == DocStatus.PURGED:
        return STATUSES[DocStatus.PURGED]
    if reason and reason in Reason.__members__:
        return REASONS[Reason(reason)]
    if status in DocStatus.__members__:
        return STATUSES[DocStatus(status)]
    return Explanation(f"Status {status}.", "Contact the platform team.")
