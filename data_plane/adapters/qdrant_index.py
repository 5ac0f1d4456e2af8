"""``VectorIndex`` on Qdrant: local mode (a folder, the embedded default) or a server.

The collection records the embedding model it was made for in Qdrant's collection
metadata (``{"embedding_model": {"name", "version", "dimension"}}``), which qdrant-client's
local mode persists too. Every write and search names its model and is refused with
``ModelMismatch`` when that is not the recorded one, so two models never share a collection.

Local mode admits one client per folder (even within one process); a second one gets
``IndexUnavailable``. Payload indexes are created on a server only — local mode ignores them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from data_plane.adapters.index_models import (
    describe,
    require_point_dimensions,
    require_query_dimension,
    require_same_model,
)
from data_plane.domain.ports import IndexFilter, IndexHit, IndexPoint, ModelInfo
from data_plane.errors import IndexUnavailable, ModelMismatch

METADATA_KEY = "embedding_model"
DOCUMENT_ID_FIELD = "document_id"
_UPSERT_BATCH = 256
_SCROLL_PAGE = 1024
_QDRANT_ERRORS = (UnexpectedResponse, ResponseHandlingException, httpx.HTTPError)


def model_metadata(model: ModelInfo) -> dict[str, object]:
    """What the collection's metadata records about its model."""
    return {
        METADATA_KEY: {"name": model.name, "version": model.version, "dimension": model.dimension}
    }


def model_from_metadata(metadata: Mapping[str, Any] | None) -> ModelInfo | None:
    """The model recorded in a collection's metadata, or None when none is recorded."""
    recorded = (metadata or {}).get(METADATA_KEY)
    if not isinstance(recorded, dict):
        return None
    try:
        return ModelInfo(
            name=str(recorded["name"]),
            version=str(recorded["version"]),
            dimension=int(recorded["dimension"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def build_filter(flt: IndexFilter | None) -> models.Filter | None:
    """Each key must match one of its values (``MatchAny``); keys are and-ed."""
    if flt is None or not flt.must:
        return None
    return models.Filter(
        must=[
            models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))
            for key, values in sorted(flt.must.items())
        ]
    )


class QdrantVectorIndex:
    """One collection in Qdrant, bound to one embedding model.

    Give ``path`` for local mode or ``url`` (and optionally ``api_key``) for a server.
    ``keyword_fields`` get keyword payload indexes on a server (filters on them are fast).
    """

    def __init__(
        self,
        collection: str,
        *,
        path: Path | None = None,
        url: str | None = None,
        api_key: SecretStr | None = None,
        keyword_fields: Sequence[str] = (DOCUMENT_ID_FIELD,),
        timeout: int = 30,
    ) -> None:
        if (path is None) == (url is None):
            raise ValueError("give exactly one of path (local mode) or url (server)")
        if not collection:
            raise ValueError("collection name must not be empty")
        self._collection = collection
        self._local = path is not None
        self._keyword_fields = tuple(keyword_fields)
        # Local mode keeps its state in SQLite and Python structures: serialise access.
        self._lock = threading.RLock()
        self._recorded: ModelInfo | None = None
        where = str(path) if path is not None else str(url)
        try:
            if path is not None:
                Path(path).mkdir(parents=True, exist_ok=True)
                self._client = QdrantClient(path=str(path))
            else:
                self._client = QdrantClient(
                    url=url,
                    api_key=api_key.get_secret_value() if api_key is not None else None,
                    timeout=timeout,
                )
        except RuntimeError as exc:  # local folder already opened by another client
            raise IndexUnavailable(f"cannot open the Qdrant folder {where}: {exc}") from exc

    @property
    def collection(self) -> str:
        """The collection's name."""
        return self._collection

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except _QDRANT_ERRORS as exc:
                raise IndexUnavailable(
                    f"Qdrant failed to {what} collection {self._collection!r}: {type(exc).__name__}"
                ) from exc

    def recorded_model(self) -> ModelInfo | None:
        """The model the collection was made for; None when the collection does not exist.

        Raises ``ModelMismatch`` for a collection that records no model (not made here).
        """
        if self._recorded is not None:
            return self._recorded
        with self._calling("read"):
            if not self._client.collection_exists(self._collection):
                return None
            info = self._client.get_collection(self._collection)
        recorded = model_from_metadata(info.config.metadata)
        if recorded is None:
            raise ModelMismatch(
                f"collection {self._collection!r} records no embedding model; it was not "
                "made by Frostbyte (or by a Qdrant server that drops collection metadata)"
            )
        size = _vector_size(info.config.params.vectors)
        if size != recorded.dimension:
            raise ModelMismatch(
                f"collection {self._collection!r} holds {size or 'named'}-d vectors but records "
                f"{describe(recorded)}"
            )
        self._recorded = recorded
        return recorded

    def ensure(self, model: ModelInfo) -> None:
        """Create the collection for ``model`` or check that it was made for it
        (raises ``ModelMismatch`` otherwise)."""
        if model.dimension < 1:
            raise ValueError("model dimension must be positive")
        with self._lock:
            recorded = self.recorded_model()
            if recorded is None:
                self._create(model)
                self._recorded = None
                recorded = self.recorded_model()
            self._require(model, recorded)

    def _create(self, model: ModelInfo) -> None:
        try:
            with self._calling("create"):
                self._client.create_collection(
                    self._collection,
                    vectors_config=models.VectorParams(
                        size=model.dimension, distance=models.Distance.COSINE
                    ),
                    metadata=model_metadata(model),
                )
        except IndexUnavailable as exc:
            # Another worker may have created it first (server mode): then check theirs.
            cause = exc.__cause__
            if not (isinstance(cause, UnexpectedResponse) and cause.status_code == 409):
                raise
        if not self._local:
            with self._calling("index the payload of"):
                for field in self._keyword_fields:
                    self._client.create_payload_index(
                        self._collection,
                        field_name=field,
                        field_schema=models.PayloadSchemaType.KEYWORD,
                        wait=True,
                    )

    def _require(self, model: ModelInfo, recorded: ModelInfo | None) -> ModelInfo:
        if recorded is None:
            raise IndexUnavailable(
                f"collection {self._collection!r} does not exist yet; call ensure() first"
            )
        require_same_model(recorded, model, f"collection {self._collection!r}")
        return recorded

    def upsert(self, model: ModelInfo, points: Sequence[IndexPoint]) -> None:
        """Write points (idempotent by point id); refuses vectors of another model.

        Creates the collection for ``model`` when it does not exist yet.
        """
        require_point_dimensions(model, points)
        with self._lock:
            self.ensure(model)
            if not points:
                return
            with self._calling("write to"):
                for start in range(0, len(points), _UPSERT_BATCH):
                    batch = points[start : start + _UPSERT_BATCH]
                    self._client.upsert(
                        self._collection,
                        points=[
                            models.PointStruct(
                                id=p.point_id, vector=list(p.vector), payload=dict(p.payload)
                            )
                            for p in batch
                        ],
                        wait=True,
                    )

    def search(
        self, model: ModelInfo, vector: list[float], top_k: int, flt: IndexFilter | None = None
    ) -> list[IndexHit]:
        """The ``top_k`` nearest points by cosine similarity, best first.

        An index not created yet has no hits; a query of another model is refused.
        """
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        require_query_dimension(model, vector)
        with self._lock:
            recorded = self.recorded_model()
            if recorded is None:
                return []
            self._require(model, recorded)
            if flt is not None and any(not values for values in flt.must.values()):
                return []  # "any of nothing" matches nothing
            with self._calling("search"):
                response = self._client.query_points(
                    self._collection,
                    query=list(vector),
                    limit=top_k,
                    query_filter=build_filter(flt),
                    with_payload=True,
                    with_vectors=False,
                )
        return [
            IndexHit(point_id=str(p.id), score=float(p.score), payload=dict(p.payload or {}))
            for p in response.points
        ]

    def delete_document(self, document_id: str) -> int:
        """Delete every point whose payload's ``document_id`` is ``document_id``; returns
        how many there were (counted just before, under this client's lock; the delete
        itself is by filter, so a point another writer adds meanwhile goes too)."""
        with self._lock:
            if self.recorded_model() is None:
                return 0
            present = self.count(document_id)
            with self._calling("delete from"):
                self._client.delete(
                    self._collection,
                    points_selector=models.FilterSelector(filter=_document_filter(document_id)),
                    wait=True,
                )
            return present

    def count(self, document_id: str | None = None) -> int:
        """Exact number of points, all or those of one document."""
        with self._lock:
            if self.recorded_model() is None:
                return 0
            with self._calling("count"):
                result = self._client.count(
                    self._collection,
                    count_filter=_document_filter(document_id) if document_id else None,
                    exact=True,
                )
        return int(result.count)

    def point_ids(self) -> Iterator[str]:
        """Every point id in the collection, a page at a time (ids only, no payload); none
        when the collection does not exist. Each page is read under the lock, so writes
        between pages may or may not be seen."""
        offset: models.ExtendedPointId | None = None
        while True:
            with self._lock:
                if self.recorded_model() is None:
                    return
                with self._calling("list the points of"):
                    records, offset = self._client.scroll(
                        self._collection, limit=_SCROLL_PAGE, offset=offset,
                        with_payload=False, with_vectors=False,
                    )
            yield from (str(record.id) for record in records)
            if offset is None:
                return

    def delete_points(self, point_ids: Sequence[str]) -> int:
        """Delete these points; returns how many of them were there."""
        ids = list(dict.fromkeys(point_ids))
        with self._lock:
            if not ids or self.recorded_model() is None:
                return 0
            with self._calling("delete from"):
                present = self._client.retrieve(
                    self._collection, ids=ids, with_payload=False, with_vectors=False
                )
                self._client.delete(
                    self._collection, points_selector=models.PointIdsList(points=ids), wait=True
                )
            return len(present)

    def close(self) -> None:
        """Release the client (and, in local mode, the folder's lock)."""
        with self._lock:
            self._client.close()

    def drop(self) -> None:
        """Delete the collection with every point, then release the client."""
        with self._calling("drop"):
            self._client.delete_collection(self._collection)
        self.close()


def _document_filter(document_id: str) -> models.Filter:
    return models.Filter(
        must=[
            models.FieldCondition(key=DOCUMENT_ID_FIELD, match=models.MatchValue(value=document_id))
        ]
    )


def _vector_size(vectors: object) -> int | None:
    if isinstance(vectors, models.VectorParams):
        return int(vectors.size)
    return None  # named vectors: a layout this adapter never creates
