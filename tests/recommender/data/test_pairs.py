from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from recommender.data.pairs import DataError, crop_box, pair_split, read_pairs
from tests.recommender.synthetic_data import write_pairs


def test_reads_pairs_with_boxes(tmp_path: Path) -> None:
    pairs = read_pairs(write_pairs(tmp_path, count=3))

    assert len(pairs) == 3
    assert pairs[0].box == (2, 2, 22, 18)
    assert pairs[0].cloth_path.name == "000000_1.jpg"


def test_split_is_deterministic_and_about_thirty_percent_test() -> None:
    names = [f"{index:06d}_0.jpg" for index in range(2000)]
    splits = [pair_split(name) for name in names]

    assert splits == [pair_split(name) for name in names]
    assert 0.25 < splits.count("test") / len(splits) < 0.35


def test_missing_cloth_image_names_the_line(tmp_path: Path) -> None:
    pairs_dir = write_pairs(tmp_path, count=3)
    (pairs_dir / "cloth" / "000001_1.jpg").unlink()

    with pytest.raises(DataError, match="line 3: image file not found"):
        read_pairs(pairs_dir)
    assert len(read_pairs(pairs_dir, on_error="skip")) == 2


def test_crop_box_grows_by_margin_and_clips() -> None:
    image = Image.new("RGB", (100, 50))

    assert crop_box(image, (10, 10, 30, 20)).size == (20, 10)
    assert crop_box(image, (0, 0, 100, 50), margin=0.2).size == (100, 50)
