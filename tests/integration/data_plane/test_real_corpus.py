"""Every file of the shared real-world corpora (documents no one here wrote: ``corpus/real`` and
docling's test data in ``corpus/docling``) through the worker's parse stage (IsolatedParser
around the router, default 4 GiB memory ceiling): no crash, and never silently empty — a
document either has text or is FAILED with a reason a vendor can act on (encrypted, …)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits
from data_plane.adapters.parsers.routing import ParserRouter
from data_plane.domain.canonical import ParseStatus
from data_plane.domain.ports import ParseRequest

# Seven to ten minutes on two cores, and every file here also goes through the whole data
# plane in tests/e2e/test_real_corpus_e2e.py, which `make test` runs: this parse-only pass
# (per-file ids, the canonical document's invariants) has its own target,
# `make test-corpus-parse`, to keep CI within its budget.
pytestmark = [pytest.mark.slow, pytest.mark.corpus_parse]

CORPUS = Path(__file__).resolve().parents[4] / "shared/corpus"
FILES = sorted(p for d in ("real", "docling") if (CORPUS / d).is_dir()
               for p in (CORPUS / d).iterdir() if p.is_file() and p.name != "README.md")
#: The files that must fail, and the reason the vendor reads; every other file must parse.
MUST_FAIL = {"password.pdf": "ENCRYPTED", "password_protected.xlsx": "ENCRYPTED",
             "2206.01062_pg3.pdf": "ENCRYPTED"}  # docling's "password-protected page"


@pytest.fixture(scope="module")
def parser() -> Iterator[IsolatedParser]:
    p = IsolatedParser(ParserRouter, IsolationLimits(timeout_s=600, max_docs_per_child=8))
    yield p
    p.close()


@pytest.mark.skipif(not FILES, reason="shared corpus not present")
@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_a_real_file_parses_or_fails_with_a_reason(parser: IsolatedParser, path: Path) -> None:
    doc = parser.parse(ParseRequest(
        document_id=f"real-{path.stem}", tenant="acme", path=path, name=path.name,
        mime_type="", sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    if path.name in MUST_FAIL:
        assert doc.status is ParseStatus.FAILED and doc.elements == ()
        assert doc.errors and all(e.message.startswith(MUST_FAIL[path.name])
                                  for e in doc.errors), doc.errors
    else:
        assert doc.status is not ParseStatus.FAILED, [e.message for e in doc.errors]
        assert doc.text_chars > 0, "silently empty"
        assert [e.index for e in doc.elements] == list(range(len(doc.elements)))
        assert any(a.parser == doc.parser and a.status is not ParseStatus.FAILED
                   for a in doc.attempts), doc.attempts
    assert doc.lineage[-1].stage == "parse-isolation"
