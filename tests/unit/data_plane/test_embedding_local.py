"""What the local provider promises beyond the port: identity of a custom model folder,
bf16 vectors interchangeable with fp32, one load under concurrent first use."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from data_plane.adapters.embedding_local import (
    LocalEmbeddingProvider,
    config_fingerprint,
    default_model_path,
    native_bf16,
    resolve_precision,
)
from data_plane.errors import EmbeddingUnavailable


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged model under another folder name (files linked, not copied)."""
    source = default_model_path()
    target = tmp_path_factory.mktemp("models") / "my-minilm"
    for path in source.rglob("*"):
        if path.is_file():
            link = target / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
    return target


def test_a_custom_folder_is_named_after_itself_and_versioned_by_its_config(
    model_copy: Path,
) -> None:
    provider = LocalEmbeddingProvider(model_copy, precision="fp32")
    model = provider.model
    assert model.name == "my-minilm"
    assert model.version == config_fingerprint(model_copy)
    assert model.version.startswith("cfg-")
    assert model.dimension == 384


def test_bf16_vectors_match_fp32(model_copy: Path) -> None:
    texts = [
        "Invoices are due thirty days after receipt. " * 8,
        "Der Vertrag endet am 31. Dezember.",
        "A short one.",
    ]
    fp32 = LocalEmbeddingProvider(model_copy, precision="fp32").embed_documents(texts)
    bf16 = LocalEmbeddingProvider(precision="bf16").embed_documents(texts)
    for a, b in zip(fp32, bf16, strict=True):
        assert sum(x * y for x, y in zip(a, b, strict=True)) > 0.998


def test_fingerprint_follows_the_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"hidden_size": 384}')
    first = config_fingerprint(tmp_path)
    assert first == config_fingerprint(tmp_path)
    (tmp_path / "config.json").write_text('{"hidden_size": 768}')
    assert config_fingerprint(tmp_path) != first


def test_a_folder_without_a_model_is_unavailable(tmp_path: Path) -> None:
    provider = LocalEmbeddingProvider(tmp_path / "missing")
    with pytest.raises(EmbeddingUnavailable, match="no sentence-transformers model"):
        _ = provider.model


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        LocalEmbeddingProvider(precision="fp16")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        LocalEmbeddingProvider(batch_size=0)


def test_concurrent_first_use_loads_once(model_copy: Path) -> None:
    provider = LocalEmbeddingProvider(model_copy)
    loads: list[int] = []
    real_load = provider._load_model

    def counting_load():  # type: ignore[no-untyped-def]
        loads.append(1)
        return real_load()

    provider._load_model = counting_load  # type: ignore[method-assign]
    results: list[list[float]] = []
    threads = [
        threading.Thread(target=lambda: results.append(provider.embed_query("hello")))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1]
    assert len(results) == 4


@pytest.mark.parametrize(("flags", "expected"), [
    ("fpu sse2 avx avx2 fma", "fp32"),  # AVX2 only: bf16 is emulated and several times slower
    ("fpu avx2 avx512f avx512_bf16", "bf16"),
    ("fpu avx2 amx_bf16 amx_tile", "bf16"),
])
def test_auto_precision_is_bf16_only_where_the_cpu_computes_it(
        tmp_path: Path, flags: str, expected: str) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\n"
                       f"processor\t: 1\nflags\t\t: {flags}\n")
    assert resolve_precision("auto", has_native_bf16=native_bf16(cpuinfo)) == expected


def test_an_explicit_precision_wins_and_an_unreadable_cpuinfo_means_fp32(
        tmp_path: Path) -> None:
    assert resolve_precision("bf16", has_native_bf16=False) == "bf16"
    assert resolve_precision("fp32", has_native_bf16=True) == "fp32"
    assert native_bf16(tmp_path / "absent") is False
