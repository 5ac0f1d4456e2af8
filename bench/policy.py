"""Policy benchmark: milliseconds per 1,000 chunks for PII detection and for safety scoring.

    .venv/bin/python bench/policy.py [--chunks 1000] [--words 180] [--repeat 3]

Chunks are built deterministically from the labelled corpora in tests/data/policy (PII
snippets mixed into benign business text, about ``--words`` words each, as the chunker
makes them). It prints, per 1,000 chunks:

- ``pii ours``: our policy step (Presidio with our recogniser set, overlap resolution and
  redaction into a canonical document);
- ``pii bare presidio``: Presidio's ``AnalyzerEngine`` with all its predefined English
  recognisers and the model-free NLP engine, ``analyze`` only, on the same texts;
- ``safety``: the injection patterns, heuristic and hidden-character checks.

Best of ``--repeat`` runs; one warm-up pass first. Nothing here reaches the network.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from data_plane.adapters.pii_presidio import PresidioPiiDetector  # noqa: E402
from data_plane.domain.canonical import (  # noqa: E402
    CanonicalDocument,
    Element,
    ElementType,
    ParseStatus,
)
from data_plane.domain.policy.pii import PiiPolicy, apply_pii_policy  # noqa: E402
from data_plane.domain.policy.safety import assess  # noqa: E402
from data_plane.services.policy import DEFAULT_ENTITY_THRESHOLDS  # noqa: E402

DATA = ROOT / "tests" / "data" / "policy"


def _texts(name: str) -> list[str]:
    return [json.loads(line)["text"] for line in (DATA / name).read_text().splitlines()]


def make_chunks(n: int, words: int) -> list[str]:
    rng = random.Random(7)
    pii, benign = _texts("pii.jsonl"), _texts("benign.jsonl")
    chunks = []
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < words:
            parts.append(rng.choice(pii) if rng.random() < 0.3 else rng.choice(benign))
        chunks.append(" ".join(parts))
    return chunks


def bare_presidio() -> Callable[[str], object]:
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    # Presidio's e-mail recogniser calls tldextract, which downloads the public suffix
    # list on first use; the bundled snapshot keeps this benchmark offline.
    offline = tldextract.TLDExtract(suffix_list_urls=())
    tldextract.extract = offline  # type: ignore[assignment]
    import presidio_analyzer.predefined_recognizers.generic.email_recognizer as email_mod

    email_mod.tldextract.extract = offline  # type: ignore[attr-defined]
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    nlp.load()
    engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    return lambda text: engine.analyze(text=text, language="en")


def ours() -> Callable[[str], object]:
    detector = PresidioPiiDetector()
    policy = PiiPolicy(entity_thresholds=DEFAULT_ENTITY_THRESHOLDS)

    def run(text: str) -> object:
        doc = CanonicalDocument(
            document_id="b", tenant="b", source_sha256="0" * 64, source_name="b.txt",
            mime_type="text/plain", parser="bench", parser_version="1",
            status=ParseStatus.SUCCESS,
            elements=(Element(index=0, type=ElementType.PARAGRAPH, text=text),))
        return apply_pii_policy(doc, detector, policy)

    return run


def safety(text: str) -> object:
    return assess([(0, text)], [], flag_at=0.5, quarantine_at=0.8)


def ms_per_thousand(fn: Callable[[str], object], chunks: Sequence[str], repeat: int) -> float:
    for text in chunks[: min(50, len(chunks))]:
        fn(text)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for text in chunks:
            fn(text)
        best = min(best, time.perf_counter() - started)
    return best * 1000 * 1000 / len(chunks)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=1000)
    ap.add_argument("--words", type=int, default=180)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    chunks = make_chunks(args.chunks, args.words)
    rows = [
        ("pii ours (detect + resolve + redact)", ms_per_thousand(ours(), chunks, args.repeat)),
        ("pii bare presidio (analyze only)",
         ms_per_thousand(bare_presidio(), chunks, args.repeat)),
        ("safety (patterns + heuristic + hidden chars)",
         ms_per_thousand(safety, chunks, args.repeat)),
    ]
    words = sum(len(c.split()) for c in chunks) / len(chunks)
    print(f"{len(chunks)} chunks, {words:.0f} words each on average, best of {args.repeat}")
    for name, ms in rows:
        print(f"{name:48s} {ms:10.1f} ms per 1,000 chunks ({ms / 1000:.2f} ms/chunk)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
