"""Ports of the data plane: what the services need from the outside world.

Each port has a real adapter in ``data_plane.adapters`` and one contract test in
``tests/contract`` that every adapter of the port must pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from data_plane.domain.canonical import CanonicalDocument


class ObjectStore(Protocol):
    """Blob storage under one tenant's root. Keys are '/'-separated relative paths."""

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        """Store the file at ``source`` under ``key`` atomically (replace if present).
        ``move=True``: the caller gives ``source`` up (a scratch file); the store may take
        it over instead of copying it, and ``source`` may be gone afterwards."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically."""

    def open(self, key: str) -> BinaryIO:
        """Open the object for streaming reads; raises ``ObjectNotFound``."""

    def get_bytes(self, key: str) -> bytes:
        """Read a (small) object whole; raises ``ObjectNotFound``."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Delete the object; deleting a missing key is not an error. True when an object
        was there (erasure reports what it removed)."""

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, sorted."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Identity of an embedding model: vectors of two models never share a collection."""

    name: str
    version: str
    dimension: int


class EmbeddingProvider(Protocol):
    """Turns texts into vectors. Documents and queries may be embedded differently
    (e.g. nomic's ``search_document:`` / ``search_query:`` prefixes)."""

    @property
    def model(self) -> ModelInfo: ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class IndexPoint:
    point_id: str  # a UUID string derived from the chunk id
    vector: list[float]
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class IndexHit:
    point_id: str
    score: float
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class IndexFilter:
    """Exact-match filters on payload keys; a list value means 'any of'."""

    must: dict[str, list[str]] = field(default_factory=dict)


class VectorIndex(Protocol):
    """One tenant's vector collection, bound to one embedding model."""

    def ensure(self, model: ModelInfo) -> None:
        """Create the collection for ``model`` or check that it was made for it
        (raises ``ModelMismatch`` otherwise)."""

    def upsert(self, model: ModelInfo, points: Sequence[IndexPoint]) -> None:
        """Write points (idempotent by point id); refuses vectors of another model."""

    def delete_document(self, document_id: str) -> int:
        """Delete every point of the document; returns how many there were (0 for none,
        or when the collection does not exist yet)."""

    def search(
        self, model: ModelInfo, vector: list[float], top_k: int, flt: IndexFilter | None = None
    ) -> list[IndexHit]: ...

    def count(self, document_id: str | None = None) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ParseRequest:
    document_id: str
    tenant: str
    path: Path
    name: str
    mime_type: str
    sha256: str
    ocr_languages: tuple[str, ...] = ("eng",)
    #: Where an e-mail's attachments are written (the job's scratch folder, so that the
    #: worker can put each through intake); None: they are only listed.
    attachments_dir: Path | None = None


class Parser(Protocol):
    """Turns one file into a canonical document. Never raises for a bad document: a
    failure is a ``CanonicalDocument`` with status FAILED and error items."""

    name: str

    def parse(self, request: ParseRequest) -> CanonicalDocument: ...


class JobQueue(Protocol):
    """Durable pipeline jobs. Enqueueing a job that is already waiting is a no-op."""

    def enqueue_process(self, document_id: str) -> None:
        """Parse, chunk and embed one accepted document."""

    def enqueue_index(self, document_id: str) -> None:
        """Project one embedded document's chunks into the vector index."""
