from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recommender.data.catalog import read_catalog
from recommender.data.feature_cache import ImageRef
from recommender.data.pairs import crop_box, read_pairs
from recommender.detect import Detection, DetectorConfig, FashionDetector, zero_shot_detector
from recommender.embed import EmbedderInfo, ImageEmbedder
from recommender.evaluate.pipeline import (
    CONDITIONS,
    choose_top_detection,
    evaluate_pipeline,
    write_report,
)
from recommender.evaluate.retrieval import exact_match_gallery_refs, exact_match_recall
from recommender.images import load_image
from recommender.models.backbones import Backbone
from recommender.models.embedding import PooledFeatures
from recommender.models.transforms import EvalTransform
from recommender.weights import get_weight_entry
from tests.recommender.synthetic_data import write_catalog, write_pairs

# Small working sizes: these tests check behaviour; quality is measured by the CLI run.
SMALL = DetectorConfig(
    short_side=64, window_sizes=(0.6,), window_input_size=64, presence_threshold=0.0
)
KS = (1, 5, 20)


@pytest.fixture(scope="module")
def embedder(pretrained_backbone: Backbone) -> ImageEmbedder:
    entry = get_weight_entry("efficientnet_lite0.imagenet")
    network = PooledFeatures(pretrained_backbone)
    info = EmbedderInfo(entry.name, entry.sha256, network.dimension)
    small = EvalTransform(input_size=64, mean=entry.mean, std=entry.std)  # fast, same code path
    return ImageEmbedder(network, small, info, batch_size=16)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("data")
    items = read_catalog(write_catalog(root, count=10))
    pairs = read_pairs(write_pairs(root, count=5))
    return pairs, items


@pytest.fixture(scope="module")
def gallery(synthetic, embedder: ImageEmbedder) -> np.ndarray:
    pairs, items = synthetic
    return embedder.embed([ref.load() for ref in exact_match_gallery_refs(pairs, items)])


def _detection(class_name: str, score: float) -> Detection:
    return Detection(class_name, score, (0, 0, 10, 10))


def test_choose_top_detection_prefers_a_top_then_dress_or_outerwear() -> None:
    top, dress = _detection("top", 0.2), _detection("dress", 0.9)
    coat = _detection("outerwear", 0.95)

    assert choose_top_detection([dress, _detection("footwear", 0.99), top]) is top
    assert choose_top_detection([dress, coat, _detection("bag", 0.99)]) is coat
    assert choose_top_detection([_detection("footwear", 0.9)]) is None
    assert choose_top_detection([]) is None


def test_pipeline_reports_recall_in_range_and_matches_the_ground_truth_crop_recall(
    synthetic, embedder: ImageEmbedder, gallery: np.ndarray, pretrained_backbone: Backbone
) -> None:
    pairs, _ = synthetic
    detector = zero_shot_detector(backbone=pretrained_backbone, config=SMALL)

    result = evaluate_pipeline(embedder.embed, detector, pairs, gallery, ks=KS)

    assert set(result["recall"]) == set(CONDITIONS)
    for table in result["recall"].values():
        assert set(table) == {f"R@{k}" for k in KS}
        assert all(0.0 <= value <= 1.0 for value in table.values())
    # presence threshold 0: every class is present, so a top is always found
    assert result["fallback_whole_photo"] == 0
    assert 0.0 <= result["detector_iou0.5_hit_rate"] <= 1.0
    crops = [crop_box(load_image(pair.person_path), pair.box) for pair in pairs]
    expected = exact_match_recall(embedder.embed, crops, gallery, np.arange(len(pairs)), ks=KS)
    assert result["recall"]["ground-truth crop"] == expected


def test_pipeline_falls_back_to_the_whole_photo_when_nothing_is_detected(
    synthetic, embedder: ImageEmbedder, gallery: np.ndarray, pretrained_backbone: Backbone
) -> None:
    pairs, _ = synthetic
    # no class reaches a presence probability above 1: nothing is detected
    config = DetectorConfig(**{**SMALL.to_dict(), "presence_threshold": 1.1})
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)

    result = evaluate_pipeline(embedder.embed, detector, pairs, gallery, ks=KS)

    assert result["fallback_whole_photo"] == len(pairs)
    assert result["fallback_rate"] == 1.0
    assert result["chosen_classes"] == {"none": len(pairs)}
    assert result["detector_iou0.5_hit_rate"] == 0.0
    assert result["recall"]["full pipeline"] == result["recall"]["whole photo"]


def test_localised_classes_are_found_even_when_not_present(
    synthetic, embedder: ImageEmbedder, gallery: np.ndarray, pretrained_backbone: Backbone
) -> None:
    pairs, _ = synthetic
    config = DetectorConfig(**{**SMALL.to_dict(), "presence_threshold": 1.1})
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)

    result = evaluate_pipeline(embedder.embed, detector, pairs, gallery, classes=["top"], ks=KS)

    assert result["forced_classes"] == ["top"]
    assert result["chosen_classes"].get("top", 0) + result["fallback_whole_photo"] == len(pairs)


def test_write_report_writes_json_and_plot(tmp_path: Path) -> None:
    curve = {f"R@{k}": min(1.0, k / 50) for k in range(1, 51)}
    results = {
        "evaluated_pairs": 3,
        "detector": "zero-shot",
        "recall": {condition: curve for condition in CONDITIONS},
    }

    write_report(results, tmp_path / "out")

    assert json.loads((tmp_path / "out" / "results.json").read_text()) == results
    assert (tmp_path / "out" / "recall_at_k.png").read_bytes()[:4] == b"\x89PNG"


def test_gallery_refs_put_pair_shop_photos_first(synthetic) -> None:
    pairs, items = synthetic

    refs = exact_match_gallery_refs(pairs, items)

    assert refs[: len(pairs)] == [ImageRef(pair.cloth_path) for pair in pairs]
    assert len(refs) == len(pairs) + len(items)


def test_detector_type_is_the_library_detector(pretrained_backbone: Backbone) -> None:
    assert isinstance(zero_shot_detector(backbone=pretrained_backbone), FashionDetector)


def test_pipeline_with_a_tag_filter_ranks_each_crop_among_its_predicted_value_only(
    synthetic, embedder: ImageEmbedder, gallery: np.ndarray, pretrained_backbone: Backbone
) -> None:
    pairs, items = synthetic
    detector = zero_shot_detector(backbone=pretrained_backbone, config=SMALL)
    # Query i is tagged "v<i>"; only its own shop photo (gallery row i) carries that value.
    values = [f"v{index}" for index in range(len(pairs))] + ["other"] * len(items)

    result = evaluate_pipeline(
        embedder.embed,
        detector,
        pairs,
        gallery,
        ks=KS,
        tag=lambda images: [f"v{index}" for index in range(len(images))],
        gallery_values=values,
        filter_name="filter colour",
    )

    assert result["recall"]["full pipeline, filter colour"]["R@1"] == 1.0
    assert result["recall"]["ground-truth crop, filter colour"]["R@1"] == 1.0
    assert set(result["recall"]) == {
        *CONDITIONS,
        "full pipeline, filter colour",
        "ground-truth crop, filter colour",
    }
