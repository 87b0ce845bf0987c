from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from recommender.data.street import (
    classes_with_boxes,
    read_ground_truth_boxes,
    read_street_photos,
    street_split,
)


def test_street_split_is_deterministic_from_the_file_name() -> None:
    assert street_split("photos/0001.jpg") == street_split("other/0001.jpg")
    splits = Counter(street_split(f"photos/{index:04d}.jpg") for index in range(1, 801))
    assert set(splits) == {"train", "val", "test"}
    assert splits["train"] > splits["test"] > splits["val"]


def test_street_photos_have_image_level_classes_matching_their_boxes(data_dir: Path) -> None:
    street_dir = data_dir / "street"
    test_photos = read_street_photos(street_dir, split="test")
    boxes = read_ground_truth_boxes(street_dir)

    assert test_photos and all(photo.split == "test" for photo in test_photos)
    for photo in test_photos[:20]:
        assert photo.classes == classes_with_boxes(boxes[photo.image])
        assert all(box.box[0] < box.box[2] <= photo.width for box in boxes[photo.image])


def test_a_union_of_splits_reads_the_photos_of_each(data_dir: Path) -> None:
    street_dir = data_dir / "street"
    train = read_street_photos(street_dir, split="train")
    val = read_street_photos(street_dir, split="val")

    union = read_street_photos(street_dir, split="train+val")

    assert sorted(photo.image for photo in union) == sorted(photo.image for photo in train + val)
    assert {photo.split for photo in union} == {"train", "val"}


def test_an_unknown_split_is_refused_with_the_names_that_exist(data_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"one of \('train', 'val', 'test'\).*'train\+tset'"):
        read_street_photos(data_dir / "street", split="train+tset")
