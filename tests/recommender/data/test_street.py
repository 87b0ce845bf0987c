from __future__ import annotations

from collections import Counter
from pathlib import Path

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
