"""Training augmentation: geometry and noise only, so colour tags stay true.

Colour jitter is left out on purpose: the vocabulary has a colour group (baseColour), and a
hue or saturation shift would turn a "Navy Blue" photo into a mislabelled one. Randomness
comes from an explicit `numpy.random.Generator`, so an augmentation pass is reproducible
(the quick-mode feature cache relies on it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import functional as F

WHITE = (255, 255, 255)  # product photos are on white; fill exposed corners the same


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms; `describe()` keys caches of augmented features."""

    scale: tuple[float, float] = (0.6, 1.0)  # random resized crop: share of the area kept
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_probability: float = 0.5
    max_rotation_degrees: float = 10.0
    max_translation: float = 0.06  # share of the side
    noise_std: float = 0.03  # Gaussian noise, in [0, 1] pixel units

    def describe(self) -> str:
        return repr(self)


class TrainAugment:
    """RGB PIL image + generator -> augmented, normalised float tensor (3, S, S)."""

    def __init__(
        self,
        *,
        input_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        config: AugmentConfig | None = None,
    ) -> None:
        self.input_size = input_size
        self.mean = list(mean)
        self.std = list(std)
        self.config = config or AugmentConfig()

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> torch.Tensor:
        image = self._random_resized_crop(image, rng)
        if rng.random() < self.config.flip_probability:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image = self._random_affine(image, rng)
        tensor = F.convert_image_dtype(F.pil_to_tensor(image), torch.float32)  # (3, S, S)
        if self.config.noise_std > 0:
            noise = rng.normal(0.0, self.config.noise_std, size=tuple(tensor.shape))
            tensor = (tensor + torch.from_numpy(noise).float()).clamp(0, 1)  # (3, S, S)
        return F.normalize(tensor, mean=self.mean, std=self.std)  # (3, S, S)

    def _random_resized_crop(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        width, height = image.size
        left, top, crop_width, crop_height = 0, 0, width, height
        for _ in range(10):
            area = width * height * rng.uniform(*self.config.scale)
            log_ratio = rng.uniform(math.log(self.config.ratio[0]), math.log(self.config.ratio[1]))
            aspect = math.exp(log_ratio)
            candidate_width = round(math.sqrt(area * aspect))
            candidate_height = round(math.sqrt(area / aspect))
            if 0 < candidate_width <= width and 0 < candidate_height <= height:
                crop_width, crop_height = candidate_width, candidate_height
                left = int(rng.integers(0, width - crop_width + 1))
                top = int(rng.integers(0, height - crop_height + 1))
                break
        box = (left, top, left + crop_width, top + crop_height)
        size = (self.input_size, self.input_size)
        return image.resize(size, Image.Resampling.BICUBIC, box=box)

    def _random_affine(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        limit = self.config.max_rotation_degrees
        shift = self.config.max_translation * self.input_size
        angle = float(rng.uniform(-limit, limit))
        translate = (float(rng.uniform(-shift, shift)), float(rng.uniform(-shift, shift)))
        return image.rotate(
            angle, resample=Image.Resampling.BILINEAR, translate=translate, fillcolor=WHITE
        )


@dataclass(frozen=True)
class BoxJitter:
    """Moves each side of a street crop's box out (or in) by a random share of its size.

    A detector's box is rarely the ground truth's: it takes in some neck, trousers or
    background, or cuts a sleeve. Training the street crops on jittered boxes (more often
    grown than shrunk) keeps a detected crop near its shop photo in the embedding.
    """

    low: float = -0.1  # share of the box's width/height a side may move in
    high: float = 0.3  # ... or out

    def __call__(
        self, box: tuple[int, int, int, int], rng: np.random.Generator
    ) -> tuple[int, int, int, int]:
        x1, y1, x2, y2 = box
        width, height = x2 - x1, y2 - y1
        left, top, right, bottom = rng.uniform(self.low, self.high, size=4)
        jittered = (
            round(x1 - left * width),
            round(y1 - top * height),
            round(x2 + right * width),
            round(y2 + bottom * height),
        )
        if jittered[2] - jittered[0] < 1 or jittered[3] - jittered[1] < 1:
            return box
        return jittered  # may leave the image: crop_box clips it
