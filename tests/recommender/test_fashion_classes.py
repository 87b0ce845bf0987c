from __future__ import annotations

from recommender.fashion_classes import (
    BASELINE_IMAGENET_TO_FASHION,
    CORLOC_CLASSES,
    FASHION_CLASSES,
    IMAGENET_TO_FASHION,
    catalog_to_fashion,
    imagenet_groups,
    street_coarse_to_fashion,
)
from recommender.weights import get_weight_entry


def test_catalog_categories_map_article_type_before_subcategory() -> None:
    assert catalog_to_fashion("Apparel", "Dress", "Dresses") == "dress"
    assert catalog_to_fashion("Apparel", "Topwear", "Jackets") == "outerwear"
    assert catalog_to_fashion("Apparel", "Topwear", "Tshirts") == "top"
    assert catalog_to_fashion("Footwear", "Flip Flops", "Flip Flops") == "footwear"
    assert catalog_to_fashion("Accessories", "Eyewear", "Sunglasses") == "eyewear"
    assert catalog_to_fashion("Personal Care", "Fragrance", "Perfume and Body Mist") is None


def test_street_coarse_classes_map_to_vocabulary_or_nothing() -> None:
    assert street_coarse_to_fashion("dress_onepiece") == "dress"
    assert street_coarse_to_fashion("jewellery_watch") == "accessory"
    assert street_coarse_to_fashion("not_garment") is None


def test_imagenet_mapping_names_fashion_classes_and_keeps_the_baseline_classes() -> None:
    labels = get_weight_entry("efficientnet_lite0.imagenet").labels
    assert labels[837] == "sunglasses" and labels[770] == "running shoe"
    assert set(IMAGENET_TO_FASHION.values()) <= set(FASHION_CLASSES)
    assert BASELINE_IMAGENET_TO_FASHION.items() <= IMAGENET_TO_FASHION.items()
    assert len(BASELINE_IMAGENET_TO_FASHION) == 25


def test_imagenet_groups_follow_vocabulary_order() -> None:
    groups = imagenet_groups()

    assert len(groups) == len(FASHION_CLASSES)
    assert groups[FASHION_CLASSES.index("eyewear")] == [836, 837]
    assert groups[FASHION_CLASSES.index("legwear")] == []
    assert set(CORLOC_CLASSES) <= set(FASHION_CLASSES)
