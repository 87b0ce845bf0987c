from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from recommender.devices import resolve_device
from recommender.embed import EmbedderInfo, ImageEmbedder
from recommender.models.transforms import EvalTransform

LITE0 = "efficientnet_lite0.imagenet"


@pytest.fixture(scope="module")
def embedder() -> ImageEmbedder:
    return ImageEmbedder.from_weights(LITE0, device="cpu", batch_size=4)


def _images(count: int) -> list[Image.Image]:
    """Distinct, non-square synthetic RGB images."""
    rng = np.random.default_rng(1)
    sizes = [(64, 48), (40, 80), (96, 96), (30, 50), (120, 60), (70, 70)]
    return [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes[:count]
    ]


def test_baseline_embedder_names_its_model(embedder: ImageEmbedder) -> None:
    assert embedder.model_name == LITE0
    assert embedder.weights_sha256.startswith("579344248a93")
    assert embedder.dimension == 1280
    assert embedder.info == EmbedderInfo(LITE0, embedder.weights_sha256, 1280)


def test_embeddings_are_unit_norm_float32_rows(embedder: ImageEmbedder) -> None:
    vectors = embedder.embed(_images(3))

    assert vectors.shape == (3, 1280)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_identical_images_get_identical_vectors(embedder: ImageEmbedder) -> None:
    image = _images(1)[0]

    first = embedder.embed([image, image.copy()])
    again = embedder.embed([image])

    np.testing.assert_allclose(first[0], first[1], atol=1e-6)
    np.testing.assert_allclose(first[0], again[0], atol=1e-6)


def test_batched_result_equals_one_by_one(embedder: ImageEmbedder) -> None:
    images = _images(6)  # batch_size 4: one full batch and a remainder

    batched = embedder.embed(images)
    one_by_one = np.concatenate([embedder.embed([image]) for image in images])

    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_distinct_images_get_distinct_vectors(embedder: ImageEmbedder) -> None:
    vectors = embedder.embed(_images(2))

    assert float(vectors[0] @ vectors[1]) < 0.999


def test_empty_input_gives_empty_matrix(embedder: ImageEmbedder) -> None:
    vectors = embedder.embed([])

    assert vectors.shape == (0, 1280)
    assert vectors.dtype == np.float32


def test_non_rgb_input_is_refused(embedder: ImageEmbedder) -> None:
    with pytest.raises(ValueError, match="RGB"):
        embedder.embed([Image.new("RGBA", (8, 8))])


class _TinyProjection(nn.Module):
    """Stands in for a trained head: any images -> (N, D) network fits the embedder."""

    dimension = 8

    def __init__(self) -> None:
        super().__init__()
        self.projection = nn.Linear(3, self.dimension)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.projection(images.mean(dim=(2, 3)))  # (N, 3) -> (N, 8)


def test_any_embedding_network_slots_in_behind_the_same_interface() -> None:
    info = EmbedderInfo(model_name="tiny.test", weights_sha256="0" * 64, dimension=8)
    transform = EvalTransform(input_size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    embedder = ImageEmbedder(_TinyProjection(), transform, info, batch_size=2)

    vectors = embedder.embed(_images(3))

    assert vectors.shape == (3, 8)
    assert embedder.model_name == "tiny.test"
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_request_falls_back_to_cpu_without_cuda() -> None:
    assert resolve_device("cuda") == torch.device("cpu")


def test_unsupported_device_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported device"):
        resolve_device("meta")


def test_invalid_batch_size_is_refused() -> None:
    info = EmbedderInfo(model_name="tiny.test", weights_sha256="0" * 64, dimension=8)
    transform = EvalTransform(input_size=32, mean=(0.5,) * 3, std=(0.5,) * 3)

    with pytest.raises(ValueError, match="batch_size"):
        ImageEmbedder(_TinyProjection(), transform, info, batch_size=0)
