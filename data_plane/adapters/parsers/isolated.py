"""Bounded parsing: each document is parsed — and scanned — in a child process with a
wall-clock timeout and a memory ceiling, and children are recycled after N documents (SPEC
§5.2, issues 4 and 12).

Documents are hostile input and parsers are large native libraries: a PDF can make a parser
loop for hours or allocate until the kernel kills the process, and docling's memory grows
across conversions in one process (PARSER_FACTS, Traps). ``IsolatedParser`` satisfies the
``Parser`` port by handing each request to a supervised child that runs the real parser (built
there by ``inner_factory``, e.g. ``ParserRouter``). When the inner object is a
``DocumentProcessor`` (``ParseAndScan``: parse, hidden-text finders and policy scanners, the
tenant's config carried by the factory), ``process()`` returns its whole
``ProcessedDocument``: everything that reads a file's bytes runs under the same limits, and
the worker never touches them (SPEC §5.2):

* **timeout** — the parent waits at most ``timeout_s`` for the answer; then it kills the child
  (SIGKILL) and returns a FAILED document ``PARSE_FAILED: timeout …``;
* **memory** — the parent samples the child's resident memory (with its own children) every
  ``poll_s``; above ``memory_mb`` it kills the child and returns ``PARSE_FAILED: memory …``.
  A watchdog on RSS rather than ``RLIMIT_AS``: torch and onnxruntime reserve gigabytes of
  address space they never touch, so an address-space limit fails imports, not documents;
* **death** — a child that dies on its own (segfault, OOM killer) fails only its document;
* **recycling** — a child is retired after ``max_docs_per_child`` documents, or when it sits
  above ``recycle_fraction`` of the ceiling between documents, so leaks never accumulate; its
  replacement starts at once in the background and warms up (the inner parser's optional
  ``warm_up()``: library imports) off the clock of any document. A child retired for its
  document count keeps serving until the replacement is ready (documents never wait for a
  warm-up of many seconds); one retired for its memory stops at once.

A failed document never takes down the caller or other documents: the next request gets a
fresh child. Children use the ``spawn`` start method (no inherited locks, threads or
connection pools of the worker) and exit on their own when their parent goes away. Each
concurrent caller gets its own child (the worker's concurrency bounds their number).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

import psutil

from data_plane.adapters.parsers._common import PARSE_FAILED, make_document, utcnow
from data_plane.domain.canonical import (
    CanonicalDocument,
    ErrorItem,
    LineageStep,
    ParseStatus,
)
from data_plane.domain.ports import Parser, ParseRequest
from data_plane.domain.processing import DocumentProcessor, ProcessedDocument
from frostbyte_common import logs

log = logging.getLogger(__name__)

COMPONENT = "isolated-parser"
VERSION = "1"
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class IsolationLimits:
    """Bounds of one parse. ``startup_timeout_s`` covers starting a child and building its
    parser (imports), which is not charged to the document."""

    timeout_s: float = 300.0
    memory_mb: int = 4096
    max_docs_per_child: int = 100
    startup_timeout_s: float = 120.0
    poll_s: float = 0.05
    recycle_fraction: float = 0.75


class _ChildFailed(Exception):
    """The child could not give an answer (timeout, memory, death, startup): ``reason``."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ChildEvents(Protocol):
    """Who hears of the children's ends and replacements (the metrics)."""

    def parser_child_killed(self, reason: str) -> None:
        """A child was killed or found dead: timeout, memory, died, startup."""

    def parser_child_restarted(self, reason: str) -> None:
        """Another child was started in place of one: worn_out (it served its documents),
        memory_high (it grew too big), replaced (it was killed or died)."""


class _Unheard:
    def parser_child_killed(self, reason: str) -> None:
        pass

    def parser_child_restarted(self, reason: str) -> None:
        pass


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)  # orphaned: our worker is gone, nobody will read the answer
        time.sleep(1.0)


Inner = Parser | DocumentProcessor


def _answer(inner: Inner, request: ParseRequest) -> ProcessedDocument:
    process = getattr(inner, "process", None)
    if callable(process):
        result = process(request)
        assert isinstance(result, ProcessedDocument)
        return result
    return ProcessedDocument(document=inner.parse(request))  # type: ignore[union-attr]


def _child_main(conn: Connection, inner_factory: Callable[[], Inner], parent_pid: int,
                log_setup: logs.LogSetup | None = None) -> None:
    """Child process loop: build the parser, then answer requests until told to stop. Its
    log lines are JSON as its parent's (``log_setup``), each with the document it parses."""
    if log_setup is not None:
        logs.configure(log_setup.level, **log_setup.context)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    try:
        inner = inner_factory()
    except BaseException as exc:  # report, then exit: the parent fails the document
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    warm_up = getattr(inner, "warm_up", None)
    if callable(warm_up):
        with contextlib.suppress(Exception):  # a cold parser still works, only slower
            warm_up()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        try:
            with logs.bound(document_id=getattr(request, "document_id", None)):
                answer = _answer(inner, request)
            conn.send(("ok", answer))  # pickled: no re-validation
        except BaseException as exc:  # MemoryError, RecursionError: still an answer
            conn.send(("error", f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"))


class _Child:
    """A running child process and the parent's end of its pipe."""

    def __init__(self, ctx: Any, inner_factory: Callable[[], Inner],
                 limits: IsolationLimits) -> None:
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.conn: Connection = parent_conn
        self.process: BaseProcess = ctx.Process(
            target=_child_main, args=(child_conn, inner_factory, os.getpid(), logs.current()),
            name="frostbyte-parse", daemon=True)
        self.process.start()
        child_conn.close()
        self.docs = 0
        self.retiring = False  # served its documents; stops once its replacement is ready
        self.limits = limits
        self.peak = 0
        self._ps = psutil.Process(self.process.pid)
        started = time.perf_counter()
        kind, payload = self._wait(limits.startup_timeout_s, "starting the parser process")
        self.start_seconds = time.perf_counter() - started
        if kind != "ready":
            self.kill()
            raise _ChildFailed(f"the parser process failed to start: {payload}", "startup")

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    def own_rss_bytes(self) -> int:
        """Resident memory of the child alone (cheap: no scan for descendants)."""
        try:
            return int(self._ps.memory_info().rss)
        except psutil.Error:
            return 0

    def rss_bytes(self) -> int:
        """Resident memory of the child and its descendants (0 if it is gone)."""
        try:
            procs = [self._ps, *self._ps.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def ask(self, request: ParseRequest) -> tuple[str, Any, int]:
        """Send ``request``; the answer and the peak RSS seen while waiting."""
        self.docs += 1
        self.conn.send(request)
        self.peak = 0
        kind, payload = self._wait(self.limits.timeout_s, "parsing")
        return kind, payload, self.peak

    def _wait(self, timeout_s: float, doing: str) -> tuple[str, Any]:
        limit = self.limits.memory_mb * MiB
        deadline = time.monotonic() + timeout_s
        next_sample = 0.0
        samples = 0
        self.peak = 0
        while True:
            if self.conn.poll(self.limits.poll_s):
                try:
                    kind, payload = self.conn.recv()
                except (EOFError, OSError):
                    break  # died while answering: handled below
                return str(kind), payload
            now = time.monotonic()
            if not self.process.is_alive():
                break
            if now >= next_sample:
                samples += 1
                # the child's own RSS is one read of /proc; its descendants need a scan of
                # every process, so they are added only every tenth sample
                rss = self.rss_bytes() if samples % 10 == 0 else self.own_rss_bytes()
                self.peak = max(self.peak, rss)
                if rss > limit:
                    self.kill()
                    raise _ChildFailed(
                        f"memory: the parser used {rss // MiB} MiB while {doing}, above the "
                        f"ceiling of {self.limits.memory_mb} MiB; the parser process was "
                        "stopped", "memory")
                next_sample = now + max(self.limits.poll_s, 0.2)
            if now >= deadline:
                self.kill()
                raise _ChildFailed(
                    f"timeout: {doing} took longer than {timeout_s:g} s; the parser "
                    "process was stopped", "timeout")
        self.process.join(timeout=5)
        code = self.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        self.kill()
        raise _ChildFailed(f"the parser process died while {doing} ({how}); a crash in "
                           "the parser or the kernel's out-of-memory killer", "died")

    def stop(self) -> None:
        """Ask the child to exit; kill it if it does not."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(timeout=5)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(psutil.Error):
                for p in self._ps.children(recursive=True):
                    p.kill()
            self.process.kill()
        self.process.join(timeout=10)
        with contextlib.suppress(OSError):
            self.conn.close()


class IsolatedParser:
    """A ``Parser`` and ``DocumentProcessor`` that runs ``inner_factory()``'s parser (or
    parse-and-scan processor) in bounded, recycled children.

    ``inner_factory`` must be picklable (a module-level class or function, or a
    ``functools.partial`` of one): it is called in each child. Never raises for a document;
    every way a child can fail becomes a FAILED document with a ``PARSE_FAILED: …`` error
    item, a lineage step and no policy outcome (nothing of it was scanned).
    """

    name: str = COMPONENT

    def __init__(self, inner_factory: Callable[[], Inner],
                 limits: IsolationLimits | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 events: ChildEvents | None = None) -> None:
        self._factory = inner_factory
        self.events: ChildEvents = events or _Unheard()
        self.limits = limits or IsolationLimits()
        self._clock = clock
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._starting = 0
        self._closed = False
        self.children_started = 0
        self.last_start_seconds = 0.0  # start + warm-up of the newest child
        atexit.register(self.close)

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        """Parse ``request`` in a child within the limits; FAILED with a reason otherwise."""
        return self.process(request).document

    def process(self, request: ParseRequest) -> ProcessedDocument:
        """Parse (and, with a processor inside, scan) ``request`` in a child within the
        limits; a FAILED document with a reason and no outcome otherwise."""
        started = self._clock()
        t0 = time.perf_counter()
        child: _Child | None = None
        details: dict[str, Any] = {"timeout_s": self.limits.timeout_s,
                                   "memory_mb": self.limits.memory_mb}
        try:
            child = self._acquire()
            details["worker_pid"] = child.pid
            kind, payload, peak = child.ask(request)
            details["peak_rss_mb"] = peak // MiB
            if kind == "ok" and isinstance(payload, ProcessedDocument):
                result = payload
            else:
                result = ProcessedDocument(self._failed(request, f"{PARSE_FAILED}: {payload}"))
        except _ChildFailed as exc:
            child = None  # killed already
            self.events.parser_child_killed(exc.reason)
            result = ProcessedDocument(self._failed(request, f"{PARSE_FAILED}: {exc}"))
            log.warning("parse failed in isolation", extra={
                "document_id": request.document_id, "reason": str(exc)})
        finally:
            if child is not None:
                self._release(child)
        details["status"] = result.document.status.value
        details["seconds"] = round(time.perf_counter() - t0, 3)
        details["scanned"] = result.outcome is not None
        step = LineageStep(stage="parse-isolation", component=COMPONENT, version=VERSION,
                           started_at=started, finished_at=self._clock(), details=details)
        # the isolation step joins the lineage of the parsed and the redacted document
        return result.map_documents(
            lambda d: d.model_copy(update={"lineage": (*d.lineage, step)}))

    def prestart(self) -> None:
        """Start and warm up a child in the background now (a worker calls this at boot, so
        that its first document does not wait for the parser libraries to load)."""
        self._start_spare()

    def close(self) -> None:
        """Stop every idle child (busy ones are stopped when their parse returns)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.stop()

    def _failed(self, request: ParseRequest, message: str) -> CanonicalDocument:
        return make_document(request, parser=COMPONENT, version=VERSION,
                             status=ParseStatus.FAILED,
                             errors=(ErrorItem(component=COMPONENT, message=message),))

    def _acquire(self) -> _Child:
        with self._ready:
            while True:
                # a fresh child first; a retiring one only while its replacement warms up
                self._idle.sort(key=lambda c: c.retiring, reverse=True)
                while self._idle:
                    child = self._idle.pop()
                    if child.process.is_alive():
                        return child
                    child.kill()
                if not self._starting:
                    break
                self._ready.wait()  # a replacement is warming up: cheaper than another
        child = _Child(self._ctx, self._factory, self.limits)
        if self.children_started:  # none idle: the last one was killed, died or retired
            self.events.parser_child_restarted("replaced")
        self.children_started += 1
        self.last_start_seconds = child.start_seconds
        return child

    def _release(self, child: _Child) -> None:
        high_memory = (child.own_rss_bytes()
                       > self.limits.recycle_fraction * self.limits.memory_mb * MiB)
        worn_out = child.docs >= self.limits.max_docs_per_child
        # A replacement that cannot start must not keep an old child alive for ever.
        overdue = child.docs >= 2 * self.limits.max_docs_per_child
        if self._closed or high_memory or overdue:
            child.stop()
            if not self._closed and not child.retiring:
                self._start_spare("memory_high" if high_memory else "worn_out")
            return
        start_spare = False
        with self._lock:
            fresh_idle = any(not c.retiring for c in self._idle)
            if worn_out and not child.retiring:
                child.retiring = True
                start_spare = True
            keep = not (child.retiring and fresh_idle)
            if keep:
                self._idle.append(child)
        if start_spare:
            self._start_spare("worn_out")
        if not keep:
            child.stop()

    def _start_spare(self, reason: str | None = None) -> None:
        """Start (and warm up) the retired child's replacement in the background, so that
        its imports overlap the caller's next stages (chunking, embedding); ``reason``: why
        it replaces one (None: the first)."""
        with self._lock:
            self._starting += 1

        def run() -> None:
            child: _Child | None = None
            try:
                child = _Child(self._ctx, self._factory, self.limits)
            except Exception as exc:  # the next parse starts one itself and reports why
                log.warning("spare parser process failed to start: %s", exc)
                if isinstance(exc, _ChildFailed):
                    self.events.parser_child_killed(exc.reason)
            retired: list[_Child] = []
            with self._ready:
                self._starting -= 1
                if child is not None:
                    if reason is not None:
                        self.events.parser_child_restarted(reason)
                    self.children_started += 1
                    self.last_start_seconds = child.start_seconds
                    if self._closed:
                        retired.append(child)
                    else:
                        # the replacement is ready: idle retiring children stop now, busy
                        # ones when their document is done (see _release)
                        retired = [c for c in self._idle if c.retiring]
                        self._idle = [c for c in self._idle if not c.retiring]
                        self._idle.append(child)
                self._ready.notify_all()
            for old in retired:
                old.stop()

        threading.Thread(target=run, name="parser-spare", daemon=True).start()

