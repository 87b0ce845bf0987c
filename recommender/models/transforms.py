"""Eval-time preprocessing carried by a weight entry (see `WeightEntry.transforms()`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F


class EvalTransform(nn.Module):
    """RGB PIL image -> float tensor (3, S, S), resized to a square and normalised.

    No centre crop: the inputs are detected item crops and square product photos, where
    cropping would cut off the item's edges.
    """

    def __init__(
        self,
        *,
        input_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.mean = list(mean)
        self.std = list(std)
        self.interpolation = InterpolationMode(interpolation)

    def forward(self, image: Image.Image) -> torch.Tensor:
        if image.mode != "RGB":
            raise ValueError(f"expected an RGB image, got mode {image.mode!r}; use load_image()")
        size = [self.input_size, self.input_size]
        resized = F.resize(image, size, interpolation=self.interpolation, antialias=True)
        tensor = F.pil_to_tensor(resized)  # (3, S, S) uint8
        tensor = F.convert_image_dtype(tensor, torch.float32)  # (3, S, S) in [0, 1]
        return F.normalize(tensor, mean=self.mean, std=self.std)  # (3, S, S)

    def batch(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Transform and stack several images into one (N, 3, S, S) tensor."""
        return torch.stack([self(image) for image in images])  # (N, 3, S, S)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.input_size}, mean={self.mean}, "
            f"std={self.std}, interpolation={self.interpolation.value})"
        )
