"""What the sandbox hands back for one file (SPEC §5.2): everything that reads a file's bytes —
parsers, OCR, hidden-text finders, policy scanners — runs in the isolated parser child, and
the worker only records this result, chunks and embeds.

The result crosses a process boundary (pickled), so it holds plain data only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from data_plane.domain.canonical import CanonicalDocument
from data_plane.domain.policy.outcome import PolicyOutcome
from data_plane.domain.policy.safety import HiddenFragment
from data_plane.domain.ports import ParseRequest

#: An attached e-mail's own attachments are admitted this many e-mails deep (then skipped).
MAX_NESTING = 2


def attachment_path(folder: Path, number: int) -> Path:
    """The file of the ``number``-th (1-based) attachment the sandbox extracted to
    ``folder`` (where the worker picks it up for intake)."""
    return folder / f"{number:03d}"


@dataclass(frozen=True)
class ProcessedDocument:
    """One file, parsed and scanned.

    ``document`` is the parser's canonical document (unredacted). ``outcome`` is the policy
    step's verdict, whose document is the redacted one to store and embed; it is ``None``
    when the parse FAILED (a hostile verdict — a child stopped for time or memory, an
    encrypted file — means nothing is scanned) or when no policy is configured.
    ``hidden`` are the hidden-text fragments found in the raw file; ``seconds`` the time
    spent per stage inside the sandbox (``parse``, ``policy``)."""

    document: CanonicalDocument
    outcome: PolicyOutcome | None = None
    hidden: tuple[HiddenFragment, ...] = ()
    seconds: Mapping[str, float] = field(default_factory=dict)

    def map_documents(self, change: Callable[[CanonicalDocument], CanonicalDocument]
                      ) -> ProcessedDocument:
        """The same result with ``change`` applied alike to the parsed document and, where
        there is one, the redacted document of the outcome (what is stored and embedded)."""
        outcome = self.outcome
        if outcome is not None:
            outcome = dataclasses.replace(outcome, document=change(outcome.document))
        return dataclasses.replace(self, document=change(self.document), outcome=outcome)


class DocumentProcessor(Protocol):
    """Parses and scans one file. Never raises for a bad document: a failure is a FAILED
    document with error items and no outcome."""

    name: str

    def process(self, request: ParseRequest) -> ProcessedDocument: ...


__all__ = ["DocumentProcessor", "ProcessedDocument"]
