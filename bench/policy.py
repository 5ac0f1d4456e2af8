"""Policy benchmark: speed of PII detection and safety scoring, safety verdicts on real
documents, and detection on the labelled corpora.

    .venv/bin/python bench/policy.py [--parts speed,real,labelled] [--chunks 1000]
        [--words 180] [--repeat 3] [--corpus DIR ...] [--parse-cache DIR]

``speed`` — milliseconds per 1,000 chunks. Chunks are built deterministically from the
labelled corpora in tests/data/policy (PII snippets mixed into benign business text, about
``--words`` words each, as the chunker makes them). Per 1,000 chunks:

- ``pii ours``: our policy step (Presidio with our recogniser set, overlap resolution and
  redaction into a canonical document);
- ``pii bare presidio``: Presidio's ``AnalyzerEngine`` with all its predefined English
  recognisers and the model-free NLP engine, ``analyze`` only, on the same texts;
- ``safety``: the injection patterns, heuristic and hidden-character checks.

Best of ``--repeat`` runs; one warm-up pass first.

``real`` — every file of the real corpora (default ``../shared/corpus/real`` and
``../shared/corpus/docling``): parsed by the product's router in an isolated child (the
worker's limits), hidden text found in the raw file by ``find_hidden``, and the document
judged by ``assess`` under the default tenant thresholds, as the policy step does. Prints
one line per file (verdict, score, signals) and the PASS / FLAG / QUARANTINE counts. None
of these documents is an attack, so every QUARANTINE is a false positive. ``--parse-cache``
keeps the parsed texts (by the file's SHA-256) so that a second run only re-judges.

``labelled`` — the labelled corpora of tests/data/policy (``generate.py`` there), judged as
the unit tests judge them: recall (injection documents not PASS; and QUARANTINE alone),
precision (of FLAG or QUARANTINE over injection + benign documents) and the benign
documents flagged or quarantined.

Nothing here reaches the network.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mimetypes
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from data_plane.adapters.pii_presidio import PresidioPiiDetector  # noqa: E402
from data_plane.adapters.safety_hidden import find_hidden, html_hidden  # noqa: E402
from data_plane.domain.canonical import (  # noqa: E402
    CanonicalDocument,
    Element,
    ElementType,
    ParseStatus,
)
from data_plane.domain.policy.pii import PiiPolicy, apply_pii_policy  # noqa: E402
from data_plane.domain.policy.safety import SafetyAssessment, Verdict, assess  # noqa: E402
from data_plane.services.policy import DEFAULT_ENTITY_THRESHOLDS  # noqa: E402
from frostbyte_common.tenant_config import SafetyConfig  # noqa: E402

DATA = ROOT / "tests" / "data" / "policy"
CORPORA = (ROOT.parent / "shared" / "corpus" / "real",
           ROOT.parent / "shared" / "corpus" / "docling")
DEFAULTS = SafetyConfig()


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


def speed(args: argparse.Namespace) -> None:
    chunks = make_chunks(args.chunks, args.words)
    rows = [
        ("pii ours (detect + resolve + redact)", ms_per_thousand(ours(), chunks, args.repeat)),
        ("pii bare presidio (analyze only)",
         ms_per_thousand(bare_presidio(), chunks, args.repeat)),
        ("safety (patterns + heuristic + hidden chars)",
         ms_per_thousand(safety, chunks, args.repeat)),
    ]
    words = sum(len(c.split()) for c in chunks) / len(chunks)
    print(f"== speed: {len(chunks)} chunks, {words:.0f} words each on average, "
          f"best of {args.repeat}")
    for name, ms in rows:
        print(f"{name:48s} {ms:10.1f} ms per 1,000 chunks ({ms / 1000:.2f} ms/chunk)")


# -- real documents -------------------------------------------------------------------------


def _parse_texts(path: Path, digest: str, parser: Any) -> dict[str, Any]:
    """The texts the policy step judges (title, then every element) and the parse status."""
    from data_plane.domain.ports import ParseRequest

    doc = parser.parse(ParseRequest(document_id=digest[:16], tenant="bench", path=path,
                                    name=path.name, mime_type=_mime(path), sha256=digest))
    return {"status": doc.status.value, "parser": doc.parser,
            "texts": [[None, doc.title or ""]] + [[e.index, e.text] for e in doc.elements]}


def _mime(path: Path) -> str:
    from data_plane.adapters.parsers.formats import mime_type_of

    return mime_type_of(path.name) or mimetypes.guess_type(path.name)[0] or ""


def _describe(a: SafetyAssessment) -> str:
    return ", ".join(f"{s.rule}={s.score:.2f}" for s in a.signals[:6]) or "-"


def real(args: argparse.Namespace) -> None:
    from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits
    from data_plane.adapters.parsers.routing import ParserRouter

    files = sorted(p for d in args.corpus for p in Path(d).iterdir()
                   if p.is_file() and p.name != "README.md")
    cache = Path(args.parse_cache) if args.parse_cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    parser: IsolatedParser | None = None
    counts: Counter[str] = Counter()
    print(f"== real documents: {len(files)} files, flag_at={DEFAULTS.flag_at}, "
          f"quarantine_at={DEFAULTS.quarantine_at}")
    print(f"{'file':38s} {'parse':8s} {'hidden':>6s} {'s':>5s}  verdict    score  reason; "
          "signals")
    try:
        for path in files:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            cached = cache / f"{digest}.json" if cache else None
            if cached and cached.exists():
                parsed = json.loads(cached.read_text())
            else:
                if parser is None:
                    parser = IsolatedParser(ParserRouter, IsolationLimits(timeout_s=600))
                parsed = _parse_texts(path, digest, parser)
                if cached:
                    cached.write_text(json.dumps(parsed))
            started = time.perf_counter()
            hidden = find_hidden(path, _mime(path))
            verdict = assess([(i, t) for i, t in parsed["texts"]], hidden,
                             flag_at=DEFAULTS.flag_at, quarantine_at=DEFAULTS.quarantine_at)
            seconds = time.perf_counter() - started
            counts[verdict.verdict.value] += 1
            print(f"{path.name[:38]:38s} {parsed['status'][:8]:8s} {len(hidden):6d} "
                  f"{seconds:5.1f}  {verdict.verdict.value:10s} {verdict.score:.2f}  "
                  f"{verdict.summary or '-'}; {_describe(verdict)}")
    finally:
        if parser is not None:
            parser.close()
    print("counts: " + ", ".join(f"{v.value} {counts[v.value]}" for v in Verdict)
          + f" (of {len(files)}; every QUARANTINE here is a false positive)")


# -- labelled corpora -----------------------------------------------------------------------


def _labelled_verdict(row: dict[str, Any]) -> Verdict:
    """As tests/unit/data_plane/test_policy_corpora.py judges a row."""
    text, hidden = row["text"], []
    if row["format"] == "html":
        hidden = html_hidden(text.encode())
        text = re.sub(r"<!--.*?-->|<[^>]+>", " ", text, flags=re.S)
    return assess([(0, text)], hidden, flag_at=DEFAULTS.flag_at,
                  quarantine_at=DEFAULTS.quarantine_at).verdict


def labelled(_: argparse.Namespace) -> None:
    def load(name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]

    attacks, benign = load("injection.jsonl"), load("benign.jsonl")
    got = [(r, _labelled_verdict(r)) for r in attacks]
    caught = [r for r, v in got if v is not Verdict.PASS]
    held = [r for r, v in got if v is Verdict.QUARANTINE]
    benign_verdicts = [(r, _labelled_verdict(r)) for r in benign]
    false = [r for r, v in benign_verdicts if v is not Verdict.PASS]
    false_held = [r for r, v in benign_verdicts if v is Verdict.QUARANTINE]
    print(f"== labelled corpora: {len(attacks)} injection/hidden-text, {len(benign)} benign")
    print(f"recall (not PASS)       {len(caught) / len(attacks):.3f} "
          f"({len(caught)}/{len(attacks)})")
    print(f"recall (QUARANTINE)     {len(held) / len(attacks):.3f} ({len(held)}/{len(attacks)})")
    print(f"precision (not PASS)    {len(caught) / max(1, len(caught) + len(false)):.3f} "
          f"({len(false)} of {len(benign)} benign flagged or quarantined, "
          f"{len(false_held)} of them quarantined)")
    by_kind: Counter[str] = Counter(r["kind"] for r in attacks)
    caught_kind: Counter[str] = Counter(r["kind"] for r in caught)
    held_kind: Counter[str] = Counter(r["kind"] for r in held)
    for kind in sorted(by_kind):
        print(f"  {kind:12s} caught {caught_kind[kind]}/{by_kind[kind]}, "
              f"quarantined {held_kind[kind]}/{by_kind[kind]}")
    missed = [r["id"] for r, v in got if v is Verdict.PASS]
    if missed:
        print("missed: " + " ".join(missed))
    if false:
        print("benign not PASS: " + " ".join(r["id"] for r in false))


PARTS: dict[str, Callable[[argparse.Namespace], None]] = {
    "speed": speed, "real": real, "labelled": labelled}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--parts", default="speed,real,labelled",
                    help="comma-separated: " + ", ".join(PARTS))
    ap.add_argument("--chunks", type=int, default=1000)
    ap.add_argument("--words", type=int, default=180)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--corpus", nargs="+", default=[str(d) for d in CORPORA])
    ap.add_argument("--parse-cache", default=None,
                    help="folder keeping parsed texts by SHA-256 (reruns skip parsing)")
    args = ap.parse_args(argv)
    for part in args.parts.split(","):
        PARTS[part.strip()](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
