"""Small doubles of the pipeline's ports for integration tests whose subject is not
embedding or queueing: deterministic word-hash vectors and a queue that only records."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from data_plane.domain.ports import ModelInfo

MODEL = ModelInfo(name="hash-embedder", version="1", dimension=16)


class HashEmbedder:
    """Deterministic vectors from word hashes: similar words, similar vectors."""

    model = MODEL

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * MODEL.dimension
        for word in re.findall(r"\w+", text.lower()):
            v[int(hashlib.sha256(word.encode()).hexdigest(), 16) % MODEL.dimension] += 1.0
        return v if any(v) else [1.0] + [0.0] * (MODEL.dimension - 1)

    def embed_documents(self, texts: Any) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


@dataclass
class ListQueue:
    """Records the index jobs the pipeline enqueues (the test runs them itself)."""

    index_jobs: list[str] = field(default_factory=list)

    def enqueue_process(self, document_id: str) -> None:  # pragma: no cover - unused
        pass

    def enqueue_index(self, document_id: str) -> None:
        self.index_jobs.append(document_id)
