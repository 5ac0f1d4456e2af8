"""Every file of the shared real-world corpus (documents no one here wrote) through the worker's
parse stage (IsolatedParser around the router): no crash, and never silently empty — a
document either has text or is FAILED with a reason code (encrypted, unsupported, …)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits
from data_plane.adapters.parsers.routing import ParserRouter
from data_plane.domain.canonical import ParseStatus
from data_plane.domain.ports import ParseRequest

pytestmark = pytest.mark.slow  # about five minutes on two cores

REAL = Path(__file__).resolve().parents[4] / "shared/corpus/real"
FILES = sorted(p for p in REAL.iterdir() if p.is_file()) if REAL.is_dir() else []
REASONS = ("PARSE_FAILED", "NO_TEXT_EXTRACTED", "ENCRYPTED", "UNSUPPORTED_FORMAT")


@pytest.fixture(scope="module")
def parser() -> Iterator[IsolatedParser]:
    p = IsolatedParser(ParserRouter, IsolationLimits(timeout_s=600, memory_mb=6144,
                                                     max_docs_per_child=8))
    yield p
    p.close()


@pytest.mark.skipif(not FILES, reason="shared corpus not present")
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_a_real_file_parses_or_fails_with_a_reason(parser: IsolatedParser, path: Path) -> None:
    doc = parser.parse(ParseRequest(
        document_id=f"real-{path.stem}", tenant="acme", path=path, name=path.name,
        mime_type="", sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    if doc.status is ParseStatus.FAILED:
        assert doc.errors, "FAILED without an error item"
        assert all(e.message.startswith(REASONS) for e in doc.errors), doc.errors
        assert doc.elements == ()
    else:
        assert doc.text_chars > 0, "silently empty"
        assert [e.index for e in doc.elements] == list(range(len(doc.elements)))
    assert doc.lineage[-1].stage == "parse-isolation"
