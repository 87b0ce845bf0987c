"""Reading a shop catalog: catalog.csv rows -> items with an image path, tags and a split."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from recommender.augment import TrainAugment
from recommender.images import load_image
from recommender.tags import TagVocabulary

logger = logging.getLogger(__name__)

CATALOG_FILE = "catalog.csv"
REQUIRED_COLUMNS = ("id", "image", "split")
SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """A data file is malformed: the message names the file and, where known, the row."""


@dataclass(frozen=True)
class CatalogItem:
    """One product: its id, photo path, split and the raw CSV cells (tags included)."""

    id: str
    image_path: Path
    split: str
    row: dict[str, str]


def read_catalog(
    catalog_dir: Path | str,
    *,
    required_columns: Sequence[str] = REQUIRED_COLUMNS,
    on_error: str = "raise",
    csv_name: str = CATALOG_FILE,
) -> list[CatalogItem]:
    """Read `catalog_dir/catalog.csv`; image paths are relative to `catalog_dir`.

    Cells are read as plain strings: "NA" stays "NA" (a real `usage` value), empty stays
    empty (pandas' `keep_default_na=False` semantics). A missing column always raises
    `DataError`; a bad row (unknown split, empty id, missing image file) raises too with
    `on_error="raise"`, or is logged and skipped with `on_error="skip"`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    catalog_dir = Path(catalog_dir)
    csv_path = catalog_dir / csv_name
    if not csv_path.is_file():
        raise DataError(f"catalog file not found: {csv_path}")
    with open(csv_path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        _check_columns(csv_path, reader.fieldnames or [], required_columns)
        items: list[CatalogItem] = []
        for line, row in enumerate(reader, start=2):  # line 1 is the header
            try:
                items.append(_to_item(row, catalog_dir))
            except DataError as error:
                if on_error == "raise":
                    raise DataError(f"{csv_path}, line {line}: {error}") from None
                logger.warning("skipping %s, line %d: %s", csv_path, line, error)
    logger.info("read %d catalog items from %s", len(items), csv_path)
    return items


def _check_columns(path: Path, found: Sequence[str], required: Sequence[str]) -> None:
    missing = [column for column in required if column not in found]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(found)}")


def _to_item(row: dict[str, str | None], catalog_dir: Path) -> CatalogItem:
    if None in row or any(value is None for value in row.values()):
        raise DataError("wrong number of fields")
    cells = {key: (value or "").strip() for key, value in row.items()}
    if not cells["id"]:
        raise DataError("empty id")
    if cells["split"] not in SPLITS:
        raise DataError(f"id {cells['id']}: split {cells['split']!r} is not one of {SPLITS}")
    image_path = catalog_dir / cells["image"]
    if not cells["image"] or not image_path.is_file():
        raise DataError(f"id {cells['id']}: image file not found: {image_path}")
    return CatalogItem(id=cells["id"], image_path=image_path, split=cells["split"], row=cells)


def items_in_split(items: Sequence[CatalogItem], split: str) -> list[CatalogItem]:
    return [item for item in items if item.split == split]


class CatalogTagDataset(Dataset):
    """Catalog items -> (augmented image (3, S, S), multi-hot target (T,), mask (T,)).

    The augmentation of item i in epoch e is seeded by (seed, e, i): reproducible runs.
    """

    def __init__(
        self,
        items: Sequence[CatalogItem],
        vocabulary: TagVocabulary,
        augment: TrainAugment,
        *,
        seed: int = 0,
        epoch: int = 0,
    ) -> None:
        self.items = list(items)
        self.targets, self.masks = vocabulary.encode_rows([item.row for item in self.items])
        self.augment = augment
        self.seed = seed
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image = self.augment(load_image(self.items[index].image_path), rng)  # (3, S, S)
        return image, torch.from_numpy(self.targets[index]), torch.from_numpy(self.masks[index])
