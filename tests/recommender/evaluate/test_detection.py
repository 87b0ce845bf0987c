from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.data.street import GroundTruthBox, StreetPhoto
from recommender.detection.detector import BASELINE_CONFIG, FashionDetector
from recommender.evaluate.detection import PhotoMaps, corloc, is_correct, score_maps
from recommender.fashion_classes import FASHION_CLASSES


def test_is_correct_needs_iou_of_at_least_one_half_with_any_truth() -> None:
    truths = [(0, 0, 10, 10), (50, 50, 60, 60)]

    assert is_correct((50, 50, 60, 60), truths)
    assert is_correct((0, 0, 10, 20), truths)  # IoU exactly 0.5
    assert not is_correct((0, 0, 10, 21), truths)
    assert not is_correct(None, truths)


def test_corloc_is_per_class_hit_rate_and_mean_over_the_six_classes() -> None:
    hits = {
        "footwear": [True, False],
        "bag": [True],
        "top": [False, False, True, True],
        "bottom": [True],
        "dress": [False],
        "eyewear": [False, True],
        "outerwear": [True],  # not in the mean
    }

    result = corloc(hits)

    assert result["footwear"] == 0.5 and result["top"] == 0.5 and result["outerwear"] == 1.0
    assert result["mean"] == pytest.approx((0.5 + 1 + 0.5 + 1 + 0 + 0.5) / 6)


def test_score_maps_uses_top_box_per_present_class(pretrained_backbone) -> None:
    from recommender.detect import zero_shot_detector

    detector: FashionDetector = zero_shot_detector(
        backbone=pretrained_backbone, config=BASELINE_CONFIG
    )
    heatmap = np.zeros((20, 20), np.float32)
    heatmap[0:10, 0:10] = 1.0  # box (0, 0, 10, 10) at the working size = photo size
    maps = {name: (0.9, heatmap) for name in FASHION_CLASSES}
    photo = StreetPhoto("p.jpg", Path("p.jpg"), 20, 20, frozenset({"top", "bag"}), "test")
    truths = {
        "p.jpg": [GroundTruthBox("top", (0, 0, 10, 10)), GroundTruthBox("bag", (10, 10, 20, 20))]
    }

    metrics = score_maps(detector, [PhotoMaps(photo, (20, 20), maps)], truths)

    assert metrics["corloc"]["top"] == 1.0 and metrics["corloc"]["bag"] == 0.0
    assert metrics["recall"] == 0.5  # the top is found, the bag is not
    assert metrics["precision"] == 1.0  # every gated detection lands on the top's box
