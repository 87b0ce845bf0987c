"""Street-to-shop pairs: a person photo, the shop photo of the top they wear, the top's box."""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from recommender.augment import BoxJitter, TrainAugment
from recommender.data.catalog import DataError
from recommender.images import load_image

logger = logging.getLogger(__name__)

PAIRS_FILE = "pairs.csv"
BOX_COLUMNS = ("top_x1", "top_y1", "top_x2", "top_y2")
REQUIRED_COLUMNS = ("person_image", "shop_cloth_image", *BOX_COLUMNS)
# md5(person file name) mod 10 below this -> held-out test pair (about 30%, ~610 of 2,032).
TEST_BUCKETS = 3


@dataclass(frozen=True)
class Pair:
    """A person photo and the shop photo of their top; box (x1, y1, x2, y2), x2/y2 exclusive."""

    person_path: Path
    cloth_path: Path
    box: tuple[int, int, int, int]

    @property
    def split(self) -> str:
        return pair_split(self.person_path.name)


def pair_split(person_file_name: str, *, test_buckets: int = TEST_BUCKETS) -> str:
    """Deterministic split of a pair by the md5 of its person file name: "train" or "test"."""
    bucket = int(hashlib.md5(person_file_name.encode()).hexdigest(), 16) % 10
    return "test" if bucket < test_buckets else "train"


def read_pairs(pairs_dir: Path | str, *, on_error: str = "raise") -> list[Pair]:
    """Read `pairs_dir/pairs.csv`; bad rows raise `DataError` (naming the line) or are skipped."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    pairs_dir = Path(pairs_dir)
    csv_path = pairs_dir / PAIRS_FILE
    if not csv_path.is_file():
        raise DataError(f"pairs file not found: {csv_path}")
    with open(csv_path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{csv_path}: missing column(s) {', '.join(missing)}")
        pairs: list[Pair] = []
        for line, row in enumerate(reader, start=2):
            try:
                pairs.append(_to_pair(row, pairs_dir))
            except DataError as error:
                if on_error == "raise":
                    raise DataError(f"{csv_path}, line {line}: {error}") from None
                logger.warning("skipping %s, line %d: %s", csv_path, line, error)
    logger.info("read %d pairs from %s", len(pairs), csv_path)
    return pairs


def _to_pair(row: dict[str, str], pairs_dir: Path) -> Pair:
    try:
        x1, y1, x2, y2 = (int(float(row[column])) for column in BOX_COLUMNS)
    except (TypeError, ValueError):
        raise DataError(
            f"box {[row.get(column) for column in BOX_COLUMNS]} is not numeric"
        ) from None
    if x2 <= x1 or y2 <= y1:
        raise DataError(f"empty box ({x1}, {y1}, {x2}, {y2})")
    person = pairs_dir / (row["person_image"] or "")
    cloth = pairs_dir / (row["shop_cloth_image"] or "")
    for path in (person, cloth):
        if not path.is_file():
            raise DataError(f"image file not found: {path}")
    return Pair(person_path=person, cloth_path=cloth, box=(x1, y1, x2, y2))


def pairs_in_split(pairs: Sequence[Pair], split: str) -> list[Pair]:
    return [pair for pair in pairs if pair.split == split]


def crop_box(
    image: Image.Image, box: tuple[int, int, int, int], *, margin: float = 0.0
) -> Image.Image:
    """Crop `box` (x2/y2 exclusive) grown by `margin` of its size on each side, clipped."""
    x1, y1, x2, y2 = box
    grow_x, grow_y = margin * (x2 - x1), margin * (y2 - y1)
    left, top = max(0, round(x1 - grow_x)), max(0, round(y1 - grow_y))
    right = min(image.width, round(x2 + grow_x))
    bottom = min(image.height, round(y2 + grow_y))
    return image.crop((left, top, right, bottom))


class PairImageDataset(Dataset):
    """Pairs -> (augmented person top crop (3, S, S), augmented shop photo (3, S, S)), and
    the pair's index with `with_index` (to look up per-pair targets)."""

    def __init__(
        self,
        pairs: Sequence[Pair],
        augment: TrainAugment,
        *,
        seed: int = 0,
        epoch: int = 0,
        box_jitter: BoxJitter | None = None,
        with_index: bool = False,
    ) -> None:
        self.pairs = list(pairs)
        self.with_index = with_index
        self.augment = augment
        self.seed = seed
        self.epoch = epoch
        self.box_jitter = box_jitter

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(
        self, index: int
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, int]:
        pair = self.pairs[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        box = self.box_jitter(pair.box, rng) if self.box_jitter else pair.box
        crop = crop_box(load_image(pair.person_path), box)
        views = (self.augment(crop, rng), self.augment(load_image(pair.cloth_path), rng))
        return (*views, index) if self.with_index else views
