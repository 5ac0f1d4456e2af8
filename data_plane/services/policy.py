"""The policy step between parse and chunk: PII actions, document safety and
classification, configured per tenant. Nothing leaves this step unredacted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from data_plane.domain.canonical import CanonicalDocument, LineageStep
from data_plane.domain.policy.classification import (
    ClassificationRule,
    DocType,
    DocumentClassifier,
    Sensitivity,
    classify,
)
from data_plane.domain.policy.outcome import PolicyOutcome
from data_plane.domain.policy.pii import PiiDetector, PiiPolicy, apply_pii_policy
from data_plane.domain.policy.safety import (
    HiddenFragment,
    InjectionClassifier,
    assess,
    model_signals,
)
from frostbyte_common.tenant_config import TenantConfig

HiddenTextFinder = Callable[[Path, str], list[HiddenFragment]]

# Phone numbers score 0.4 in Presidio without context words; 0.4 keeps them while the
# IP recogniser (0.6) wins the overlap where a dotted number is both.
DEFAULT_ENTITY_THRESHOLDS = {"PHONE_NUMBER": 0.4}


class PolicyService:
    """Applies one tenant's policy to a parsed document."""

    def __init__(self, *, detector: PiiDetector, pii: PiiPolicy, flag_at: float,
                 quarantine_at: float, rules: Sequence[ClassificationRule] = (),
                 hidden_text: HiddenTextFinder | None = None,
                 classifier: DocumentClassifier | None = None,
                 safety_model: InjectionClassifier | None = None) -> None:
        self._detector = detector
        self._pii = pii
        self._flag_at = flag_at
        self._quarantine_at = quarantine_at
        self._rules = tuple(rules)
        self._hidden_text = hidden_text
        self._classifier = classifier
        self._safety_model = safety_model

    @classmethod
    def from_config(cls, config: TenantConfig, detector: PiiDetector, *,
                    hidden_text: HiddenTextFinder | None = None,
                    classifier: DocumentClassifier | None = None,
                    safety_model: InjectionClassifier | None = None) -> PolicyService:
        pii = PiiPolicy.from_config(
            config.pii.actions, config.pii.score_threshold,
            DEFAULT_ENTITY_THRESHOLDS | dict(config.pii.entity_thresholds))
        rules = [ClassificationRule(
            r.pattern, DocType(r.doc_type) if r.doc_type else None,
            Sensitivity(r.sensitivity) if r.sensitivity else None)
            for r in config.classification.rules]
        return cls(detector=detector, pii=pii, flag_at=config.safety.flag_at,
                   quarantine_at=config.safety.quarantine_at, rules=rules,
                   hidden_text=hidden_text if config.safety.scan_hidden_text else None,
                   classifier=classifier, safety_model=safety_model)

    def hidden_fragments(self, source: Path, mime_type: str) -> list[HiddenFragment]:
        """Hidden text in the raw file (read while the raw file is at hand)."""
        return self._hidden_text(source, mime_type) if self._hidden_text else []

    def apply(self, doc: CanonicalDocument,
              hidden: Sequence[HiddenFragment] = ()) -> PolicyOutcome:
        """Judge and redact ``doc``; the outcome's document is the one to store and embed."""
        started = datetime.now(UTC)
        texts: list[tuple[int | None, str]] = [(None, doc.title or "")]
        texts += [(e.index, e.text) for e in doc.elements]
        extra = model_signals(texts, self._safety_model) if self._safety_model else []
        safety = assess(texts, hidden, flag_at=self._flag_at,
                        quarantine_at=self._quarantine_at, extra=extra)
        pii = apply_pii_policy(doc, self._detector, self._pii)
        per_type: dict[str, int] = {}
        for f in pii.findings:
            per_type[f.entity_type] = per_type.get(f.entity_type, 0) + 1
        classification = classify(doc, pii_counts=per_type, rules=self._rules,
                                  model=self._classifier)
        step = LineageStep(
            stage="policy", component="frostbyte-policy", version="1", started_at=started,
            finished_at=datetime.now(UTC),
            details={"pii": pii.counts(), "safety": safety.verdict.value,
                     "safety_score": safety.score, "safety_summary": safety.summary,
                     "doc_type": classification.doc_type.value,
                     "sensitivity": classification.sensitivity.value})
        redacted = pii.document.model_copy(update={"lineage": (*pii.document.lineage, step)})
        return PolicyOutcome(document=redacted, pii=pii, safety=safety,
                             classification=classification)
