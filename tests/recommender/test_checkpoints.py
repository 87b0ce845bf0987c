from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recommender.checkpoints import (
    CheckpointError,
    CheckpointMismatchError,
    build_model,
    load_checkpoint,
    load_tag_predictor,
    save_checkpoint,
)
from recommender.embed import ImageEmbedder
from recommender.models.backbones import build_backbone
from recommender.models.embedder import EmbedderConfig, TagEmbedder
from recommender.models.transforms import EvalTransform
from recommender.tags import build_vocabulary
from tests.helpers import single_torch_thread
from tests.recommender.synthetic_data import catalog_rows

TRANSFORM = EvalTransform(input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3)
GROUPS = {"articleType": "articleType", "baseColour": "baseColour"}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with single_torch_thread():
        yield


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, TagEmbedder]:
    vocabulary = build_vocabulary(catalog_rows(8), column_groups=GROUPS, min_count=1)
    torch.manual_seed(0)
    config = EmbedderConfig(embedding_dim=16, num_tags=vocabulary.size)
    model = TagEmbedder(build_backbone(pretrained=False), config).eval()
    path = tmp_path_factory.mktemp("checkpoint") / "embedder.pt"
    save_checkpoint(
        path,
        name="test",
        model=model,
        vocabulary=vocabulary,
        transform=TRANSFORM,
        backbone_weights_sha256="0" * 64,
        code_version="abc123",
        metrics={"val": 0.5},
    )
    return path, model


def _images() -> list[Image.Image]:
    return [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue", "white")]


def test_round_trip_keeps_weights_vocabulary_and_provenance(saved) -> None:
    path, model = saved
    checkpoint = load_checkpoint(path)
    restored = build_model(checkpoint)

    images = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(restored(images), model(images), atol=1e-5)
    assert checkpoint.code_version == "abc123"
    assert checkpoint.metrics == {"val": 0.5}
    assert checkpoint.vocabulary.group_names == ("articleType", "baseColour")
    assert json.loads((path.parent / "manifest.json").read_text())["files"]["embedder.pt"]


def test_embedder_from_checkpoint_names_the_file_and_gives_unit_vectors(saved) -> None:
    path, _ = saved
    embedder = ImageEmbedder.from_checkpoint(path, batch_size=2)

    vectors = embedder.embed(_images())

    assert vectors.shape == (3, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.model_name == f"test@{embedder.weights_sha256[:12]}"


def test_tag_predictor_gives_one_value_per_group(saved) -> None:
    predictor = load_tag_predictor(saved[0])

    tagsets = predictor.predict_tags(_images())

    assert len(tagsets) == 3
    value, probability = tagsets[0]["articleType"]
    assert value in ("Tshirts", "Casual Shoes") and 0.0 <= probability <= 1.0


def test_refuses_a_different_vocabulary(saved) -> None:
    other = build_vocabulary(catalog_rows(8), column_groups={"gender": "gender"}, min_count=1)

    with pytest.raises(CheckpointMismatchError, match="tag vocabulary"):
        load_checkpoint(saved[0], expected_vocabulary=other)


def test_refuses_a_different_architecture(saved) -> None:
    expected = replace(load_checkpoint(saved[0]).config, embedding_dim=32)

    with pytest.raises(CheckpointMismatchError, match="architecture"):
        load_checkpoint(saved[0], expected_config=expected)


def test_refuses_a_file_whose_hash_differs_from_the_manifest(saved, tmp_path: Path) -> None:
    copy = tmp_path / "embedder.pt"
    copy.write_bytes(saved[0].read_bytes() + b"tampered")
    (tmp_path / "manifest.json").write_text((saved[0].parent / "manifest.json").read_text())

    with pytest.raises(CheckpointError, match="differs from the manifest"):
        load_checkpoint(copy)


def test_refuses_weights_that_do_not_fit(saved, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(saved[0])
    broken = replace(checkpoint, config=replace(checkpoint.config, embedding_dim=8))

    with pytest.raises(CheckpointMismatchError, match="does not fit"):
        build_model(broken)
