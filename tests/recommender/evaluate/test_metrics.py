from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.evaluate.metrics import (
    average_precision,
    mean_average_precision,
    ndcg_at_k,
    precision_at_k,
    ranks_of_targets,
    recall_at_k,
)


def test_ranks_and_recall_on_a_hand_made_ranking() -> None:
    similarities = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.1, 0.1, 0.0]])
    ranks = ranks_of_targets(similarities, np.array([0, 0, 1]))

    assert ranks.tolist() == [0.0, 2.0, 1.0]  # the tie in row 3 counts against the target
    assert recall_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranks, 3) == 1.0


def test_filtered_out_target_is_a_miss_and_filter_removes_competitors() -> None:
    similarities = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]])
    allowed = np.array([[False, True, True], [True, True, False]])

    ranks = ranks_of_targets(similarities, np.array([0, 1]), allowed)

    assert math.isinf(ranks[0]) and ranks[1] == 0.0


def test_precision_and_ndcg_at_k() -> None:
    relevance = np.array([[1, 0, 1], [0, 0, 0]], dtype=bool)

    assert precision_at_k(relevance, 3) == pytest.approx((2 / 3 + 0) / 2)
    dcg = 1 + 1 / np.log2(4)
    ideal = 1 + 1 / np.log2(3)
    assert ndcg_at_k(relevance[:1], np.array([2]), 3) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(relevance[1:], np.array([0]), 3) == 0.0


def test_average_precision() -> None:
    assert average_precision(np.array([0.9, 0.8, 0.1]), np.array([1, 0, 1])) == pytest.approx(
        (1 + 2 / 3) / 2
    )
    assert math.isnan(average_precision(np.array([0.1]), np.array([0])))
    scores = np.array([[0.9, 0.2], [0.1, 0.8]])
    assert mean_average_precision(scores, np.eye(2)) == 1.0
