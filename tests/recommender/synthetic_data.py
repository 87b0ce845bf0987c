"""A tiny generated catalog + pairs folder (same layout as ../shared/data) for fast tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from recommender.models.backbones import build_backbone
from recommender.models.embedder import EmbedderConfig, TagEmbedder
from recommender.tags import TagVocabulary, build_vocabulary

CATALOG_COLUMNS = [
    "id",
    "image",
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "year",
    "usage",
    "productDisplayName",
    "brand_guess",
    "split",
]
COLOURS = {"Red": (220, 30, 30), "Blue": (30, 30, 220)}
ARTICLES = {"Tshirts": ("Apparel", "Topwear"), "Casual Shoes": ("Footwear", "Shoes")}
TAG_GROUPS = {"articleType": "articleType", "baseColour": "baseColour"}


def catalog_rows(count: int) -> list[dict[str, str]]:
    rows = []
    for index in range(count):
        article = list(ARTICLES)[index % 2]
        colour = list(COLOURS)[(index // 2) % 2]
        master, sub = ARTICLES[article]
        rows.append(
            {
                "id": str(1000 + index),
                "image": f"images/{1000 + index}.jpg",
                "gender": "Men" if index % 3 else "Women",
                "masterCategory": master,
                "subCategory": sub,
                "articleType": article,
                "baseColour": colour,
                "season": "Summer",
                "year": "2012",
                "usage": "NA" if index % 4 == 0 else "Casual",
                "productDisplayName": f"Brand {article}",
                "brand_guess": "" if index % 5 == 0 else "Brand",
                "split": ("train", "train", "train", "val", "test")[index % 5],
            }
        )
    return rows


def untrained_tag_network(embedding_dim: int = 16) -> tuple[TagEmbedder, TagVocabulary]:
    """A tag network with random weights (seed 0) over article type and colour of
    `catalog_rows(8)`: for tests of plumbing, not of quality."""
    vocabulary = build_vocabulary(catalog_rows(8), column_groups=TAG_GROUPS, min_count=1)
    torch.manual_seed(0)
    config = EmbedderConfig(embedding_dim=embedding_dim, num_tags=vocabulary.size)
    return TagEmbedder(build_backbone(pretrained=False), config), vocabulary


def _picture(colour: tuple[int, int, int], shoe: bool, size: tuple[int, int], seed: int):
    rng = np.random.default_rng(seed)
    pixels = np.full((size[1], size[0], 3), 255, dtype=np.uint8)
    height, width = size[1], size[0]
    top, bottom = (height // 2, height - 4) if shoe else (4, height - 4)
    pixels[top:bottom, 4 : width - 4] = colour
    noise = rng.integers(0, 20, pixels.shape, dtype=np.uint8)
    return Image.fromarray(np.clip(pixels.astype(int) - noise, 0, 255).astype(np.uint8))


def write_catalog(root: Path, count: int = 15) -> Path:
    """root/catalog/{catalog.csv, images/}; returns the catalog folder."""
    catalog = root / "catalog"
    (catalog / "images").mkdir(parents=True)
    rows = catalog_rows(count)
    for index, row in enumerate(rows):
        image = _picture(
            COLOURS[row["baseColour"]], row["articleType"] != "Tshirts", (40, 40), index
        )
        image.save(catalog / row["image"])
    write_csv(catalog / "catalog.csv", rows, CATALOG_COLUMNS)
    return catalog


def write_pairs(root: Path, count: int = 6) -> Path:
    """root/pairs/{pairs.csv, image/, cloth/}; the top box covers the upper half."""
    pairs = root / "pairs"
    (pairs / "image").mkdir(parents=True)
    (pairs / "cloth").mkdir()
    rows = []
    for index in range(count):
        colour = tuple(int(value) for value in np.random.default_rng(index).integers(0, 255, 3))
        person, cloth = f"image/{index:06d}_0.jpg", f"cloth/{index:06d}_1.jpg"
        _picture(colour, False, (24, 32), index).save(pairs / person)
        _picture(colour, False, (24, 32), index + 100).save(pairs / cloth)
        rows.append(
            {
                "person_image": person,
                "shop_cloth_image": cloth,
                "top_x1": "2",
                "top_y1": "2",
                "top_x2": "22",
                "top_y2": "18",
            }
        )
    write_csv(pairs / "pairs.csv", rows, list(rows[0]))
    return pairs


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
