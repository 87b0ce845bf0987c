from __future__ import annotations

import pytest
import torch
from PIL import Image

from recommender.models.transforms import EvalTransform


@pytest.fixture
def transform() -> EvalTransform:
    return EvalTransform(input_size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def test_non_square_image_is_resized_to_a_square_without_cropping(
    transform: EvalTransform,
) -> None:
    # A wide image: left half black, right half white. A centre crop would drop the edges.
    image = Image.new("RGB", (300, 100), (0, 0, 0))
    image.paste((255, 255, 255), (150, 0, 300, 100))

    tensor = transform(image)

    assert tensor.shape == (3, 224, 224)
    assert tensor.dtype == torch.float32
    assert tensor[:, :, 0].allclose(torch.tensor(-1.0))
    assert tensor[:, :, -1].allclose(torch.tensor(1.0))


def test_batch_stacks_images(transform: EvalTransform) -> None:
    images = [Image.new("RGB", (50, 80), (255, 255, 255)), Image.new("RGB", (10, 10))]

    assert transform.batch(images).shape == (2, 3, 224, 224)


def test_non_rgb_image_is_refused(transform: EvalTransform) -> None:
    with pytest.raises(ValueError, match="RGB"):
        transform(Image.new("L", (8, 8)))
