from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recommender.checkpoints import save_checkpoint
from recommender.data.catalog import read_catalog
from recommender.data.feature_cache import ImageRef, ImageRefDataset, compute_pooled_features
from recommender.evaluate.retrieval import (
    FeatureRunner,
    catalog_recall,
    exact_match_recall,
    load_models,
    main,
    plot_recall_curves,
    same_value_mask,
)
from recommender.models.backbones import build_backbone
from recommender.models.embedder import EmbedderConfig, TagEmbedder
from recommender.tags import build_vocabulary
from recommender.weights import get_weight_entry
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


def _small_checkpoint(path: Path, input_size: int = 96) -> Path:
    """An untrained tag embedder (random backbone) saved with the weights' transform at
    `input_size`: plumbing, not quality."""
    vocabulary = build_vocabulary(
        [{"articleType": "Tshirts"}, {"articleType": "Jeans"}],
        column_groups={"articleType": "articleType"},
        min_count=1,
    )
    torch.manual_seed(0)
    model = TagEmbedder(
        build_backbone(pretrained=False), EmbedderConfig(embedding_dim=8, num_tags=vocabulary.size)
    ).eval()
    entry = get_weight_entry("efficientnet_lite0.imagenet")
    save_checkpoint(
        path,
        name="small-input",
        model=model,
        vocabulary=vocabulary,
        transform=entry.transforms(input_size),
        backbone_weights_sha256=entry.sha256,
        code_version="test",
    )
    return path


def test_a_checkpoint_is_evaluated_at_the_input_size_it_was_trained_at(tmp_path: Path) -> None:
    entry = get_weight_entry("efficientnet_lite0.imagenet")
    path = _small_checkpoint(tmp_path / "embedder.pt", input_size=96)
    image = tmp_path / "shirt.jpg"
    Image.new("RGB", (60, 80), (200, 40, 40)).save(image)
    ref = ImageRef(image)

    trained = load_models(path)[-1]
    vectors, scores = FeatureRunner(tmp_path / "cache", torch.device("cpu")).vectors(trained, [ref])

    assert trained.transform.input_size == 96
    pooled = compute_pooled_features(
        trained.backbone,
        ImageRefDataset([ref], entry.transforms(96)),
        device=torch.device("cpu"),
        **trained.pooling,
    )
    expected_vectors, expected_scores = trained.vectors_and_scores(pooled)
    np.testing.assert_allclose(vectors, expected_vectors, atol=1e-5)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_tagging_only_scores_the_test_split_alone(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    write_catalog(data, count=10)
    path = _small_checkpoint(tmp_path / "embedder.pt", input_size=64)

    main(
        ["--data-dir", str(data), "--checkpoint", str(path), "--out", str(tmp_path / "out"),
         "--tagging-only"]
    )  # fmt: skip

    written = json.loads((tmp_path / "out" / "tagging.json").read_text())
    (report,) = written["tagging"].values()
    test_items = [item for item in read_catalog(data / "catalog") if item.split == "test"]
    assert report["items"] == len(test_items) > 0
    assert 0.0 <= report["top1"]["articleType"] <= 1.0
    assert not (tmp_path / "out" / "results.json").exists()  # no retrieval run
    assert "tagging_top1" in json.loads(capsys.readouterr().out)
    with pytest.raises(SystemExit):
        main(["--data-dir", str(data), "--out", str(tmp_path / "out"), "--tagging-only"])
