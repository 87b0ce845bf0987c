"""Sample outputs of the sub-benchmarks, shaped like their real JSON, for the report tests."""

from __future__ import annotations

import pytest


def _recall(r1: float, r5: float, r20: float) -> dict[str, float]:
    """An R@1..R@50 table rising through the three given points."""
    table = {}
    for k in range(1, 51):
        table[f"R@{k}"] = r1 if k < 5 else r5 if k < 20 else r20
    return table


@pytest.fixture
def retrieval_results() -> dict:
    """recommender.evaluate.retrieval's results.json, trimmed."""
    return {
        "catalog_items": 9583,
        "pairs": 2032,
        "held_out_pairs": 626,
        "baseline_reproduction": [
            {
                "query": "ground-truth top crop",
                "gallery": "2032 shop photos",
                **_recall(0.09, 0.17, 0.28),
            },
            {
                "query": "ground-truth top crop",
                "gallery": "2032 shop + 9583 catalog",
                **_recall(0.05, 0.08, 0.13),
            },
        ],
        "exact_match": {
            "imagenet": {"gallery": 10209, "no filter": _recall(0.027, 0.035, 0.074)},
            "tag-embedder-quick@97da1d4d1856": {
                "gallery": 10209,
                "no filter": _recall(0.412, 0.687, 0.851),
                "filter articleType": _recall(0.45, 0.7, 0.86),
                "filter articleType keeps target": 0.93,
            },
        },
        "catalog_recall": {
            "imagenet": {"recall@10": 0.30, "NDCG@10": 0.32},
            "tag-embedder-quick@97da1d4d1856": {"recall@10": 0.45, "NDCG@10": 0.47},
        },
        "tagging": {
            "tag-embedder-quick@97da1d4d1856": {
                "items": 918,
                "top1": {"articleType": 0.875, "baseColour": 0.575},
                "mAP": 0.61,
            }
        },
    }


@pytest.fixture
def pipeline_results() -> dict:
    return {
        "evaluated_pairs": 60,
        "gallery": 10209,
        "fallback_rate": 0.05,
        "detector_iou0.5_hit_rate": 0.7,
        "detect_ms_per_photo": 120.5,
        "recall": {
            "full pipeline": _recall(0.12, 0.29, 0.45),
            "ground-truth crop": _recall(0.41, 0.69, 0.85),
            "whole photo": _recall(0.02, 0.05, 0.16),
        },
    }


@pytest.fixture
def detection_metrics() -> dict:
    corloc = {"footwear": 0.1, "bag": 0.2, "top": 0.4, "bottom": 0.15, "dress": 0.2, "eyewear": 0.0}
    return {
        "split": "test",
        "photos": 40,
        "zero_shot_baseline": {
            "corloc": {**corloc, "mean": 0.175},
            "precision": 0.3,
            "recall": 0.4,
        },
        "trained": {
            "corloc": {name: value + 0.1 for name, value in {**corloc, "mean": 0.175}.items()},
            "precision": 0.35,
            "recall": 0.45,
        },
    }


def _method(median: float, recall: float) -> dict[str, float]:
    return {
        "latency_ms_median": median,
        "latency_ms_p95": 2 * median,
        "recall_at_20": recall,
        "share_short_of_k": 0.0,
    }


@pytest.fixture
def search_results() -> dict:
    """bench/search.py's JSON for one size, with the in-process comparison."""
    database = {
        "selector": _method(5.3, 0.999),
        "naive_hnsw": _method(8.1, 0.99),
        "exact": _method(168.7, 1.0),
    }
    in_process = {
        "exact_numpy": _method(3.7, 1.0),
        "faiss_per_type_hnsw": _method(0.25, 0.993),
        "faiss_global_hnsw_filtered": _method(0.34, 0.995),
    }
    return {
        "postgres": "PostgreSQL 18.6",
        "pgvector": "0.8.6",
        "sizes": {
            "100000": {
                "load_seconds": 36.3,
                "index_build_seconds": 30.5,
                "embedding_table_bytes": 282_509_312,
                "hnsw_index_bytes": 136_593_408,
                "by_ef_search": {"40": database, "100": database},
                "in_process": {
                    "build_seconds": {
                        "faiss_per_type_hnsw": 23.4,
                        "faiss_global_hnsw_filtered": 22.3,
                    },
                    "index_bytes": {
                        "faiss_per_type_hnsw": 116_807_358,
                        "faiss_global_hnsw_filtered": 116_833_274,
                    },
                    "by_ef_search": {"40": in_process, "100": in_process},
                },
            }
        },
    }
