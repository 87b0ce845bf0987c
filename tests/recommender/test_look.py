from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.detect import FashionDetector, zero_shot_detector
from recommender.embed import EmbedderInfo, ImageEmbedder
from recommender.images import load_image
from recommender.look import DETECTED, REGION, LookAnalyzer, LookConfig, clip_region
from recommender.models.backbones import Backbone
from recommender.models.transforms import EvalTransform
from tests.helpers import single_torch_thread
from tests.recommender.synthetic_data import TAG_GROUPS, untrained_tag_network


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with single_torch_thread():
        yield


@pytest.fixture(scope="module")
def tag_embedder() -> ImageEmbedder:
    """An untrained tag network: tests check plumbing, not quality."""
    network, vocabulary = untrained_tag_network()
    transform = EvalTransform(input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3)
    info = EmbedderInfo(model_name="tiny", weights_sha256="0" * 64, dimension=16)
    return ImageEmbedder(network, transform, info, batch_size=4, vocabulary=vocabulary)


@pytest.fixture(scope="module")
def detector(pretrained_backbone: Backbone) -> FashionDetector:
    # Small inputs: unit tests check behaviour; quality and speed are benchmarked elsewhere.
    return zero_shot_detector(backbone=pretrained_backbone).with_config(
        short_side=224, window_sizes=(0.7,), presence_threshold=0.01
    )


@pytest.fixture(scope="module")
def street_photo(data_dir: Path):
    return load_image(data_dir / "street" / "photos" / "0001.jpg")


def test_embed_with_tags_matches_embed_and_decodes_every_group(
    tag_embedder: ImageEmbedder, street_photo
) -> None:
    crops = [street_photo.crop((0, 0, 100, 120)), street_photo.crop((50, 50, 200, 300))]

    vectors, tagsets = tag_embedder.embed_with_tags(crops)

    np.testing.assert_allclose(vectors, tag_embedder.embed(crops), atol=1e-5)
    assert len(tagsets) == 2
    for tagset in tagsets:
        assert set(tagset) == set(TAG_GROUPS)
        for value, probability in tagset.values():
            assert value in tag_embedder.vocabulary.group("articleType").values + (
                tag_embedder.vocabulary.group("baseColour").values
            )
            assert 0.0 <= probability <= 1.0


def test_imagenet_embedder_predicts_no_tags(pretrained_backbone: Backbone, street_photo) -> None:
    embedder = ImageEmbedder.from_weights()

    vectors, tagsets = embedder.embed_with_tags([street_photo])

    assert vectors.shape == (1, embedder.dimension)
    assert tagsets == [{}]


def test_analyse_returns_detected_items_with_vectors_and_tags(
    detector: FashionDetector, tag_embedder: ImageEmbedder, street_photo
) -> None:
    items = LookAnalyzer(detector, tag_embedder).analyse(street_photo)

    assert items, "the zero-shot detector finds the outfit in a street photo"
    assert [item.score for item in items] == sorted((item.score for item in items), reverse=True)
    for item in items:
        x1, y1, x2, y2 = item.box
        assert 0 <= x1 < x2 <= street_photo.width and 0 <= y1 < y2 <= street_photo.height
        assert item.source == DETECTED
        assert item.class_name in detector.class_names
        assert item.vector.shape == (16,)
        assert np.isclose(np.linalg.norm(item.vector), 1.0, atol=1e-4)
        assert set(item.tags) == set(TAG_GROUPS)


def test_analyse_keeps_at_most_max_items_and_drops_cross_class_duplicates(
    detector: FashionDetector, tag_embedder: ImageEmbedder, street_photo
) -> None:
    analyzer = LookAnalyzer(detector, tag_embedder, LookConfig(max_items=2, cross_class_iou=0.3))

    items = analyzer.analyse(street_photo)

    assert 1 <= len(items) <= 2
    if len(items) == 2:
        from recommender.detection.boxes import iou

        assert iou(items[0].box, items[1].box) < 0.3


def test_a_region_is_one_item_with_the_shoppers_box(
    detector: FashionDetector, tag_embedder: ImageEmbedder, street_photo
) -> None:
    width, height = street_photo.size

    items = LookAnalyzer(detector, tag_embedder).analyse(
        street_photo, region=(10, 20, width + 50, height // 2)
    )

    assert len(items) == 1
    assert items[0].source == REGION
    assert items[0].box == (10, 20, width, height // 2)  # clipped to the photo


def test_region_outside_the_photo_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        clip_region((500, 500, 600, 600), 400, 300)


def test_an_item_shows_its_box_and_is_searched_by_its_query_box(
    detector: FashionDetector, tag_embedder: ImageEmbedder, street_photo, monkeypatch
) -> None:
    from recommender.data.pairs import crop_box
    from recommender.detection.detector import Detection

    cut, union = (200, 250, 330, 420), (150, 200, 360, 480)  # a GrabCut box, its union
    analyzer = LookAnalyzer(detector, tag_embedder)
    found = [Detection("top", 0.9, cut, search_box=union), Detection("bag", 0.5, (20, 30, 90, 120))]
    monkeypatch.setattr(analyzer.detector, "detect", lambda image: found)

    items = analyzer.analyse(street_photo)

    margin = analyzer.config.crop_margin
    expected, _ = tag_embedder.embed_with_tags(
        [
            crop_box(street_photo, union, margin=margin),
            crop_box(street_photo, (20, 30, 90, 120), margin=margin),
        ],
        [None, None],
    )  # (2, D)
    assert [item.box for item in items] == [cut, (20, 30, 90, 120)]
    np.testing.assert_allclose(np.stack([item.vector for item in items]), expected, atol=1e-5)
