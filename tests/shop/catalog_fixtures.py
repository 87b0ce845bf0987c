"""A small catalog folder built in the test, in the layout of the sample catalog."""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image

from tests.recommender.synthetic_data import CATALOG_COLUMNS

# The sample catalog's columns; the shop ignores the split column.
HEADER = [column for column in CATALOG_COLUMNS if column != "split"]


def write_catalog(folder: Path, rows: list[dict], *, header: list[str] = HEADER) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    with (folder / "catalog.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return folder


def write_image(folder: Path, name: str, colour: tuple[int, int, int]) -> str:
    path = folder / "images" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), colour).save(path, "JPEG")
    return f"images/{name}"


def product_row(sku: str, image: str, **overrides: str) -> dict:
    row = {
        "id": sku,
        "image": image,
        "gender": "Women",
        "masterCategory": "Footwear",
        "subCategory": "Shoes",
        "articleType": "Casual Shoes",
        "baseColour": "Black",
        "season": "Summer",
        "year": "2012",
        "usage": "NA",
        "productDisplayName": f"Product {sku}",
        "brand_guess": "Puma",
    }
    row.update(overrides)
    return row
