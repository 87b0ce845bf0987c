"""Image-level training examples from the catalog: one fashion class per product photo."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from recommender.fashion_classes import catalog_to_fashion


@dataclass(frozen=True)
class CatalogPhoto:
    path: Path
    class_name: str


def read_catalog_photos(
    catalog_dir: Path,
    *,
    per_class: int | None = None,
    seed: int = 0,
    splits: tuple[str, ...] = ("train",),
) -> list[CatalogPhoto]:
    """Catalog photos of the given splits whose categories map to a fashion class.

    `per_class` caps each class with a seeded sample, so a rare class keeps all its photos
    and a common one (T-shirts) does not dominate.
    """
    by_class: dict[str, list[CatalogPhoto]] = defaultdict(list)
    with open(catalog_dir / "catalog.csv", newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            if row["split"] not in splits:
                continue
            name = catalog_to_fashion(row["masterCategory"], row["subCategory"], row["articleType"])
            if name is not None and (catalog_dir / row["image"]).is_file():
                by_class[name].append(CatalogPhoto(catalog_dir / row["image"], name))
    generator = random.Random(seed)
    photos: list[CatalogPhoto] = []
    for name in sorted(by_class):
        members = by_class[name]
        if per_class is not None and len(members) > per_class:
            members = generator.sample(members, per_class)
        photos.extend(members)
    return photos
