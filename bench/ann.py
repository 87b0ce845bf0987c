"""In-process approximate nearest neighbours (FAISS) over the search benchmark's vectors.

The same vectors, queries and article-type filter as the PostgreSQL runs, answered inside
the Python process, so the report shows what the database costs on top of the index:

- ``exact_numpy``: brute force over the rows of the query's type (the ground truth here);
- ``faiss_per_type_hnsw``: one HNSW graph per article type (the filter is the partition);
- ``faiss_global_hnsw_filtered``: one HNSW graph over everything, searched with an id
  selector (FAISS skips rows outside the type while it walks the graph).

Both graphs use pgvector's defaults (M=16, ef_construction=64) and the same ef_search
values. Queries run on one thread, as a PostgreSQL backend does.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64

Search = Callable[[np.ndarray, int], np.ndarray]  # (query (D,), type) -> row indices (<= k)


def exact_filtered(
    vectors: np.ndarray, rows_by_type: dict[int, np.ndarray], query: np.ndarray, kind: int, k: int
) -> np.ndarray:
    """Row indices of the k nearest rows (L2) of the query's type, nearest first."""
    rows = rows_by_type[kind]
    distances = ((vectors[rows] - query) ** 2).sum(axis=1)  # (n_type,)
    nearest = np.argpartition(distances, min(k, len(rows) - 1))[:k]
    return rows[nearest[np.argsort(distances[nearest])]]


def latency_summary(milliseconds: Sequence[float]) -> dict[str, float]:
    return {
        "latency_ms_median": round(statistics.median(milliseconds), 3),
        "latency_ms_p95": round(float(np.percentile(milliseconds, 95)), 3),
    }


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return len(set(found.tolist()) & set(truth.tolist())) / max(1, len(truth))


def measure(
    search: Search, queries: np.ndarray, kinds: np.ndarray, truths: list[np.ndarray], k: int
) -> dict[str, float]:
    """Latency, recall@k against `truths` and share of queries short of k rows."""
    timings, recalls, short = [], [], 0
    for query, kind, truth in zip(queries, kinds, truths, strict=True):
        started = time.perf_counter()
        found = search(query, int(kind))
        timings.append((time.perf_counter() - started) * 1000)
        recalls.append(recall(found, truth))
        short += len(found) < k
    return {
        **latency_summary(timings),
        f"recall_at_{k}": round(float(np.mean(recalls)), 4),
        "share_short_of_k": round(short / len(queries), 4),
    }


def _hnsw(vectors: np.ndarray):
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(vectors)
    return index


def index_bytes(index) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def compare_in_process(
    vectors: np.ndarray,
    types: np.ndarray,
    queries: np.ndarray,
    query_types: np.ndarray,
    *,
    k: int,
    ef_search_values: Sequence[int],
) -> dict:
    """Build both FAISS layouts, then time every method for each ef_search (JSON-ready)."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-probe chatter
    import faiss

    rows_by_type = {int(kind): np.flatnonzero(types == kind) for kind in np.unique(types)}
    started = time.perf_counter()
    truths = [
        exact_filtered(vectors, rows_by_type, query, int(kind), k)
        for query, kind in zip(queries, query_types, strict=True)
    ]
    exact = measure(
        lambda query, kind: exact_filtered(vectors, rows_by_type, query, kind, k),
        queries,
        query_types,
        truths,
        k,
    )
    logger.info("in-process exact search: %.1f s", time.perf_counter() - started)

    started = time.perf_counter()
    per_type = {
        kind: _hnsw(np.ascontiguousarray(vectors[rows])) for kind, rows in rows_by_type.items()
    }
    per_type_seconds = time.perf_counter() - started
    started = time.perf_counter()
    global_index = _hnsw(vectors)
    global_seconds = time.perf_counter() - started
    selectors = {}
    for kind, rows in rows_by_type.items():
        member = np.zeros(len(vectors), dtype=bool)
        member[rows] = True
        bitmap = np.packbits(member, bitorder="little")  # kept alive beside its selector
        selectors[kind] = (faiss.IDSelectorBitmap(len(vectors), faiss.swig_ptr(bitmap)), bitmap)

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    by_ef = {}
    try:
        for ef in ef_search_values:

            def search_per_type(query: np.ndarray, kind: int, ef: int = ef) -> np.ndarray:
                index = per_type[kind]
                index.hnsw.efSearch = ef
                _, found = index.search(query[None, :], k)  # (1, k)
                found = found[0][found[0] >= 0]
                return rows_by_type[kind][found]

            def search_global(query: np.ndarray, kind: int, ef: int = ef) -> np.ndarray:
                parameters = faiss.SearchParametersHNSW(efSearch=ef, sel=selectors[kind][0])
                _, found = global_index.search(query[None, :], k, params=parameters)
                return found[0][found[0] >= 0]

            by_ef[str(ef)] = {
                "exact_numpy": exact,
                "faiss_per_type_hnsw": measure(search_per_type, queries, query_types, truths, k),
                "faiss_global_hnsw_filtered": measure(
                    search_global, queries, query_types, truths, k
                ),
            }
    finally:
        faiss.omp_set_num_threads(threads)
    return {
        "library": f"faiss {faiss.__version__}",
        "hnsw": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
        "build_threads": threads,
        "query_threads": 1,
        "build_seconds": {
            "faiss_per_type_hnsw": round(per_type_seconds, 1),
            "faiss_global_hnsw_filtered": round(global_seconds, 1),
        },
        "index_bytes": {
            "faiss_per_type_hnsw": sum(index_bytes(index) for index in per_type.values()),
            "faiss_global_hnsw_filtered": index_bytes(global_index),
        },
        "by_ef_search": by_ef,
    }
