"""Search latency and recall of the vector index engines, side by side (issue 14).

For each collection size: random 384-d unit vectors with chunk-shaped payloads (document id,
heading path, page, ~800 characters of text…), built into each engine through its
``VectorIndex`` adapter; then top-10 searches, timed index-only and with the query embedded
by the real local model first, and recall@10 against exact search (numpy brute force).

Each (engine, size) runs in a child process of its own, so that its resident memory is its
own. Prints figures; no thresholds (SPEC §8).

    .venv/bin/python bench/search.py                      # 10k, 100k, 1M
    .venv/bin/python bench/search.py --sizes 10000,100000 --queries 300
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_plane.domain.ports import IndexPoint, ModelInfo, VectorIndex  # noqa: E402

DIMENSION = 384
TOP_K = 10
MODEL = ModelInfo(name="bench-random", version="1", dimension=DIMENSION)
ENGINES = ("qdrant-edge", "qdrant-local")
_BUILD_BATCH = 1000
_CHUNKS_PER_DOCUMENT = 40
_SPREAD = 0.08  # per dimension: |noise| ~ 1.6 against a unit centre
_WORDS = (
    "supplier", "invoice", "warranty", "clause", "delivery", "schedule", "safety", "data",
    "sheet", "torque", "limit", "maintenance", "interval", "calibration", "certificate",
    "hazard", "pressure", "valve", "firmware", "update", "liability", "indemnity", "payment",
    "terms", "audit", "evidence", "lot", "number", "inspection", "report", "shipment",
    "customs", "tariff", "voltage", "rating", "operating", "temperature", "replacement", "part",
    "service", "manual",
)
_TOPICS = ("warranty", "torque", "invoice", "calibration", "customs", "firmware", "valve",
           "liability", "inspection", "shipment", "voltage", "maintenance")


@dataclass(frozen=True, slots=True)
class Data:
    vectors: np.ndarray  # (n, DIMENSION) float32, unit rows
    queries: np.ndarray  # (q, DIMENSION) float32, unit rows


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIMENSION), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def near(rng: np.random.Generator, centres: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Unit vectors scattered around the picked centres (cosine ~0.55 to their centre)."""
    rows = np.empty((len(picks), DIMENSION), dtype=np.float32)
    for start in range(0, len(picks), 65_536):
        chosen = picks[start : start + 65_536]
        block = centres[chosen] + _SPREAD * rng.standard_normal(
            (len(chosen), DIMENSION), dtype=np.float32)
        rows[start : start + len(chosen)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return rows


def make_data(kind: str, size: int, queries: int, seed: int) -> Data:
    """The same vectors for every engine of one size (same seed → same data).

    ``uniform``: independent random unit vectors, as issue 14 measured: no neighbourhood
    structure at all, the worst case of any graph index. ``clustered``: each document's
    chunks scattered around a random direction of its own, and queries around the direction
    of a random document — the shape real embeddings have (nearby chunks, topics).
    """
    rng = np.random.default_rng(seed + size)
    if kind == "uniform":
        return Data(unit_rows(rng, size), unit_rows(np.random.default_rng(seed - 1), queries))
    centres = unit_rows(rng, (size + _CHUNKS_PER_DOCUMENT - 1) // _CHUNKS_PER_DOCUMENT)
    vectors = near(rng, centres, np.arange(size) // _CHUNKS_PER_DOCUMENT)
    asked = np.random.default_rng(seed - 1)
    return Data(vectors, near(asked, centres, asked.integers(0, len(centres), queries)))


def point_id(row: int) -> str:
    return str(uuid.UUID(int=row + 1))


def row_of(point_id_text: str) -> int:
    return uuid.UUID(point_id_text).int - 1


_CORPUS = " ".join(_WORDS[(i * 7) % len(_WORDS)] for i in range(4000))


def payload(row: int) -> dict[str, object]:
    """A chunk's payload as the indexer writes it: ~40 chunks per document."""
    document = row // _CHUNKS_PER_DOCUMENT
    start = (row * 7919) % (len(_CORPUS) - 800)
    return {
        "document_id": str(uuid.UUID(int=document + 1_000_000_000)),
        "chunk_id": f"c{row}",
        "batch_id": str(uuid.UUID(int=document // 50 + 2_000_000_000)),
        "heading_path": ["Manual", f"Chapter {document % 17}", f"Section {row % 9}"],
        "page": 1 + row % 40 * 3,
        "format": ("pdf", "docx", "html")[document % 3],
        "doc_type": "manual",
        "sensitivity": "INTERNAL",
        "text": _CORPUS[start : start + 800],
    }


def points(vectors: np.ndarray) -> Iterator[list[IndexPoint]]:
    for start in range(0, len(vectors), _BUILD_BATCH):
        block = vectors[start : start + _BUILD_BATCH]
        yield [IndexPoint(point_id(start + i), row.tolist(), payload(start + i))
               for i, row in enumerate(block)]


def exact_top_k(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row numbers of each query's true top-k by cosine (unit rows: the dot product)."""
    best = np.empty((len(queries), TOP_K), dtype=np.int64)
    for start in range(0, len(queries), 64):
        scores = queries[start : start + 64] @ vectors.T
        top = np.argpartition(-scores, TOP_K, axis=1)[:, :TOP_K]
        best[start : start + 64] = top
    return best


def query_texts(count: int) -> list[str]:
    """Varied questions, so that no embedding is answered from a cache."""
    return [
        f"what does the {_TOPICS[i % len(_TOPICS)]} section say about "
        f"{_WORDS[(i * 5) % len(_WORDS)]} {_WORDS[(i * 11 + 3) % len(_WORDS)]} (case {i})"
        for i in range(count)
    ]


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {f"p{p}": float(np.percentile(ms, p)) for p in (50, 95, 99)}


def open_engine(engine: str, folder: Path, args: argparse.Namespace) -> VectorIndex:
    if engine == "qdrant-edge":
        from data_plane.adapters.qdrant_edge_index import HnswSettings, QdrantEdgeVectorIndex

        hnsw = HnswSettings(m=args.m, ef_construct=args.ef_construct, search_ef=args.hnsw_ef)
        return QdrantEdgeVectorIndex(folder / "edge", hnsw=hnsw)
    from data_plane.adapters.qdrant_index import QdrantVectorIndex

    return QdrantVectorIndex("bench", path=folder / "local")


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(engine: str, size: int, queries: int, args: argparse.Namespace) -> dict[str, object]:
    """One engine at one size, in this (child) process."""
    from data_plane.adapters.embedding_local import LocalEmbeddingProvider

    data = make_data(args.data, size, queries, args.seed)
    truth = exact_top_k(data.vectors, data.queries)
    embedder = LocalEmbeddingProvider()
    texts = query_texts(queries)
    embedder.embed_query("warm-up")
    me = psutil.Process()
    rss_before = me.memory_info().rss
    with tempfile.TemporaryDirectory(prefix="bench-search-") as scratch:
        index = open_engine(engine, Path(scratch), args)
        start = time.perf_counter()
        for batch in points(data.vectors):
            index.upsert(MODEL, batch)
        build_s = time.perf_counter() - start
        indexed = getattr(index, "indexed_share", lambda: 0.0)()
        for q in data.queries[:5]:
            index.search(MODEL, q.tolist(), TOP_K)  # warm-up
        found: list[list[int]] = []
        index_only: list[float] = []
        for q in data.queries:
            vector = q.tolist()
            start = time.perf_counter()
            hits = index.search(MODEL, vector, TOP_K)
            index_only.append(time.perf_counter() - start)
            found.append([row_of(h.point_id) for h in hits])
        with_embedding = [
            timed(lambda text=text: index.search(MODEL, embedder.embed_query(text), TOP_K))
            for text in texts
        ]
        rss_after = me.memory_info().rss
        index.close()
    recall = float(np.mean([len(set(f) & set(t)) / TOP_K for f, t in zip(found, truth.tolist(),
                                                                       strict=True)]))
    return {
        "engine": engine, "size": size, "queries": queries, "build_s": build_s,
        "indexed": indexed, "rss_mb": (rss_after - rss_before) / 2**20,
        "index_only": percentiles(index_only), "with_embedding": percentiles(with_embedding),
        "recall": recall,
    }


def run_child(engine: str, size: int, queries: int, args: argparse.Namespace
              ) -> dict[str, object] | None:
    command = [sys.executable, __file__, "--child", engine, "--sizes", str(size),
               "--queries", str(queries), "--seed", str(args.seed), "--data", args.data,
               "--m", str(args.m),
               "--ef-construct", str(args.ef_construct), "--hnsw-ef", str(args.hnsw_ef)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"  {engine} at {size:,}: failed (exit {done.returncode}): "
              f"{done.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


HEADER = (f"{'engine':<13}{'points':>10}{'queries':>8}{'build s':>9}{'HNSW %':>8}{'RSS MB':>8}"
          f"{'idx p50':>9}{'p95':>9}{'p99':>9}{'emb p50':>9}{'p95':>9}{'p99':>9}{'rec@10':>8}")


def row(r: dict[str, object]) -> str:
    idx = r["index_only"]
    emb = r["with_embedding"]
    assert isinstance(idx, dict) and isinstance(emb, dict)
    hnsw = f"{100 * float(str(r['indexed'])):.0f}" if r["engine"] == "qdrant-edge" else "-"
    return (f"{r['engine']:<13}{r['size']:>10,}{r['queries']:>8}{float(str(r['build_s'])):>9.1f}"
            f"{hnsw:>8}{float(str(r['rss_mb'])):>8.0f}"
            f"{idx['p50']:>9.2f}{idx['p95']:>9.2f}{idx['p99']:>9.2f}"
            f"{emb['p50']:>9.2f}{emb['p95']:>9.2f}{emb['p99']:>9.2f}{float(str(r['recall'])):>8.3f}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="collection sizes, comma-separated")
    parser.add_argument("--queries", type=int, default=200, help="queries per engine and size")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--local-cap-size", type=int, default=100_000,
                        help="above this size qdrant-local runs --local-cap-queries queries "
                             "(a brute-force scan in Python takes seconds per query)")
    parser.add_argument("--local-cap-queries", type=int, default=20)
    parser.add_argument("--skip-local-above", type=int, default=None,
                        help="do not run qdrant-local above this size at all")
    parser.add_argument("--m", type=int, default=None, help="HNSW m (default: the adapter's)")
    parser.add_argument("--ef-construct", type=int, default=None)
    parser.add_argument("--hnsw-ef", type=int, default=None, help="search ef")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--data", choices=("clustered", "uniform"), default="clustered",
                        help="vector layout (see make_data); uniform is HNSW's worst case")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from data_plane.adapters.qdrant_edge_index import HnswSettings

    default = HnswSettings()
    args.m = args.m or default.m
    args.ef_construct = args.ef_construct or default.ef_construct
    args.hnsw_ef = args.hnsw_ef or default.search_ef
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.child:
        print(json.dumps(measure(args.child, sizes[0], args.queries, args)))
        return 0
    engines = [e for e in args.engines.split(",") if e]
    print(f"search bench: {os.cpu_count()} CPUs, {DIMENSION}-d {args.data} random unit vectors, "
          f"top-{TOP_K}, "
          f"Qdrant Edge HNSW m={args.m} ef_construct={args.ef_construct} hnsw_ef={args.hnsw_ef}; "
          "latencies in ms, 'emb' = query embedded by the local model + search; "
          "recall@10 against exact search", flush=True)
    print(f"load average (1, 5, 15 min) at the start: {os.getloadavg()}", flush=True)
    results = []
    for size in sizes:
        for engine in engines:
            queries = args.queries
            if engine == "qdrant-local":
                if args.skip_local_above is not None and size > args.skip_local_above:
                    print(f"  qdrant-local at {size:,}: skipped (--skip-local-above)", flush=True)
                    continue
                if size > args.local_cap_size and queries > args.local_cap_queries:
                    queries = args.local_cap_queries
                    print(f"  qdrant-local at {size:,}: capped at {queries} queries", flush=True)
            result = run_child(engine, size, queries, args)
            if result is not None:
                results.append(result)
                print(row(result), flush=True)
    print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}: with more than "
          f"{os.cpu_count()}, other work shared the CPUs and the figures are inflated")
    print(HEADER)
    for result in results:
        print(row(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
