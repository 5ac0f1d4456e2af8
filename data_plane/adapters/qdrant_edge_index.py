"""``VectorIndex`` on Qdrant Edge: Qdrant's own engine in-process (the embedded default).

qdrant-client's local mode scans every vector in Python for each query; Edge keeps the
vectors in Qdrant's segments, builds HNSW graphs over them and keyword indexes over the
payload fields that search filters on, so search stays fast as a tenant grows.

The folder holds three things:

- ``shard/``: the Edge shard (segments and its write-ahead log). Every update is in the WAL
  when ``upsert`` returns, so a process killed right after it loses nothing: reopening
  replays the log.
- ``model.json``: the embedding model the collection was made for (Edge has no collection
  metadata). It is written, atomically, before the shard is created, so a shard never
  exists without its model; a model file without a shard is a collection with no points yet.
- ``lock``: an exclusive ``flock`` held while the index is open, naming the holder's pid.
  Only one opener at a time, in any process: a second one gets ``IndexUnavailable``.

HNSW is built by Edge's optimizer, which runs only when called: ``upsert`` calls it after
every write (a no-op taking microseconds unless a segment has outgrown the indexing
threshold). When it does work it blocks the caller for seconds holding the GIL, so every
other thread of the process (API requests included) waits too; segments are capped at
``_MAX_SEGMENT_KB`` and merged only past ``_SEGMENTS`` so that one run rebuilds a bounded
part of the collection (at most ~5 s at 100k points on 2 cores).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qdrant_edge as edge

from data_plane.adapters.index_models import (
    require_point_dimensions,
    require_query_dimension,
    require_same_model,
)
from data_plane.domain.ports import IndexFilter, IndexHit, IndexPoint, ModelInfo
from data_plane.errors import IndexUnavailable, ModelMismatch

DOCUMENT_ID_FIELD = "document_id"
#: Payload keys that get a keyword index: every key ``services.search.index_filter`` filters
#: on (the adapters may not import the services, so the list is repeated here).
SEARCH_FILTER_FIELDS = (
    DOCUMENT_ID_FIELD, "parent_document_id", "batch_id", "format", "doc_type", "sensitivity",
)
_SHARD_DIR = "shard"
_MODEL_FILE = "model.json"
_LOCK_FILE = "lock"
_UPSERT_BATCH = 1024
_SCROLL_PAGE = 1024
#: A segment holding more than this many KB of vectors gets its HNSW graph built (Qdrant's
#: default: ~6,500 384-d vectors). Below it, a segment is scanned exactly, in Rust.
_INDEXING_THRESHOLD_KB = 10_000
#: Segments stop growing here (~100,000 384-d vectors): an optimizer run rebuilds at most
#: one such segment, instead of the whole collection, as it grows.
_MAX_SEGMENT_KB = 150_000
#: How many segments the optimizer keeps before merging the smallest. Edge's default (from
#: the CPU count: 2 here) merges every newly indexed segment into a big one, rebuilding its
#: graph each time (100k points: 64 s to build, one run up to 13 s); 16 builds in 45 s but a
#: search visiting 16 graphs takes ~20 ms instead of ~1 ms; 4: 51 s, runs of at most ~5 s,
#: searches of ~1.5 ms (measured on 2 shared cores).
_SEGMENTS = 4
#: Threads of the shard's search pool. Edge's CPU-derived default, next to the embedding
#: model's torch threads in the same process, made the query embedding that follows a search
#: slow: p95 469 ms against 6 ms with an explicit pool (100k points, 2 cores). One thread
#: also searches the 4 segments fastest there (p95 3.1 ms against 4.8 ms with two).
_SEARCH_THREADS = 1


@dataclass(frozen=True, slots=True)
class HnswSettings:
    """The HNSW graph's shape and how widely a search explores it.

    ``m`` (edges per node) and ``ef_construct`` are fixed when a segment's graph is built;
    ``search_ef`` (candidates kept per search) is read at each search: raise it for recall,
    lower it for speed.
    """

    m: int = 16
    ef_construct: int = 100
    search_ef: int = 128


class QdrantEdgeVectorIndex:
    """One tenant's collection in a Qdrant Edge shard under ``folder``, bound to one model.

    ``keyword_fields`` get keyword payload indexes (filters on them stay fast); fields added
    later are indexed when the folder is next opened.
    """

    def __init__(
        self,
        folder: Path,
        *,
        keyword_fields: Sequence[str] = SEARCH_FILTER_FIELDS,
        hnsw: HnswSettings | None = None,
    ) -> None:
        self._folder = Path(folder)
        self._keyword_fields = tuple(dict.fromkeys(keyword_fields))
        self._hnsw = hnsw or HnswSettings()
        # Edge's shard is not documented as safe for concurrent calls; the API searches from
        # threads while its indexer writes: serialise every call.
        self._lock = threading.RLock()
        self._recorded: ModelInfo | None = None
        self._shard: edge.EdgeShard | None = None
        self._closed = False
        self._folder.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _take_folder_lock(self._folder)
        try:
            self._recorded = self._read_model()
            if self._recorded is not None:
                self._open_shard(self._recorded)
        except BaseException:
            self._release_folder_lock()
            raise

    # -- the folder --------------------------------------------------------------------------

    def _read_model(self) -> ModelInfo | None:
        path = self._folder / _MODEL_FILE
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
            model = ModelInfo(
                name=str(recorded["name"]),
                version=str(recorded["version"]),
                dimension=int(recorded["dimension"]),
            )
        except FileNotFoundError:
            if (self._folder / _SHARD_DIR).exists():
                raise ModelMismatch(
                    f"the Qdrant Edge shard in {self._folder} records no embedding model "
                    f"({_MODEL_FILE} is missing); it was not made by Frostbyte"
                ) from None
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelMismatch(
                f"cannot read the embedding model of {self._folder}: {exc}"
            ) from exc
        return model

    def _write_model(self, model: ModelInfo) -> None:
        """Record the model atomically and durably (the rename is fsynced with its folder)."""
        path = self._folder / _MODEL_FILE
        scratch = path.with_suffix(".json.tmp")
        data = {"name": model.name, "version": model.version, "dimension": model.dimension}
        with scratch.open("w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        scratch.replace(path)
        folder_fd = os.open(self._folder, os.O_RDONLY)
        try:
            os.fsync(folder_fd)
        finally:
            os.close(folder_fd)

    def _config(self, model: ModelInfo) -> edge.EdgeConfig:
        return edge.EdgeConfig(
            vectors=edge.EdgeVectorParams(size=model.dimension, distance=edge.Distance.Cosine),
            hnsw_config=edge.HnswIndexConfig(
                m=self._hnsw.m,
                ef_construct=self._hnsw.ef_construct,
                full_scan_threshold=_INDEXING_THRESHOLD_KB,
            ),
            optimizers=edge.EdgeOptimizersConfig(
                indexing_threshold=_INDEXING_THRESHOLD_KB, max_segment_size=_MAX_SEGMENT_KB,
                default_segment_number=_SEGMENTS,
            ),
            max_search_threads=_SEARCH_THREADS,
        )

    def _open_shard(self, model: ModelInfo) -> None:
        """Load the shard, or create it (a model file without a shard: nothing written yet),
        then add any missing payload index."""
        path = self._folder / _SHARD_DIR
        with self._calling("open"):
            if (path / "segments").exists():
                shard = edge.EdgeShard.load(str(path), self._config(model))
            else:
                shard = edge.EdgeShard.create(str(path), self._config(model))
            self._shard = shard
            indexed = shard.info().payload_schema
            for field in self._keyword_fields:
                if field not in indexed:
                    shard.update(
                        edge.UpdateOperation.create_field_index(
                            field, edge.PayloadSchemaType.Keyword
                        )
                    )

    def _release_folder_lock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = -1

    @contextlib.contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Engine errors (Edge raises plain ``Exception``) become ``IndexUnavailable``."""
        try:
            yield
        except (IndexUnavailable, ModelMismatch):
            raise
        except Exception as exc:
            raise IndexUnavailable(
                f"Qdrant Edge failed to {what} the index in {self._folder}: {exc}"
            ) from exc

    def _live_shard(self) -> edge.EdgeShard | None:
        """The open shard; None when no collection exists yet."""
        if self._closed:
            raise IndexUnavailable(f"the index in {self._folder} was closed")
        return self._shard

    # -- the model ---------------------------------------------------------------------------

    def recorded_model(self) -> ModelInfo | None:
        """The model the collection was made for; None when there is no collection yet."""
        with self._lock:
            self._live_shard()
            return self._recorded

    def ensure(self, model: ModelInfo) -> None:
        """Create the collection for ``model`` or check that it was made for it
        (raises ``ModelMismatch`` otherwise)."""
        if model.dimension < 1:
            raise ValueError("model dimension must be positive")
        with self._lock:
            if self._live_shard() is None and self._recorded is None:
                self._write_model(model)
                self._recorded = model
            if self._recorded == model and self._shard is None:
                self._open_shard(model)
            self._require(model)

    def _require(self, model: ModelInfo) -> edge.EdgeShard:
        shard = self._live_shard()
        if self._recorded is not None:
            require_same_model(self._recorded, model, f"the index in {self._folder}")
        if shard is None:
            raise IndexUnavailable(
                f"the index in {self._folder} does not exist yet; call ensure() first"
            )
        return shard

    # -- writes ------------------------------------------------------------------------------

    def upsert(self, model: ModelInfo, points: Sequence[IndexPoint]) -> None:
        """Write points (idempotent by point id); refuses vectors of another model.

        Creates the collection for ``model`` when it does not exist yet. The points are in
        the write-ahead log when this returns; then the optimizer builds HNSW for any segment
        that outgrew the indexing threshold.
        """
        require_point_dimensions(model, points)
        with self._lock:
            self.ensure(model)
            shard = self._require(model)
            if not points:
                return
            with self._calling("write to"):
                for start in range(0, len(points), _UPSERT_BATCH):
                    batch = points[start : start + _UPSERT_BATCH]
                    shard.update(
                        edge.UpdateOperation.upsert_points(
                            [edge.Point(p.point_id, list(p.vector), dict(p.payload))
                             for p in batch]
                        )
                    )
                if shard.optimize():
                    # Edge has no background flusher: persist the rebuilt segments now, so
                    # the write-ahead log can be trimmed and a reopen has little to replay.
                    shard.flush()

    def delete_document(self, document_id: str) -> int:
        """Delete every point of the document; returns how many there were (0 for none,
        or when the collection does not exist yet)."""
        flt = _document_filter(document_id)
        with self._lock:
            shard = self._live_shard()
            if shard is None:
                return 0
            with self._calling("delete from"):
                present = shard.count(edge.CountRequest(exact=True, filter=flt))
                if present:
                    shard.update(edge.UpdateOperation.delete_points_by_filter(flt))
            return int(present)

    def delete_points(self, point_ids: Sequence[str]) -> int:
        """Delete these points; returns how many of them were there."""
        ids: list[edge.PointId] = list(dict.fromkeys(point_ids))
        with self._lock:
            shard = self._live_shard()
            if shard is None or not ids:
                return 0
            with self._calling("delete from"):
                present = shard.retrieve(ids, with_payload=False, with_vector=False)
                if present:
                    shard.update(edge.UpdateOperation.delete_points([r.id for r in present]))
            return len(present)

    # -- reads -------------------------------------------------------------------------------

    def search(
        self, model: ModelInfo, vector: list[float], top_k: int, flt: IndexFilter | None = None
    ) -> list[IndexHit]:
        """The ``top_k`` nearest points by cosine similarity, best first (approximate: HNSW
        with ``search_ef`` candidates on indexed segments, exact on small ones).

        An index not created yet has no hits; a query of another model is refused.
        """
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        require_query_dimension(model, vector)
        if flt is not None and any(not values for values in flt.must.values()):
            return []  # "any of nothing" matches nothing
        request = edge.QueryRequest(
            limit=top_k,
            query=edge.Query.Nearest(list(vector)),
            filter=_build_filter(flt),
            params=edge.SearchParams(hnsw_ef=max(self._hnsw.search_ef, top_k)),
            with_payload=True,
            with_vector=False,
        )
        with self._lock:
            if self._live_shard() is None:
                return []
            shard = self._require(model)
            with self._calling("search"):
                found = shard.query(request)
        return [
            IndexHit(point_id=str(p.id), score=float(p.score), payload=dict(p.payload or {}))
            for p in found
        ]

    def count(self, document_id: str | None = None) -> int:
        """Exact number of points, all or those of one document."""
        flt = _document_filter(document_id) if document_id else None
        with self._lock:
            shard = self._live_shard()
            if shard is None:
                return 0
            with self._calling("count"):
                return int(shard.count(edge.CountRequest(exact=True, filter=flt)))

    def point_ids(self) -> Iterator[str]:
        """Every point id, a page at a time (each page read under the lock, so writes between
        pages may or may not be seen); none when the collection does not exist."""
        offset: edge.PointId | None = None
        while True:
            with self._lock:
                shard = self._live_shard()
                if shard is None:
                    return
                with self._calling("list the points of"):
                    records, offset = shard.scroll(
                        edge.ScrollRequest(
                            offset=offset, limit=_SCROLL_PAGE, with_payload=False,
                            with_vector=False,
                        )
                    )
            yield from (str(record.id) for record in records)
            if offset is None:
                return

    def indexed_share(self) -> float:
        """The share of points whose segment has its HNSW graph (the rest are scanned
        exactly); 1.0 for an empty index. For benchmarks and diagnostics."""
        with self._lock:
            shard = self._live_shard()
            if shard is None:
                return 1.0
            with self._calling("describe"):
                info = shard.info()
        return info.indexed_vectors_count / info.points_count if info.points_count else 1.0

    def close(self) -> None:
        """Flush and close the shard, then release the folder. Closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            shard, self._shard = self._shard, None
            try:
                if shard is not None:
                    with self._calling("close"):
                        shard.flush()
                        shard.close()
            finally:
                self._release_folder_lock()

    def drop(self) -> None:
        """Close the index and delete its folder (shard, model file, lock) whole."""
        with self._lock:
            self.close()
            shutil.rmtree(self._folder, ignore_errors=True)


def _take_folder_lock(folder: Path) -> int:
    """Hold ``folder``'s lock file exclusively, writing our pid in it; refuse with
    ``IndexUnavailable`` (naming the holder) when another opener holds it."""
    path = folder / _LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise IndexUnavailable(
            f"the vector index in {folder} is already open (pid {holder}); only one "
            "process, and one opener within it, may use it at a time"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def _build_filter(flt: IndexFilter | None) -> edge.Filter | None:
    """Each key must match one of its values (``MatchAny``); keys are and-ed."""
    if flt is None or not flt.must:
        return None
    conditions: list[Any] = [
        edge.FieldCondition(key=key, match=edge.MatchAny(list(values)))
        for key, values in sorted(flt.must.items())
    ]
    return edge.Filter(must=conditions)


def _document_filter(document_id: str) -> edge.Filter:
    return edge.Filter(
        must=[edge.FieldCondition(key=DOCUMENT_ID_FIELD, match=edge.MatchValue(document_id))]
    )
