"""The SQL of re-embedding (``EmbeddingCollections``, migration 009) for ``TenantDatabase``:
the vectors of a collection being built (``chunk_embeddings``), the re-embeddings' own
rows (``reembeddings``) and the switch — one transaction that moves the new vectors into
``chunks.embedding``, flips ``vector_index`` (the active collection) and appends
``embedding.switched``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from data_plane.domain.embedding_models import ReembedRecord
from data_plane.domain.ports import ModelInfo
from data_plane.domain.records import NewEvent, StoredChunk
from data_plane.errors import ReembedInProgress

if TYPE_CHECKING:
    from data_plane.adapters.audit_store import AuditStore

Conn = psycopg.Connection[dict[str, Any]]

#: What search may show: an INDEXED, current document.
_VISIBLE = "d.status = 'INDEXED' AND d.superseded_by IS NULL"


def reembed_record(r: dict[str, Any]) -> ReembedRecord:
    return ReembedRecord(
        reembed_id=str(r["reembed_id"]), collection=r["collection"], model=r["model"],
        version=r["version"], dimension=r["dimension"], from_collection=r["from_collection"],
        from_model=r["from_model"], state=r["state"], chunks_total=r["chunks_total"],
        chunks_done=r["chunks_done"], error=r["error"], actor=r["actor"],
        started_at=r["started_at"], finished_at=r["finished_at"])


def stored_chunk(r: dict[str, Any]) -> StoredChunk:
    return StoredChunk(
        chunk_id=r["chunk_id"], document_id=r["document_id"], ordinal=r["ordinal"],
        text=r["text"], content_sha256=r["content_sha256"],
        heading_path=tuple(r["heading_path"]), page=r["page"], pages=tuple(r["pages"]),
        sheet=r["sheet"], element_indexes=tuple(r["element_indexes"]),
        token_count=r["token_count"], embedding_model=r["embedding_model"],
        embedding=tuple(r["embedding"]), document_name=r["document_name"],
        batch_id=r["batch_id"], mime_type=r["mime_type"])


def start(conn: Conn, reembed_id: uuid.UUID, collection: str, model: ModelInfo,
          actor: str) -> ReembedRecord:
    active = conn.execute("SELECT collection, model FROM vector_index").fetchone()
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO reembeddings (reembed_id, collection, model, version, dimension,"
                " from_collection, from_model, state, actor) VALUES"
                " (%s,%s,%s,%s,%s,%s,%s,'RUNNING',%s) RETURNING *",
                (reembed_id, collection, model.name, model.version, model.dimension,
                 active["collection"] if active else None,
                 active["model"] if active else None, actor)).fetchone()
    except psycopg.errors.UniqueViolation:
        raise ReembedInProgress("a re-embedding of this tenant is running already; "
                                "wait for it to end (GET /control/v1/reembed)") from None
    assert row is not None
    return reembed_record(row)


def get(conn: Conn, reembed_id: uuid.UUID | None) -> ReembedRecord | None:
    if reembed_id is None:
        row = conn.execute("SELECT * FROM reembeddings ORDER BY started_at DESC LIMIT 1"
                           ).fetchone()
    else:
        row = conn.execute("SELECT * FROM reembeddings WHERE reembed_id = %s",
                           (reembed_id,)).fetchone()
    return reembed_record(row) if row else None


_CHUNK_COLUMNS = ("c.chunk_id, c.document_id, c.ordinal, c.text, c.content_sha256,"
                  " c.heading_path, c.page, c.pages, c.sheet, c.element_indexes,"
                  " c.token_count, d.name AS document_name, d.batch_id, d.mime_type")


def chunks_to_reembed(conn: Conn, collection: str, limit: int) -> list[StoredChunk]:
    rows = conn.execute(
        f"SELECT {_CHUNK_COLUMNS}, c.embedding_model, c.embedding FROM chunks c"
        f" JOIN documents d USING (document_id) WHERE {_VISIBLE} AND NOT EXISTS"
        " (SELECT 1 FROM chunk_embeddings e WHERE e.collection = %s"
        " AND e.chunk_id = c.chunk_id) ORDER BY c.document_id, c.ordinal LIMIT %s",
        (collection, limit)).fetchall()
    return [stored_chunk(r) for r in rows]


def chunks_with_vectors(conn: Conn, collection: str,
                        document_ids: Sequence[uuid.UUID]) -> list[StoredChunk]:
    rows = conn.execute(
        f"SELECT {_CHUNK_COLUMNS}, e.model AS embedding_model, e.embedding FROM chunks c"
        " JOIN documents d USING (document_id)"
        " JOIN chunk_embeddings e ON e.chunk_id = c.chunk_id AND e.collection = %s"
        " WHERE c.document_id = ANY(%s) ORDER BY c.document_id, c.ordinal",
        (collection, list(document_ids))).fetchall()
    return [stored_chunk(r) for r in rows]


def save_vectors(conn: Conn, reembed_id: uuid.UUID, collection: str, model: str,
                 vectors: Sequence[tuple[str, Sequence[float]]]) -> int:
    kept = 0
    for chunk_id, vector in vectors:
        row = conn.execute(
            "INSERT INTO chunk_embeddings (chunk_id, collection, model, embedding)"
            " SELECT chunk_id, %s, %s, %s FROM chunks WHERE chunk_id = %s"
            " ON CONFLICT (collection, chunk_id) DO UPDATE SET embedding = EXCLUDED.embedding"
            " RETURNING chunk_id", (collection, model, list(vector), chunk_id)).fetchone()
        kept += row is not None
    conn.execute("UPDATE reembeddings SET chunks_done = chunks_done + %s"
                 " WHERE reembed_id = %s", (kept, reembed_id))
    return kept


def count_total(conn: Conn, reembed_id: uuid.UUID) -> int:
    """Record (and return) how many chunks the re-embedding has in all: those done and
    those of documents search may show still to do."""
    row = conn.execute(
        "UPDATE reembeddings r SET chunks_total = r.chunks_done + (SELECT count(*)"
        f" FROM chunks c JOIN documents d USING (document_id) WHERE {_VISIBLE}"
        " AND NOT EXISTS (SELECT 1 FROM chunk_embeddings e WHERE e.collection ="
        " r.collection AND e.chunk_id = c.chunk_id)) WHERE reembed_id = %s"
        " RETURNING chunks_total", (reembed_id,)).fetchone()
    return int(row["chunks_total"]) if row else 0


def visible_chunk_ids(conn: Conn) -> set[str]:
    rows = conn.execute("SELECT c.chunk_id FROM chunks c JOIN documents d"
                        f" USING (document_id) WHERE {_VISIBLE}").fetchall()
    return {r["chunk_id"] for r in rows}


def interrupted(conn: Conn) -> list[ReembedRecord]:
    """End FAILED every re-embedding still RUNNING (its process stopped): at start."""
    rows = conn.execute(
        "UPDATE reembeddings SET state = 'FAILED', finished_at = now(), error ="
        " 'interrupted: the data plane stopped while it ran' WHERE state = 'RUNNING'"
        " RETURNING *").fetchall()
    for r in rows:
        conn.execute("DELETE FROM chunk_embeddings WHERE collection = %s", (r["collection"],))
    return [reembed_record(r) for r in rows]


def switch(conn: Conn, audit: AuditStore, reembed_id: uuid.UUID, collection: str,
           model: ModelInfo) -> None:
    moved = conn.execute(
        "UPDATE chunks c SET embedding = e.embedding, embedding_model = e.model"
        " FROM chunk_embeddings e WHERE e.collection = %s AND e.chunk_id = c.chunk_id",
        (collection,)).rowcount
    before = conn.execute("SELECT collection, model, version, dimension FROM vector_index"
                          ).fetchone()
    conn.execute(
        "INSERT INTO vector_index (collection, model, version, dimension)"
        " VALUES (%s,%s,%s,%s) ON CONFLICT (singleton) DO UPDATE SET"
        " collection = EXCLUDED.collection, model = EXCLUDED.model,"
        " version = EXCLUDED.version, dimension = EXCLUDED.dimension",
        (collection, model.name, model.version, model.dimension))
    conn.execute("DELETE FROM chunk_embeddings WHERE collection = %s", (collection,))
    row = conn.execute(
        "UPDATE reembeddings SET state = 'SWITCHED', finished_at = now()"
        " WHERE reembed_id = %s RETURNING actor", (reembed_id,)).fetchone()
    actor = row["actor"] if row else "data-plane"
    audit.append_many(conn, [NewEvent(actor, "embedding.switched", "collection", collection, {
        "reembed_id": str(reembed_id), "chunks": moved,
        "model": {"name": model.name, "version": model.version,
                  "dimension": model.dimension},
        "from": dict(before) if before else None})])


def fail(conn: Conn, reembed_id: uuid.UUID, error: str) -> None:
    row = conn.execute(
        "UPDATE reembeddings SET state = 'FAILED', error = %s, finished_at = now()"
        " WHERE reembed_id = %s AND state = 'RUNNING' RETURNING collection",
        (error[:2000], reembed_id)).fetchone()
    if row is not None:
        conn.execute("DELETE FROM chunk_embeddings WHERE collection = %s",
                     (row["collection"],))


def replace_vectors(conn: Conn, document_id: uuid.UUID, model: str,
                    vectors: Sequence[tuple[str, Sequence[float]]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE chunks SET embedding = %s, embedding_model = %s"
            " WHERE chunk_id = %s AND document_id = %s",
            [(list(v), model, chunk_id, document_id) for chunk_id, v in vectors])
