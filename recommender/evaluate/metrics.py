"""Ranking and tagging metrics on plain arrays (no model code)."""

from __future__ import annotations

import numpy as np


def ranks_of_targets(
    similarities: np.ndarray, targets: np.ndarray, allowed: np.ndarray | None = None
) -> np.ndarray:
    """0-based rank of each query's target among the allowed gallery items (N,) float.

    similarities (Q, G), higher is closer; targets (Q,) gallery indices; allowed (Q, G) bool
    restricts each query's gallery (a filter). A filtered-out target gets rank inf (a miss).
    Ties count against the target (pessimistic).
    """
    similarities = np.asarray(similarities, dtype=np.float64)
    rows = np.arange(len(targets))
    target_scores = similarities[rows, targets][:, None]  # (Q, 1)
    ahead = similarities >= target_scores  # (Q, G), includes the target itself
    if allowed is not None:
        ahead &= allowed
    ranks = ahead.sum(axis=1).astype(np.float64) - 1.0  # (Q,)
    if allowed is not None:
        ranks[~allowed[rows, targets]] = np.inf
    return ranks


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose target ranks in the top k."""
    ranks = np.asarray(ranks)
    return float((ranks < k).mean()) if len(ranks) else 0.0


def precision_at_k(relevance: np.ndarray, k: int) -> float:
    """relevance (Q, >=k) bool of each query's ranked list -> mean share relevant in the top k."""
    relevance = np.asarray(relevance, dtype=np.float64)[:, :k]
    return float(relevance.mean(axis=1).mean()) if len(relevance) else 0.0


def ndcg_at_k(relevance: np.ndarray, num_relevant: np.ndarray, k: int) -> float:
    """Binary-relevance NDCG@k; the ideal list puts min(k, num_relevant) hits first."""
    relevance = np.asarray(relevance, dtype=np.float64)[:, :k]  # (Q, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))  # (k,)
    dcg = (relevance * discounts[: relevance.shape[1]]).sum(axis=1)  # (Q,)
    ideal_counts = np.minimum(np.asarray(num_relevant), k)
    ideal = np.array([discounts[: int(count)].sum() for count in ideal_counts])  # (Q,)
    scores = np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)
    return float(scores.mean()) if len(scores) else 0.0


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP of one ranking: mean of precision at each positive's rank (nan when no positive)."""
    labels = np.asarray(labels, dtype=bool)
    if not labels.any():
        return float("nan")
    order = np.argsort(-np.asarray(scores), kind="stable")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def mean_average_precision(
    scores: np.ndarray, labels: np.ndarray, masks: np.ndarray | None = None
) -> float:
    """Mean over label columns (with a positive) of AP over the items (N, T) where mask is 1."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    values = []
    for column in range(scores.shape[1]):
        rows = slice(None) if masks is None else np.asarray(masks)[:, column] > 0
        ap = average_precision(scores[rows, column], labels[rows, column])
        if not np.isnan(ap):
            values.append(ap)
    return float(np.mean(values)) if values else float("nan")
