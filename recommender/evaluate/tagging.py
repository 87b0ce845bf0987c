"""Tagging quality: top-1 accuracy per tag group and mAP over tags."""

from __future__ import annotations

import numpy as np

from recommender.evaluate.metrics import mean_average_precision
from recommender.tags import TagVocabulary


def top1_accuracy_per_group(
    scores: np.ndarray, targets: np.ndarray, masks: np.ndarray, vocabulary: TagVocabulary
) -> dict[str, float]:
    """Per group, share of labelled items whose highest-scoring value is the true one.

    scores/targets/masks are (N, T); items without a label in a group are left out of it.
    """
    accuracies: dict[str, float] = {}
    for name, columns in vocabulary.slices().items():
        labelled = masks[:, columns.start] > 0  # (N,)
        if not labelled.any():
            continue
        predicted = scores[labelled, columns].argmax(axis=1)  # (n,)
        true = targets[labelled, columns].argmax(axis=1)  # (n,)
        accuracies[name] = float((predicted == true).mean())
    return accuracies


def tagging_report(
    scores: np.ndarray, targets: np.ndarray, masks: np.ndarray, vocabulary: TagVocabulary
) -> dict:
    """Top-1 per group, mAP over all tags and mAP per group."""
    slices = vocabulary.slices()
    return {
        "items": int(len(scores)),
        "top1": top1_accuracy_per_group(scores, targets, masks, vocabulary),
        "mAP": mean_average_precision(scores, targets, masks),
        "mAP_per_group": {
            name: mean_average_precision(scores[:, columns], targets[:, columns], masks[:, columns])
            for name, columns in slices.items()
        },
    }
