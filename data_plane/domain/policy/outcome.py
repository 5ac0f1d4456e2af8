"""What the policy step decided about one document."""

from __future__ import annotations

from dataclasses import dataclass

from data_plane.domain.canonical import CanonicalDocument
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.policy.classification import Classification
from data_plane.domain.policy.pii import PiiOutcome
from data_plane.domain.policy.safety import HIDDEN, SafetyAssessment, Verdict


@dataclass(frozen=True)
class Refusal:
    status: DocStatus
    reason: Reason
    detail: str


@dataclass(frozen=True)
class PolicyOutcome:
    """The redacted document (what is stored, chunked and embedded), PII findings, the
    safety assessment and the classification."""

    document: CanonicalDocument
    pii: PiiOutcome
    safety: SafetyAssessment
    classification: Classification

    def refusal(self, *, safety_released: bool = False) -> Refusal | None:
        """Why the document must not be indexed, if it must not: a BLOCK finding rejects
        it (``PII_BLOCKED``); a QUARANTINE verdict holds it (``HIDDEN_TEXT`` or
        ``INJECTION_SUSPECTED``) unless an admin released it from that quarantine (PII
        policy still applies to a released document)."""
        if self.pii.blocked:
            types = sorted({f.entity_type for f in self.pii.findings
                            if f.action.value == "BLOCK"})
            return Refusal(DocStatus.REJECTED, Reason.PII_BLOCKED,
                           f"PII_BLOCKED: policy blocks {', '.join(types)}")
        if self.safety.verdict is Verdict.QUARANTINE and not safety_released:
            reason = (Reason.HIDDEN_TEXT if self.safety.reason == HIDDEN
                      else Reason.INJECTION_SUSPECTED)
            rules = ", ".join(s.rule for s in self.safety.signals[:5])
            said = self.safety.summary or reason.value
            return Refusal(DocStatus.QUARANTINED, reason,
                           f"{said}; safety score {self.safety.score:.2f} ({rules})")
        return None
