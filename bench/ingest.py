"""Ingest benchmark through a running stack (see bench/README.md).

Sends the samples (or ``--dir``) to tenant ``bench`` as fresh bytes, waits until every
document is finished, and prints throughput, per-stage seconds where the API exposes them, and
the overhead of the pipeline over bare parse + embed of the same documents in this process.
Reads the same settings as the CLI: FROSTBYTE_URL / FROSTBYTE_ADMIN_TOKEN, else the local
stack's state (.local/admin_token, http://127.0.0.1:8000).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from frostbyte_cli.client import (  # noqa: E402
    Batch,
    CliError,
    ControlPlaneClient,
    TenantClient,
    file_digest,
)
from frostbyte_cli.targets import control_plane_target, project_root  # noqa: E402
from frostbyte_common import tls  # noqa: E402

MAX_FILES_PER_BATCH = 500
_ZIP_FORMATS = {".docx", ".pptx", ".xlsx", ".odt", ".ods", ".odp", ".epub"}
# OLE2 compound files are read in 512-byte sectors: a marker padded to a whole sector after the
# last one is ignored, a bare trailer makes antiword refuse the file ("not a Word Document").
_OLE2_FORMATS = {".doc", ".msg", ".xls", ".ppt"}
# How a marker is added without changing what a parser sees (CSV has no comments: the marker
# becomes one extra row with as many columns as the header, negligible for throughput).
_TRAILERS = {".md": "\n<!-- {} -->\n", ".html": "\n<!-- {} -->\n", ".htm": "\n<!-- {} -->\n",
             ".pdf": "\n%{}\n", ".csv": "# {}\n"}

console = Console(highlight=False)


# -- preparing distinct copies ---------------------------------------------------------------


def _marked(data: bytes, suffix: str, mark: str) -> bytes:
    """``data`` with ``mark`` added where the format ignores it (comment, ZIP comment,
    bytes after the end marker), so that every copy has its own sha256."""
    if suffix in _ZIP_FORMATS:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
            for item in src.infolist():
                dst.writestr(item, src.read(item.filename))
            dst.comment = mark.encode("ascii")
        return out.getvalue()
    if suffix in _OLE2_FORMATS and len(data) % 512 == 0:
        return data + mark.encode("ascii").ljust(512, b"\0")
    if data and not data.endswith(b"\n"):
        data += b"\n"
    if suffix == ".csv":
        columns = data.split(b"\n", 1)[0].count(b",") + 1
        return data + (f"# {mark}" + "," * (columns - 1) + "\n").encode("ascii")
    return data + _TRAILERS.get(suffix, "{}\n").format(mark).encode("ascii")


def prepare(sources: list[Path], copies: int, as_is: bool, workdir: Path) -> list[Path]:
    """The files to send: ``copies`` marked copies of each source (distinct names and
    bytes, unique to this run), or the sources themselves with ``as_is``."""
    if as_is:
        return sources
    run = uuid.uuid4().hex[:10]
    out: list[Path] = []
    for k in range(copies):
        for src in sources:
            mark = f"frostbyte-bench {run} copy {k}"
            target = workdir / f"{src.stem}--{run}-{k}{src.suffix}"
            target.write_bytes(_marked(src.read_bytes(), src.suffix.lower(), mark))
            out.append(target)
    return out


def sources_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.name != "README.md" and not p.name.startswith("."))


# -- the pipeline run ------------------------------------------------------------------------


@dataclass
class PipelineRun:
    seconds: float
    upload_seconds: float
    batches: list[Batch]
    reports: list[dict[str, Any]]

    def rows(self) -> list[dict[str, Any]]:
        return [row for r in self.reports for row in r.get("documents", [])]

    def total(self, key: str) -> int:
        return sum(int(r.get("counts", {}).get(key) or 0) for r in self.reports)


def tenant_client(args: argparse.Namespace) -> TenantClient:
    target = control_plane_target(args.url, args.admin_token, root=project_root(ROOT))
    with ControlPlaneClient(target.url, target.admin_token) as cp:
        try:
            tenant = cp.get_tenant(args.tenant)
        except CliError as exc:
            if exc.code != "TENANT_NOT_FOUND":
                raise
            console.print(f"creating tenant {args.tenant}…")
            tenant = cp.create_tenant(args.tenant, "Ingest benchmark", "local")
        tenant = cp.wait_for_state(args.tenant, {"ACTIVE"}, timeout=900)
        key = cp.create_vendor_key(args.tenant, ["ingest", "read"], label="bench/ingest.py")
        ca_pem = cp.ca_certificate()
    assert tenant["endpoint"], "an ACTIVE tenant has an endpoint"
    client = TenantClient(tenant["endpoint"], key["key"], verify=tls.client_context(ca_pem))
    client.wait_until_ready(timeout=600)
    return client


def run_pipeline(client: TenantClient, files: list[Path], timeout: float) -> PipelineRun:
    started = time.perf_counter()
    receipts = []
    for i in range(0, len(files), MAX_FILES_PER_BATCH):
        receipts.append(client.submit_batch(files[i:i + MAX_FILES_PER_BATCH],
                                            f"bench-{uuid.uuid4().hex[:8]}"))
    uploaded = time.perf_counter()
    batches = [client.wait_for_batch(r["batch_id"], timeout, poll_interval=0.25)
               for r in receipts]
    seconds = time.perf_counter() - started
    reports = [client.report(b["batch_id"]) for b in batches]
    return PipelineRun(seconds, uploaded - started, batches, reports)


def stage_seconds(run: PipelineRun) -> dict[str, float] | None:
    """Seconds per pipeline stage summed over documents: the report's ``seconds_by_stage``,
    else each row's ``seconds`` mapping; ``None`` when the report carries neither."""
    totals: Counter[str] = Counter()
    found = False
    for report in run.reports:
        by_stage = report.get("seconds_by_stage")
        rows = [r.get("seconds") for r in report.get("documents", [])]
        mappings = [by_stage] if isinstance(by_stage, dict) else rows
        for mapping in mappings:
            if isinstance(mapping, dict):
                found = True
                for stage, value in mapping.items():
                    if isinstance(value, int | float):
                        totals[stage] += float(value)
    return dict(totals) if found else None


# -- bare parse + embed in this process ------------------------------------------------------


@dataclass
class BareRun:
    parse_seconds: float
    chunk_seconds: float
    embed_seconds: float
    documents: int
    chunks: int
    warmup_seconds: float


def run_bare(files: Iterable[Path]) -> BareRun:
    """Parse (ParserRouter), chunk and embed (the local model) the same files here.

    Warm-up first, untimed: the model is loaded and one file of each format is parsed, as
    the long-running workers have done before they see the batch."""
    from data_plane.adapters.embedding_local import LocalEmbeddingProvider
    from data_plane.adapters.parsers.formats import mime_type_of
    from data_plane.adapters.parsers.routing import ParserRouter
    from data_plane.adapters.tokenizer import count_tokens
    from data_plane.domain.chunking import ChunkingOptions, chunk_document, embedding_text
    from data_plane.domain.ports import ParseRequest
    from frostbyte_common.tenant_config import ChunkingConfig

    files = list(files)
    router = ParserRouter()
    embedder = LocalEmbeddingProvider()
    defaults = ChunkingConfig()
    options = ChunkingOptions(max_tokens=defaults.max_tokens,
                              overlap_tokens=defaults.overlap_tokens)

    def request(path: Path) -> ParseRequest:
        sha, _ = file_digest(path)
        return ParseRequest(document_id=str(uuid.uuid4()), tenant="bench", path=path,
                            name=path.name,
                            mime_type=mime_type_of(path.name) or "application/octet-stream",
                            sha256=sha)

    warm_start = time.perf_counter()
    embedder.embed_documents(["warm-up"])
    count_tokens("warm-up")
    seen: set[str] = set()
    for path in files:
        if path.suffix.lower() not in seen:
            seen.add(path.suffix.lower())
            router.parse(request(path))
    warmup = time.perf_counter() - warm_start

    parse_s = chunk_s = embed_s = 0.0
    n_chunks = 0
    for path in files:
        req = request(path)
        t0 = time.perf_counter()
        doc = router.parse(req)
        t1 = time.perf_counter()
        chunks = chunk_document(doc, options, count_tokens) if doc.elements else []
        t2 = time.perf_counter()
        if chunks:
            embedder.embed_documents([embedding_text(c) for c in chunks])
        t3 = time.perf_counter()
        parse_s += t1 - t0
        chunk_s += t2 - t1
        embed_s += t3 - t2
        n_chunks += len(chunks)
    return BareRun(parse_s, chunk_s, embed_s, len(files), n_chunks, warmup)


# -- output ----------------------------------------------------------------------------------


def _rate(n: float, seconds: float) -> str:
    return f"{n / seconds:.2f}" if seconds > 0 else "—"


def print_figures(files: list[Path], run: PipelineRun, bare: BareRun | None) -> None:
    rows = run.rows()
    statuses = Counter(r["status"] + (f" {r['reason']}" if r.get("reason") else "")
                       for r in rows)
    pages, chunks = run.total("pages"), run.total("chunks")
    table = Table(title=f"Ingest benchmark — {len(files)} files, "
                        f"{sum(p.stat().st_size for p in files) / 1e6:.1f} MB")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("meaning")
    table.add_row("documents", str(len(rows)),
                  ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    table.add_row("end-to-end s", f"{run.seconds:.2f}",
                  "first byte sent → every document finished (upload "
                  f"{run.upload_seconds:.2f} s)")
    table.add_row("pages/s", _rate(pages, run.seconds), f"{pages} pages (PDF/image pages, slides)")
    table.add_row("documents/s", _rate(len(rows), run.seconds), "")
    table.add_row("chunks/s", _rate(chunks, run.seconds), f"{chunks} chunks")
    stages = stage_seconds(run)
    if stages:
        for stage, seconds in sorted(stages.items()):
            table.add_row(f"stage {stage} s", f"{seconds:.2f}",
                          "summed over documents (report's seconds_by_stage)")
    else:
        table.add_row("per-stage s", "—", "the batch report does not expose stage timings")
    if bare is not None:
        core = bare.parse_seconds + bare.embed_seconds
        table.add_row("bare parse s", f"{bare.parse_seconds:.2f}", "ParserRouter, this process")
        table.add_row("bare chunk s", f"{bare.chunk_seconds:.2f}", "chunk_document")
        table.add_row("bare embed s", f"{bare.embed_seconds:.2f}",
                      f"LocalEmbeddingProvider, {bare.chunks} chunks")
        table.add_row("overhead ratio", f"{run.seconds / core:.2f}" if core > 0 else "—",
                      "end-to-end ÷ (bare parse + bare embed)")
        table.add_row("bare warm-up s", f"{bare.warmup_seconds:.2f}",
                      "untimed above: model load, one parse per format")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=ROOT / "samples",
                        help="folder of documents (default: samples/, README.md excluded)")
    parser.add_argument("--copies", type=int, default=1,
                        help="send N marked copies of each file (distinct bytes and names)")
    parser.add_argument("--as-is", action="store_true",
                        help="send the files unchanged (a second run then measures duplicates)")
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--url", default=None, help="control plane (default: FROSTBYTE_URL, "
                        "else the local stack)")
    parser.add_argument("--admin-token", default=None,
                        help="default: FROSTBYTE_ADMIN_TOKEN, else .local/admin_token")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the untimed warm-up batch (one fresh file per format)")
    parser.add_argument("--no-bare", action="store_true",
                        help="skip the in-process parse + embed measurement")
    args = parser.parse_args(argv)
    args.url = args.url or os.environ.get("FROSTBYTE_URL")
    args.admin_token = args.admin_token or os.environ.get("FROSTBYTE_ADMIN_TOKEN")
    if args.copies < 1:
        parser.error("--copies must be at least 1")
    sources = sources_in(args.dir)
    if not sources:
        parser.error(f"no files in {args.dir}")
    workdir = Path(tempfile.mkdtemp(prefix="frostbyte-bench-"))
    try:
        files = prepare(sources, args.copies, args.as_is, workdir)
        try:
            client = tenant_client(args)
            with client:
                if not args.no_warmup:
                    # A new tenant's workers load parsers on first use; keep that out of the
                    # timing, like the bare run's warm-up.
                    warm_dir = workdir / "warm-up"
                    warm_dir.mkdir()
                    firsts = {p.suffix.lower(): p for p in reversed(sources)}
                    with console.status("Warm-up batch (untimed)…"):
                        run_pipeline(client, prepare(list(firsts.values()), 1, False, warm_dir),
                                     args.timeout)
                with console.status(f"Ingesting {len(files)} files into {args.tenant}…"):
                    run = run_pipeline(client, files, args.timeout)
        except CliError as exc:
            console.print(f"[bold red]error[/] {exc}")
            return 1
        bare = None
        if not args.no_bare:
            indexed = {r["name"] for r in run.rows() if r["status"] == "INDEXED"}
            with console.status("Bare parse + embed of the same documents…"):
                bare = run_bare(p for p in files if p.name in indexed)
        print_figures(files, run, bare)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
