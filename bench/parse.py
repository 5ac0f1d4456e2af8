"""Parse-stage benchmark: Frostbyte's parse stage against the bare parser on the same files.

Ours is what the worker runs: ``IsolatedParser(ParserRouter, limits)`` — a spawned child per
worker with a timeout, a memory watchdog and recycling after N documents. Bare is
``ParserRouter().parse(...)`` in this process. Both parse the same files in one run,
interleaved file by file (so that load from neighbours on a shared machine hits both alike),
after an untimed warm-up of one file per format for each (library imports, the child's start).

Prints per format: documents, pages (PDF/image pages, slides; a document without pages counts
as one), seconds and pages/s for ours and bare, and the ratio ours/bare of pages/s (1.0 = no
overhead; the goal is ≥ 0.9), then what recycling adds: a new parser process's start and
warm-up, amortised over the documents it serves (included above whenever a run crosses a
recycle: ``children started`` > 1). Usage::

    .venv/bin/python bench/parse.py                      # samples/, 3 rounds
    .venv/bin/python bench/parse.py --dir ../shared/corpus/real --rounds 1
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from data_plane.adapters.parsers.formats import detect_format  # noqa: E402
from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits  # noqa: E402
from data_plane.adapters.parsers.routing import ParserRouter  # noqa: E402
from data_plane.domain.canonical import CanonicalDocument, ParseStatus  # noqa: E402
from data_plane.domain.ports import Parser, ParseRequest  # noqa: E402
from frostbyte_common.offline import silence_egress  # noqa: E402


@dataclass
class Tally:
    documents: int = 0
    pages: int = 0
    failed: int = 0
    ours_s: float = 0.0
    bare_s: float = 0.0


def request_for(path: Path) -> ParseRequest:
    return ParseRequest(document_id=f"bench-{path.stem}", tenant="bench", path=path,
                        name=path.name, mime_type="",
                        sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def timed(parser: Parser, request: ParseRequest) -> tuple[CanonicalDocument, float]:
    started = time.perf_counter()
    doc = parser.parse(request)
    return doc, time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=ROOT / "samples")
    ap.add_argument("--rounds", type=int, default=3, help="timed passes over the files")
    ap.add_argument("--timeout-s", type=float, default=300.0)
    ap.add_argument("--memory-mb", type=int, default=4096)
    ap.add_argument("--max-docs-per-child", type=int, default=100)
    args = ap.parse_args()
    silence_egress()

    files = sorted(p for p in args.dir.iterdir() if p.is_file() and p.name != "README.md")
    requests = [request_for(p) for p in files]
    bare = ParserRouter()
    ours = IsolatedParser(ParserRouter, IsolationLimits(
        timeout_s=args.timeout_s, memory_mb=args.memory_mb,
        max_docs_per_child=args.max_docs_per_child))
    try:
        warmed: set[str] = set()
        for req in requests:  # one file per format, untimed, for each side
            fmt = detect_format(req.name, req.mime_type).value
            if fmt not in warmed:
                warmed.add(fmt)
                bare.parse(req)
                ours.parse(req)
        tallies: dict[str, Tally] = defaultdict(Tally)
        for _ in range(args.rounds):
            for req in requests:
                t = tallies[detect_format(req.name, req.mime_type).value]
                doc_bare, s_bare = timed(bare, req)
                doc_ours, s_ours = timed(ours, req)
                t.documents += 1
                t.pages += doc_ours.page_count or 1
                t.failed += doc_ours.status is ParseStatus.FAILED
                t.bare_s += s_bare
                t.ours_s += s_ours
                if doc_ours.status != doc_bare.status:
                    print(f"note: {req.name}: ours {doc_ours.status.value}, "
                          f"bare {doc_bare.status.value}", file=sys.stderr)
    finally:
        ours.close()

    print(f"{len(files)} files from {args.dir}, {args.rounds} round(s); "
          f"ours = IsolatedParser(ParserRouter), max {args.max_docs_per_child} docs per child "
          f"({ours.children_started} children started)")
    head = (f"{'format':8} {'docs':>5} {'pages':>6} {'failed':>6} {'ours s':>8} {'bare s':>8} "
            f"{'ours p/s':>9} {'bare p/s':>9} {'ours/bare':>9}")
    print(head)
    print("-" * len(head))
    total = Tally()
    for fmt in sorted(tallies):
        t = tallies[fmt]
        _row(fmt, t)
        total.documents += t.documents
        total.pages += t.pages
        total.failed += t.failed
        total.ours_s += t.ours_s
        total.bare_s += t.bare_s
    print("-" * len(head))
    _row("all", total)
    print(f"A parser process starts and warms up (library imports) in "
          f"{ours.last_start_seconds:.1f} s; recycled every {args.max_docs_per_child} "
          f"documents (or above {int(ours.limits.recycle_fraction * 100)} % of the memory "
          f"ceiling) its replacement warms up in the background, at most "
          f"{ours.last_start_seconds / args.max_docs_per_child * 1000:.0f} ms per document "
          "when nothing else overlaps it.")
    return 0


def _row(fmt: str, t: Tally) -> None:
    ours_ps = t.pages / t.ours_s if t.ours_s else 0.0
    bare_ps = t.pages / t.bare_s if t.bare_s else 0.0
    ratio = ours_ps / bare_ps if bare_ps else 0.0
    print(f"{fmt:8} {t.documents:>5} {t.pages:>6} {t.failed:>6} {t.ours_s:>8.2f} "
          f"{t.bare_s:>8.2f} {ours_ps:>9.2f} {bare_ps:>9.2f} {ratio:>9.2f}")


if __name__ == "__main__":
    sys.exit(main())
