"""Re-embedding a tenant into another model (issue 18) while search keeps answering.

PostgreSQL's chunks are the source: every chunk of a document search may show is embedded
again with the new model (its document prefix), its vector kept apart
(``chunk_embeddings``) and projected into a NEW collection; the active collection serves
every search meanwhile. Then, holding the indexer's lock (searches wait, none fails): the
chunks of documents indexed since are embedded too, points of documents erased or
superseded since are removed, and one transaction moves the new vectors into
``chunks.embedding`` and flips the active collection; the indexer swaps to the new
collection and the old one is dropped. A document embedded with the old model after that
is embedded again by the indexer before it is projected (``IndexService``), so none is
lost. Runs in the process that owns the index (the API in the embedded default), on a
thread of its own; progress is recorded in ``reembeddings``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Protocol

from data_plane.domain.chunking import embedding_text
from data_plane.domain.embedding_models import ReembedRecord, collection_slug, model_spec
from data_plane.domain.object_keys import point_id_for
from data_plane.domain.ports import Documents, EmbeddingCollections
from data_plane.services.pipeline import (
    ActiveCollection,
    CollectionOpener,
    IndexService,
    index_points,
)

log = logging.getLogger(__name__)


class ReembedStore(EmbeddingCollections, Documents, Protocol):
    """What re-embedding needs of the system of record."""


def new_collection_name(base: str, model: str) -> str:
    """Pure but for its random part: a collection name no earlier one had, naming the
    model (re-embedding back to an earlier model builds a new collection too)."""
    return f"{base}__{collection_slug(model)}_{uuid.uuid4().hex[:8]}"


class ReembedService:
    """Starts re-embeddings (one at a time), runs them on a thread, reports progress."""

    def __init__(self, *, db: ReembedStore, indexer: IndexService, opener: CollectionOpener,
                 drop_collection: Callable[[str], None], collection_base: str,
                 batch_size: int = 64) -> None:
        self._db = db
        self._indexer = indexer
        self._opener = opener
        self._drop_collection = drop_collection
        self._base = collection_base
        self._batch_size = batch_size
        self._thread: threading.Thread | None = None

    def recover(self) -> None:
        """At start: a re-embedding its process left RUNNING ends FAILED, and the
        collection it was building is dropped (the active one is untouched)."""
        for record in self._db.interrupted_reembeds():
            log.warning("re-embedding %s into %s was interrupted; dropping its collection",
                        record.reembed_id, record.collection)
            self._drop_collection(record.collection)

    def start(self, model: str, *, actor: str) -> ReembedRecord:
        """Begin re-embedding into ``model`` (a registered name); the running record.
        ``UnknownEmbeddingModel`` for a name the registry lacks, ``EmbeddingUnavailable``
        when the model cannot be loaded here, ``ReembedInProgress`` when one runs."""
        spec = model_spec(model)
        collection = new_collection_name(self._base, spec.name)
        target = self._opener(collection, spec.name)  # loads the model: fails before
        reembed_id = uuid.uuid4()                      # anything is recorded
        try:
            target.index.ensure(target.model)
            record = self._db.start_reembed(reembed_id, collection, target.model,
                                            actor=actor)
        except BaseException:
            target.index.drop()
            raise
        self._thread = threading.Thread(target=self._run, args=(reembed_id, target),
                                        name=f"reembed-{collection}", daemon=True)
        self._thread.start()
        return record

    def status(self, reembed_id: uuid.UUID | None = None) -> ReembedRecord | None:
        """The re-embedding with this id, or the latest one."""
        return self._db.reembed(reembed_id)

    def active_collection(self) -> dict[str, object]:
        """The collection search uses now, with its model."""
        active = self._indexer.active
        model = active.model
        return {"collection": active.name, "model": {
            "name": model.name, "version": model.version, "dimension": model.dimension}}

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for the running re-embedding's thread (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    # -- the work ---------------------------------------------------------------------------

    def _run(self, reembed_id: uuid.UUID, target: ActiveCollection) -> None:
        try:
            self._db.count_reembed_total(reembed_id)
            while self._embed_some(reembed_id, target):
                pass
            self._switch(reembed_id, target)
        except Exception as exc:
            log.exception("re-embedding %s into %s failed", reembed_id, target.name)
            self._db.fail_reembed(reembed_id, f"{type(exc).__name__}: {exc}")
            target.index.drop()

    def _embed_some(self, reembed_id: uuid.UUID, target: ActiveCollection) -> bool:
        """Embed and project one batch of chunks still to do; False when none was left."""
        chunks = self._db.chunks_to_reembed(target.name, self._batch_size)
        if not chunks:
            return False
        vectors = target.embedder.embed_documents([embedding_text(c) for c in chunks])
        self._db.save_collection_vectors(
            reembed_id, target.name, target.model.name,
            [(c.chunk_id, v) for c, v in zip(chunks, vectors, strict=True)])
        for document_id in dict.fromkeys(c.document_id for c in chunks):
            kept = self._db.chunks_with_vectors(target.name, [document_id])
            target.index.upsert(target.model,
                                index_points(kept, self._db.get_document(document_id)))
        return True

    def _switch(self, reembed_id: uuid.UUID, target: ActiveCollection) -> None:
        with self._indexer.lock:
            # documents indexed while the bulk ran (searches wait, briefly: a few chunks)
            self._db.count_reembed_total(reembed_id)
            while self._embed_some(reembed_id, target):
                pass
            expected = {point_id_for(c) for c in self._db.visible_chunk_ids()}
            gone = [p for p in target.index.point_ids() if p not in expected]
            if gone:
                target.index.delete_points(gone)
            self._db.switch_collection(reembed_id, target.name, target.model)
            old = self._indexer.switch_to(target)
            old.index.drop()
        log.info("switched to collection %s (%s, %d-d); dropped %s", target.name,
                 target.model.name, target.model.dimension, old.name)
