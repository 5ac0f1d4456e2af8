"""The worker embeds each document with the model of the collection active when it gets to
the embed stage (issue 18): after a re-embedding's switch, new documents are embedded with
the new model at once — their chunks saved under that model's name, with its vectors, and
``document.embedded`` naming it — never the old model's vectors under the new name."""

from __future__ import annotations

import uuid

from data_plane.domain.ports import EmbeddingProvider, ModelInfo
from data_plane.services.pipeline import ProcessOutcome
from tests.pipeline_doubles import HashEmbedder
from tests.unit.data_plane.test_pipeline_service import Plane, TextParser, plane  # noqa: F401

NEW = ModelInfo(name="second-model", version="1", dimension=16)


class SecondEmbedder(HashEmbedder):
    """Another model: the hash embedder's vectors, reversed."""

    model = NEW

    def embed_documents(self, texts: object) -> list[list[float]]:
        return [v[::-1] for v in super().embed_documents(texts)]


def test_each_document_is_embedded_with_the_model_active_at_its_embed_stage(
        plane: Plane) -> None:  # noqa: F811
    first, second = HashEmbedder(), SecondEmbedder()
    active: list[EmbeddingProvider] = [first]
    pipeline = plane.pipeline()
    pipeline._active_embedder = lambda: active[0]
    before = plane.accept("before.txt", "The crane hoist rope was replaced in March.")
    assert pipeline.process(before) is ProcessOutcome.EMBEDDED
    active[0] = second  # the switch
    after = plane.accept("after.txt", "The orchard pumps were serviced in April.")
    assert pipeline.process(after) is ProcessOutcome.EMBEDDED

    [old_chunk] = plane.db.document_chunks(uuid.UUID(before))
    [new_chunk] = plane.db.document_chunks(uuid.UUID(after))
    assert old_chunk.embedding_model == "hash-embedder"
    assert new_chunk.embedding_model == "second-model"
    assert list(new_chunk.embedding) == second.embed_documents(
        ["The orchard pumps were serviced in April."])[0]
    embedded = [e for e in plane.db.audit_events() if e.event_type == "document.embedded"]
    assert [e.payload["model"] for e in embedded] == ["hash-embedder", "second-model"]
