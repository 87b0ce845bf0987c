from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from recommender.augment import BoxJitter, TrainAugment
from recommender.data.catalog import CatalogTagDataset, read_catalog
from recommender.tags import build_vocabulary
from tests.recommender.synthetic_data import write_catalog


def _augment() -> TrainAugment:
    return TrainAugment(input_size=32, mean=(0.5,) * 3, std=(0.5,) * 3)


def test_augment_gives_fixed_shape_and_is_reproducible() -> None:
    image = Image.new("RGB", (50, 70), (200, 20, 20))

    first = _augment()(image, np.random.default_rng(3))
    again = _augment()(image, np.random.default_rng(3))
    other = _augment()(image, np.random.default_rng(4))

    assert first.shape == (3, 32, 32)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_augment_keeps_colour() -> None:
    red = Image.new("RGB", (40, 40), (200, 20, 20))
    pixels = _augment()(red, np.random.default_rng(0)) * 0.5 + 0.5  # back to [0, 1]

    centre = pixels[:, 8:24, 8:24].mean(dim=(1, 2))
    assert centre[0] > 0.7 and centre[1] < 0.2 and centre[2] < 0.2


def test_dataset_label_is_unchanged_by_augmentation(tmp_path: Path) -> None:
    items = read_catalog(write_catalog(tmp_path, count=6))
    vocabulary = build_vocabulary([item.row for item in items], min_count=1)
    dataset = CatalogTagDataset(items, vocabulary, _augment())

    image, target, mask = dataset[2]

    expected_target, expected_mask = vocabulary.encode(items[2].row)
    assert image.shape == (3, 32, 32)
    assert np.array_equal(target.numpy(), expected_target)
    assert np.array_equal(mask.numpy(), expected_mask)


def test_box_jitter_moves_each_side_within_its_range_and_is_reproducible() -> None:
    jitter = BoxJitter(low=-0.1, high=0.3)
    box = (100, 200, 200, 400)  # 100 wide, 200 high

    boxes = [jitter(box, np.random.default_rng(seed)) for seed in range(200)]

    assert jitter(box, np.random.default_rng(7)) == boxes[7]
    x1, y1, x2, y2 = np.array(boxes).T
    assert x1.min() >= 70 and x1.max() <= 110 and x2.min() >= 190 and x2.max() <= 230
    assert y1.min() >= 140 and y1.max() <= 220 and y2.min() >= 380 and y2.max() <= 460
    grown = np.mean((x2 - x1) * (y2 - y1) > 100 * 200)
    assert grown > 0.7  # mostly grown: detected boxes are mostly loose
    assert len(set(boxes)) > 150
