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
    .venv/bin/python bench/parse.py --large              # = make bench-parse-large

``--large`` measures one large PDF (default ``../shared/corpus/real/DA-619p.pdf``) instead:
our parse stage (``IsolatedParser(ParserRouter)``, default limits) against docling's native
text backend (``NativePdfPipeline``, model-free) and unstructured ``fast``, each in a fresh
process; then our parser child's peak RSS for the first 10 and 100 pages, the whole file (page
subsets written with pypdf) and a generated 3,000-page PDF (reportlab: text with headings and
bookmarks) — a parse whose memory does not grow with the page count stays within 1 GiB of the
idle child. Pages/s is wall-clock; CPU s is the CPU time the parsing process(es) used, which
does not depend on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from data_plane.adapters.parsers.formats import detect_format  # noqa: E402
from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits  # noqa: E402
from data_plane.adapters.parsers.routing import ParserRouter  # noqa: E402
from data_plane.domain.canonical import (  # noqa: E402
    CanonicalDocument,
    ElementType,
    ParseStatus,
)
from data_plane.domain.ports import Parser, ParseRequest  # noqa: E402
from frostbyte_common.offline import silence_egress  # noqa: E402
from tests.pathological_pdf import text_pages_pdf  # noqa: E402


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
    ap.add_argument("--large", action="store_true",
                    help="one large PDF: ours vs docling native and unstructured fast, and "
                    "our parser child's peak RSS by page count")
    ap.add_argument("--large-file", type=Path, default=LARGE_PDF)
    ap.add_argument("--generated-pages", type=int, default=3000)
    ap.add_argument("--peers", default="reader,docling,unstructured",
                    help="peers for --large, comma-separated ('' for none)")
    ap.add_argument("--peer", choices=sorted(PEERS), help=argparse.SUPPRESS)  # internal
    ap.add_argument("file", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    silence_egress()
    if args.peer:
        return run_peer(args.peer, args.file)
    if args.large:
        return large(args)

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


# --- --large: one large PDF, peers and memory by page count --------------------------------

LARGE_PDF = ROOT.parent / "shared/corpus/real/DA-619p.pdf"
WARM_UP_PDF = ROOT / "samples/annual-safety-report.pdf"
MiB = 1024 * 1024
SUBSETS = (10, 100)


def large(args: argparse.Namespace) -> int:
    path: Path = args.large_file
    if not path.is_file():
        print(f"{path} not found (the shared corpus); pass --large-file", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        files: list[tuple[str, Path]] = []
        for n in SUBSETS:
            files.append((f"first {n} pages", first_pages(path, n, Path(tmp) / f"first-{n}.pdf")))
        files.append((path.name, path))
        started = time.perf_counter()
        generated = text_pages_pdf(Path(tmp) / "generated.pdf", args.generated_pages)
        print(f"(generated {args.generated_pages} pages with reportlab in "
              f"{time.perf_counter() - started:.0f} s)", file=sys.stderr)
        files.append((f"generated {args.generated_pages} pages", generated))

        print("ours = IsolatedParser(ParserRouter), default limits; one parser child, RSS "
              "before each file (idle) and its peak while parsing it")
        head = (f"{'file':26} {'pages':>6} {'status':>8} {'s':>7} {'pages/s':>8} {'CPU s':>7} "
                f"{'head':>5} {'tables':>6} {'idle MiB':>9} {'peak MiB':>9} {'peak-idle':>9}")
        print(head)
        print("-" * len(head))
        ours = IsolatedParser(ParserRouter, IsolationLimits())
        try:
            rows = [ours_on(ours, label, f) for label, f in files]
        finally:
            ours.close()
        print("-" * len(head))
        growth = max(r["peak_mb"] for r in rows) - min(r["idle_mb"] for r in rows)
        print(f"peak above the idle child: at most {growth:.0f} MiB over "
              f"{min(r['pages'] for r in rows)}–{max(r['pages'] for r in rows)} pages "
              f"({'flat: within 1 GiB' if growth <= 1024 else 'NOT flat: above 1 GiB'})")

        peers = [p for p in args.peers.split(",") if p]
        if peers:
            ours_row = next(r for r in rows if r["label"] == path.name)
            print()
            print(f"{path.name}: the same file through each parser, each in a fresh process")
            head = (f"{'parser':34} {'pages':>6} {'s':>7} {'pages/s':>8} {'CPU s':>7} "
                    f"{'CPU p/s':>8} {'peak MiB':>9} {'items':>7} {'head':>5} {'tables':>6}")
            print(head)
            print("-" * len(head))
            _peer_row("frostbyte (isolated child)", ours_row)
            for name in peers:
                _peer_row(PEERS[name], peer_in_fresh_process(name, path))
            print("(frostbyte (isolated child): the worker's whole parse stage — our reader, "
                  "then OCR of the pages without a text layer — and the child's peak RSS "
                  "includes every parser library it imports; the others: that parser alone, "
                  "its process's peak RSS)")
    return 0


def first_pages(source: Path, n: int, out: Path) -> Path:
    """The first ``n`` pages of ``source`` (with the bookmarks into them), via pypdf."""
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(source)
    writer = PdfWriter()
    writer.append(reader, pages=(0, min(n, len(reader.pages))))
    with out.open("wb") as fh:
        writer.write(fh)
    return out


def ours_on(ours: IsolatedParser, label: str, path: Path) -> dict[str, Any]:
    """Parse ``path`` in ``ours``'s parser child; the child's RSS before and its peak during
    the parse (the kernel's high-water mark, reset first; else the watchdog's samples)."""
    import psutil

    warm = ours.parse(request_for(WARM_UP_PDF))  # the child is up, and the same one is used
    pid = int(warm.lineage[-1].details["worker_pid"])
    child = psutil.Process(pid)
    idle = child.memory_info().rss
    reset = _reset_peak(pid)
    cpu = child.cpu_times()
    doc, seconds = timed(ours, request_for(path))
    cpu_after = child.cpu_times()
    if int(doc.lineage[-1].details.get("worker_pid", 0)) != pid:
        print(f"note: {label} ran in another child than the one measured", file=sys.stderr)
    watchdog_peak = int(doc.lineage[-1].details.get("peak_rss_mb", 0)) * MiB
    peak = max(_peak_rss(pid) if reset else 0, watchdog_peak)
    cpu_s = (cpu_after.user + cpu_after.system) - (cpu.user + cpu.system)
    row = {"label": label, "pages": doc.page_count or 0, "status": doc.status.value,
           "seconds": seconds, "cpu_s": cpu_s, "idle_mb": idle / MiB, "peak_mb": peak / MiB,
           **_structure_counts(doc)}
    print(f"{label:26} {row['pages']:>6} {row['status'][:8]:>8} {seconds:>7.1f} "
          f"{row['pages'] / seconds:>8.1f} {cpu_s:>7.1f} {row['headings']:>5} "
          f"{row['tables']:>6} {row['idle_mb']:>9.0f} {row['peak_mb']:>9.0f} "
          f"{row['peak_mb'] - row['idle_mb']:>9.0f}", flush=True)
    return row


def _reset_peak(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark of ``pid`` (``VmHWM``), so that the next reading is
    the peak of the next document alone, not of the child's start-up."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _structure_counts(doc: CanonicalDocument) -> dict[str, int]:
    kinds = Counter(e.type for e in doc.elements)
    return {"items": len(doc.elements),
            "headings": kinds[ElementType.HEADING] + kinds[ElementType.TITLE],
            "tables": kinds[ElementType.TABLE]}


PEERS = {
    "reader": "frostbyte PDF reader alone (no OCR)",
    "docling": "docling native (NativePdfPipeline)",
    "unstructured": "unstructured fast (partition_pdf)",
}


def peer_in_fresh_process(name: str, path: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--peer", name, str(path)],
                         capture_output=True, text=True, check=False)
    try:
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        print(f"{name} failed: {out.stderr.strip()[-800:]}", file=sys.stderr)
        return {"pages": 0, "seconds": 0.0, "cpu_s": 0.0, "peak_mb": 0.0, "items": 0,
                "headings": 0, "tables": 0}


def run_peer(name: str, path: Path) -> int:
    """In this (fresh) process: load the peer, warm it up on a small PDF, then time it on
    ``path``; print one JSON line."""
    convert = {"reader": _reader, "docling": _docling, "unstructured": _unstructured}[name]
    convert(WARM_UP_PDF)  # imports and pipeline set-up, off the clock
    cpu = time.process_time()
    started = time.perf_counter()
    pages, counts = convert(path)
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"pages": pages, "seconds": seconds, "cpu_s": cpu_s, "peak_mb": peak_mb,
                      **counts}))
    return 0


def _reader(path: Path) -> tuple[int, dict[str, int]]:
    from data_plane.adapters.parsers.pdfplumber_parser import PdfPlumberParser

    doc = PdfPlumberParser().parse(request_for(path))
    return doc.page_count or 0, _structure_counts(doc)


def _docling(path: Path) -> tuple[int, dict[str, int]]:
    from docling.datamodel.base_models import InputFormat
    from docling.datamodel.pipeline_options import NativePdfPipelineOptions
    from docling.document_converter import DocumentConverter, NativePdfFormatOption
    from docling_core.types.doc import DocItemLabel, TableItem

    # Text only, like ours: its defaults also render every page and decode every bitmap.
    options = NativePdfPipelineOptions(generate_page_images=False,
                                       generate_picture_images=False)
    converter = DocumentConverter(format_options={InputFormat.PDF: NativePdfFormatOption(
        pipeline_options=options)})
    doc = converter.convert(path).document
    items = [item for item, _ in doc.iterate_items()]
    heads = sum(getattr(i, "label", None) in (DocItemLabel.TITLE, DocItemLabel.SECTION_HEADER)
                for i in items)
    return doc.num_pages(), {"items": len(items), "headings": heads,
                             "tables": sum(isinstance(i, TableItem) for i in items)}


def _unstructured(path: Path) -> tuple[int, dict[str, int]]:
    from data_plane.adapters.parsers.unstructured_parser import configure_unstructured_offline

    configure_unstructured_offline()
    from unstructured.partition.pdf import partition_pdf

    elements = partition_pdf(filename=str(path), strategy="fast")
    pages = max((e.metadata.page_number or 0 for e in elements), default=0)
    kinds = Counter(e.category for e in elements)
    return pages, {"items": len(elements), "headings": kinds["Title"], "tables": kinds["Table"]}


def _peer_row(label: str, r: dict[str, Any]) -> None:
    seconds, cpu_s = r["seconds"], r["cpu_s"]
    print(f"{label:34} {r['pages']:>6} {seconds:>7.1f} "
          f"{(r['pages'] / seconds if seconds else 0):>8.1f} {cpu_s:>7.1f} "
          f"{(r['pages'] / cpu_s if cpu_s else 0):>8.1f} {r['peak_mb']:>9.0f} "
          f"{r['items']:>7} {r['headings']:>5} {r['tables']:>6}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
