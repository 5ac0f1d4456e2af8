"""The sandbox's unit of work: parse one file, then scan it — hidden text in the raw bytes and
the tenant's policy (PII, safety, classification) — and hand back one ``ProcessedDocument``
(SPEC §5.2: everything that reads a file's bytes runs in the isolated parser child).

``ParseAndScan`` is built in the child by a picklable factory (``data_plane.wiring``) that
carries the tenant's config, so Presidio and the parser libraries load there, at the child's
warm-up, off any document's clock. A parse that FAILED is not scanned: a hostile verdict
(encrypted, nothing extracted, a parser defect) ends the document's work in the sandbox.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from data_plane.domain.canonical import CanonicalDocument, Element, ElementType, ParseStatus
from data_plane.domain.ports import Parser, ParseRequest
from data_plane.domain.processing import ProcessedDocument
from data_plane.services.policy import PolicyService

COMPONENT = "parse+scan"


class ParseAndScan:
    """A ``DocumentProcessor`` (and, for callers that only parse, a ``Parser``)."""

    name: str = COMPONENT

    def __init__(self, parser: Parser, policy: PolicyService | None = None) -> None:
        self._parser = parser
        self._policy = policy

    def warm_up(self) -> None:
        """Load the parser libraries and the PII recognisers (and spaCy, where NER is on)."""
        warm_up = getattr(self._parser, "warm_up", None)
        if callable(warm_up):
            warm_up()
        if self._policy is not None:
            now = datetime.now(UTC)
            self._policy.apply(CanonicalDocument(
                document_id="warm-up", tenant="warm-up", source_sha256="", source_name="w.txt",
                mime_type="text/plain", parser="warm-up", parser_version="1",
                status=ParseStatus.SUCCESS, elements=(Element(
                    index=0, type=ElementType.PARAGRAPH,
                    text=f"Warm up {now:%Y}: mail a@example.org, call +44 20 7946 0958."),)))

    def process(self, request: ParseRequest) -> ProcessedDocument:
        """Parse ``request``; unless that FAILED, find hidden text and apply the policy."""
        started = time.perf_counter()
        doc = self._parser.parse(request)
        seconds = {"parse": time.perf_counter() - started}
        if doc.status is ParseStatus.FAILED or self._policy is None:
            return ProcessedDocument(document=doc, seconds=seconds)
        started = time.perf_counter()
        hidden = tuple(self._policy.hidden_fragments(request.path, request.mime_type))
        outcome = self._policy.apply(doc, hidden)
        seconds["policy"] = time.perf_counter() - started
        return ProcessedDocument(document=doc, outcome=outcome, hidden=hidden, seconds=seconds)

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        """The parsed document alone (the ``Parser`` port)."""
        return self.process(request).document
