from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from recommender.data.catalog import read_catalog
from recommender.evaluate.retrieval import (
    catalog_recall,
    exact_match_recall,
    plot_recall_curves,
    same_value_mask,
)
from tests.recommender.synthetic_data import write_catalog


def test_exact_match_recall_takes_query_images() -> None:
    gallery = np.eye(3, dtype=np.float32)
    colours = {"red": 0, "green": 1, "blue": 2}

    def embed(images):
        return np.stack([gallery[colours[image.info["name"]]] for image in images])

    queries = []
    for name in ("red", "blue"):
        image = Image.new("RGB", (4, 4))
        image.info["name"] = name
        queries.append(image)

    recall = exact_match_recall(embed, queries, gallery, np.array([0, 1]), ks=(1, 3))

    assert recall == {"R@1": 0.5, "R@3": 1.0}


def test_same_value_mask() -> None:
    mask = same_value_mask(["Tshirts", "Shoes"], ["Shoes", "Tshirts", "Tshirts"])

    assert mask.tolist() == [[False, True, True], [True, False, False]]


def test_catalog_recall_counts_same_type_colour_and_gender(tmp_path: Path) -> None:
    items = read_catalog(write_catalog(tmp_path, count=8))
    keys = [
        "|".join(item.row[c] for c in ("articleType", "baseColour", "gender")) for item in items
    ]
    # one vector per distinct key: items with the same key are identical, others orthogonal
    distinct = sorted(set(keys))
    vectors = np.eye(len(distinct), dtype=np.float32)[[distinct.index(key) for key in keys]]

    result = catalog_recall(vectors, items, np.arange(len(items)), k=1)

    has_twin = np.array([keys.count(key) > 1 for key in keys])
    assert result["recall@1"] == round(float(has_twin.mean()), 4)
    assert result["NDCG@1"] == result["recall@1"]


def test_plot_writes_a_png(tmp_path: Path) -> None:
    curve = {f"R@{k}": min(1.0, k / 50) for k in range(1, 51)}

    plot_recall_curves({"model": curve}, tmp_path / "plot.png")

    assert Image.open(tmp_path / "plot.png").size == (900, 560)
