"""Retrieval: vector search whose hits are read back from PostgreSQL and proven.

The index only nominates chunk ids; text, hashes and visibility come from the system of
record, so a hit can only be a chunk of an INDEXED, current document, and the proof's
hashes are of exactly the text returned. Every search is an audit event.
"""

from __future__ import annotations

from typing import Protocol

from data_plane.domain.ports import (
    Chunks,
    EmbeddingProvider,
    IndexFilter,
    RetrievalLog,
    VectorIndex,
)
from data_plane.domain.retrieval import (
    IndexIdentity,
    Proof,
    SearchRequest,
    SearchResponse,
    make_hit,
    new_boundary,
    retrieval_payload,
)
from data_plane.services.pipeline import IndexService
from frostbyte_common.canonical_json import sha256_hex


def index_filter(request: SearchRequest) -> IndexFilter | None:
    """Pure: the request's filters as exact-match payload filters on the index."""
    f = request.filters
    if f is None:
        return None
    must: dict[str, list[str]] = {}
    if f.document_ids:
        must["document_id"] = list(f.document_ids)
    if f.parent_document_ids:
        must["parent_document_id"] = list(f.parent_document_ids)
    if f.batch_ids:
        must["batch_id"] = list(f.batch_ids)
    if f.formats:
        must["format"] = list(f.formats)
    if f.doc_types:
        must["doc_type"] = [t.lower() for t in f.doc_types]
    if f.sensitivity:
        must["sensitivity"] = [s.upper() for s in f.sensitivity]
    return IndexFilter(must=must) if must else None


class SearchStore(Chunks, RetrievalLog, Protocol):
    """What search needs of the system of record."""


class SearchService:
    def __init__(self, *, db: SearchStore, index: VectorIndex, embedder: EmbeddingProvider,
                 indexer: IndexService) -> None:
        self._db = db
        self._index = index
        self._embedder = embedder
        self._indexer = indexer

    def search(self, request: SearchRequest, *, actor: str) -> SearchResponse:
        self._indexer.ensure()
        while True:
            # One collection throughout, with its own model: a re-embedding's switch
            # between the query's embedding and the search means doing both again there.
            active = self._indexer.active
            model = active.model
            vector = active.embedder.embed_query(request.query)
            # Ask for extra candidates: a nominated chunk of a superseded or deleted
            # document is dropped when read back from PostgreSQL.
            with self._indexer.lock:
                if self._indexer.active is not active:
                    continue
                candidates = active.index.search(model, vector, request.top_k * 2,
                                                 index_filter(request))
            break
        rows = self._db.chunks_by_ids([str(c.payload["chunk_id"]) for c in candidates])
        found = [(row, cand.score) for cand in candidates
                 if (row := rows.get(str(cand.payload["chunk_id"]))) is not None]
        found = found[:request.top_k]
        boundary = new_boundary(t for row, _ in found
                                for t in (row.text, row.document_name))
        hits = [make_hit(row, score, boundary=boundary) for row, score in found]
        identity = IndexIdentity(model=model.name, version=model.version,
                                 dimension=model.dimension)
        event = self._db.record_retrieval(actor, retrieval_payload(request.query, hits,
                                                                   identity))
        return SearchResponse(
            hits=hits,
            proof=Proof(query_sha256=sha256_hex(request.query), index=identity,
                        chunk_hashes=[h.content_sha256 for h in hits], audit_seq=event.seq,
                        audit_hash=event.hash),
            boundary=boundary,
        )
