"""Fixtures for the recommender library tests (the data_dir fixture is the root conftest's)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from recommender.models.backbones import Backbone, build_backbone

SHOE_ARTICLE_TYPES = {"Casual Shoes", "Sports Shoes"}


@pytest.fixture(scope="session")
def catalog_shoe_photos(data_dir: Path) -> list[Path]:
    """The first few catalog photos labelled Casual Shoes or Sports Shoes, in file order."""
    catalog_dir = data_dir / "catalog"
    with open(catalog_dir / "catalog.csv", newline="", encoding="utf-8") as stream:
        rows = [row for row in csv.DictReader(stream) if row["articleType"] in SHOE_ARTICLE_TYPES]
    return [catalog_dir / row["image"] for row in rows[:4]]


@pytest.fixture(scope="session")
def catalog_photos(data_dir: Path) -> list[Path]:
    """The first few catalog photos of any kind, in file-name order."""
    return sorted((data_dir / "catalog" / "images").glob("*.jpg"))[:8]


@pytest.fixture(scope="session")
def pretrained_backbone() -> Backbone:
    """Built once: loading and hash-checking the weights is the slow part."""
    return build_backbone("efficientnet_lite0", pretrained=True)
