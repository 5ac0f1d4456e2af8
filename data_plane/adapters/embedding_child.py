"""``EmbeddingProvider`` whose model runs in a child process that starts at the first
embedding and stops after ``idle_stop_s`` without one (issue 18, density).

Why a child: importing torch and sentence-transformers alone costs a Python process about
450 MB of resident memory and ~8 s of CPU (measured on the 2-core box); unloading the model
gives back only its weights, never the libraries. The API embeds only search queries, so an
idle tenant's API should hold none of it: the model lives in a child (the API's own Unix
account, ``spawn``\\ ed, so nothing of the API is shared) that exits when idle, and the
process's memory goes back to the system with it.

What the API needs without embedding — the model's name, version and dimension, with which
the index is opened at start — comes from the model registry or the model folder's
configuration files (:func:`light_model_info`), so a cold tenant starts without the
libraries. The child checks
it against the loaded model at its first start; a difference is logged and the child's
answer wins."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from data_plane.domain.idle import IdleTracker
from data_plane.domain.ports import EmbeddingProvider, ModelInfo
from data_plane.errors import EmbeddingUnavailable

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 300.0


class ModelFacts(Protocol):
    """What a registered model's entry tells (``domain.embedding_models``' spec)."""

    @property
    def name(self) -> str: ...
    @property
    def dimension(self) -> int: ...
    @property
    def version(self) -> str | None: ...
    @property
    def package(self) -> str | None: ...


def light_model_info(spec: ModelFacts | None, folder: Path | None
                     ) -> ModelInfo | None:
    """Name, version and dimension of a local model without importing torch, as
    :class:`~data_plane.adapters.embedding_local.LocalEmbeddingProvider` records them: a
    registered model's from the registry (its version, else its package's); an unregistered
    folder's from its JSON files (named by itself, versioned by its configuration). None
    when they do not tell (e.g. a Dense layer changes the dimension): the child is asked."""
    if spec is not None:
        version = spec.version or (
            importlib.metadata.version(spec.package) if spec.package else "")
        return ModelInfo(name=spec.name, version=version, dimension=spec.dimension) \
            if version else None
    if folder is None:
        return None
    from data_plane.adapters.embedding_local import config_fingerprint

    try:
        dimension = _dimension(folder)
        if dimension is None:
            return None
        return ModelInfo(name=folder.name, version=config_fingerprint(folder),
                         dimension=dimension)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _dimension(path: Path) -> int | None:
    modules_file = path / "modules.json"
    if not modules_file.is_file():  # a bare transformer: mean pooling over its hidden size
        return int(json.loads((path / "config.json").read_text())["hidden_size"])
    modules = json.loads(modules_file.read_text())
    if any("Dense" in str(m.get("type", "")) for m in modules):
        return None
    for module in modules:
        if str(module.get("type", "")).endswith("Pooling"):
            config = json.loads((path / module["path"] / "config.json").read_text())
            return int(config["word_embedding_dimension"])
    return None


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(0)


def _child_main(conn: Connection, factory: Callable[[], EmbeddingProvider],
                parent_pid: int) -> None:
    """Load the provider, then answer ``(op, arg)`` requests until the pipe closes."""
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    try:
        provider = factory()
        model = provider.model
    except BaseException as exc:
        conn.send(("error", _portable(exc)))
        return
    conn.send(("ok", model))
    while True:
        try:
            op, arg = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if op == "documents":
                result: Any = provider.embed_documents(arg)
            elif op == "query":
                result = provider.embed_query(arg)
            else:
                raise ValueError(f"unknown request {op!r}")
            conn.send(("ok", result))
        except Exception as exc:
            conn.send(("error", _portable(exc)))


def _portable(exc: BaseException) -> BaseException:
    """An exception the parent can unpickle: the project's own, else its message."""
    if isinstance(exc, EmbeddingUnavailable):
        return exc
    return EmbeddingUnavailable(f"the embedding child failed: {type(exc).__name__}: {exc}")


class ChildEmbeddingProvider:
    """Runs ``factory()``'s provider in a child: started at the first embedding (or at the
    first ``model`` read when ``info`` is None), stopped once ``idle_stop_s`` passed without
    a call (0: kept). Calls are serialised, as the in-process provider serialises them."""

    def __init__(self, factory: Callable[[], EmbeddingProvider], info: ModelInfo | None, *,
                 idle_stop_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._factory = factory
        self._info = info
        self._idle = IdleTracker(idle_stop_s, clock)
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None
        self._closed = False
        self.starts = 0
        if idle_stop_s > 0:
            threading.Thread(target=self._stop_when_idle, daemon=True,
                             name="embedding-child-idle").start()

    @property
    def model(self) -> ModelInfo:
        if self._info is None:
            with self._lock:
                self._ensure_child()
        assert self._info is not None
        return self._info

    @property
    def running(self) -> bool:
        """Whether the child (and so the model) is loaded now."""
        return self._process is not None and self._process.is_alive()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        result: list[list[float]] = self._call("documents", list(texts))
        return result

    def embed_query(self, text: str) -> list[float]:
        result: list[float] = self._call("query", text)
        return result

    def stop_if_idle(self) -> bool:
        """Stop the child when it has been idle long enough; True if it was stopped."""
        with self._lock:
            if self._process is None or not self._idle.is_idle():
                return False
            log.info("embedding child idle for %.0f s: stopping it (pid %s)",
                     self._idle.idle_for(), self._process.pid)
            self._stop_child()
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop_child()

    def _call(self, op: str, arg: object) -> Any:
        with self._idle.working(), self._lock:
            conn = self._ensure_child()
            try:
                conn.send((op, arg))
                kind, payload = conn.recv()
            except (EOFError, OSError) as exc:
                self._stop_child()
                raise EmbeddingUnavailable(
                    f"the embedding child ended: {type(exc).__name__}") from exc
        if kind == "error":
            raise payload
        return payload

    def _ensure_child(self) -> Connection:
        """The running child's pipe, starting the child if needed (the lock held)."""
        if self._closed:
            raise EmbeddingUnavailable("the embedding provider is closed")
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._stop_child()
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_child_main, daemon=True,
                                    args=(child_conn, self._factory, os.getpid()),
                                    name="frostbyte-embedder")
        started = time.monotonic()
        process.start()
        child_conn.close()
        if not parent_conn.poll(_START_TIMEOUT_S):
            process.kill()
            raise EmbeddingUnavailable("the embedding child did not load its model in time")
        try:
            kind, payload = parent_conn.recv()
        except (EOFError, OSError) as exc:
            process.join(5)
            raise EmbeddingUnavailable(
                f"the embedding child died while loading (exit {process.exitcode})") from exc
        if kind == "error":
            process.join(5)
            raise payload
        if self._info is not None and payload != self._info:
            log.warning("embedding model read from its folder as %s, loaded as %s: using "
                        "the loaded one", self._info, payload)
        self._info = payload
        self._process, self._conn = process, parent_conn
        self.starts += 1
        self._idle.touch()
        log.info("embedding child started (pid %s) in %.1f s", process.pid,
                 time.monotonic() - started)
        return parent_conn

    def _stop_child(self) -> None:
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            conn.close()  # the child's recv ends: it returns and exits
        if process is not None:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)

    def _stop_when_idle(self) -> None:
        while not self._closed:
            time.sleep(self._idle.check_interval_s())
            try:
                self.stop_if_idle()
            except Exception:  # the next round tries again
                log.exception("stopping the idle embedding child failed")
