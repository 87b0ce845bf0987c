"""From-scratch mode: train every layer of a backbone that has no ImageNet weights.

This is the seed design as it was: a VGG16-style network (`models.seed_vgg`) learns the
fashion classes from image-level labels alone, then its class activation maps find the
items. It is here so the design can be compared with a pretrained backbone on the same
data and the same evaluation.

Every step reads and augments its photos (nothing is frozen, so nothing can be cached):
catalog photos as `input_size` squares (random resized crop, flip, small rotation and
shift, Gaussian noise: `augment.TrainAugment`), street photos whole, in a frame 1.5 times as
long as it is wide (`input_size` on the short side) that covers the photo, at a random
offset along its long side, mirrored half the time. A batch holds one kind of frame. The
loss is the weighted, masked BCE of the other modes; BatchNorm learns from batch
statistics. Each epoch is saved and a rerun resumes after the last one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import functional as TF
from tqdm import tqdm

from recommender.augment import TrainAugment
from recommender.detection.finetune import (
    resume_epoch,
    save_epoch,
    set_learning_rate,
    shape_batches,
)
from recommender.fashion_classes import FASHION_CLASSES
from recommender.images import load_image, upright_size
from recommender.models.backbones import Backbone
from recommender.models.cam import CamHead

logger = logging.getLogger(__name__)

STREET_ASPECT = 1.5  # long side / short side of a street frame (street photos are ~550x830)


@dataclass(frozen=True)
class ScratchExample:
    """One training photo: its file, labels (K,), loss weights (K,), and whether it is a
    street photo (framed whole) or a product photo (a square)."""

    path: Path
    labels: torch.Tensor
    weights: torch.Tensor
    street: bool


def frame_shape(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(height, width) of the frame a street photo is trained in: `short_side` across its
    short side, `STREET_ASPECT` times that along its long side, rounded to 32 pixels."""
    long_side = int(short_side * STREET_ASPECT / 32 + 0.5) * 32
    return (long_side, short_side) if height >= width else (short_side, long_side)


class _TrainingPhotos(Dataset):
    def __init__(
        self, examples: Sequence[ScratchExample], backbone: Backbone, input_size: int, seed: int
    ) -> None:
        self.examples = list(examples)
        transform = backbone.transforms(input_size)
        self.mean, self.std = transform.mean, transform.std
        self.input_size = input_size
        self.square = TrainAugment(input_size=input_size, mean=self.mean, std=self.std)
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        example = self.examples[index]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        image = load_image(example.path)
        # (3, H, W) street frame or (3, S, S) product square
        tensor = self._street(image, rng) if example.street else self.square(image, rng)
        return tensor, example.labels, example.weights

    def _street(self, image: Image.Image, rng: np.random.Generator) -> torch.Tensor:
        height, width = frame_shape(image.width, image.height, self.input_size)
        scale = max(width / image.width, height / image.height)  # cover the frame
        resized = image.resize(
            (max(width, round(image.width * scale)), max(height, round(image.height * scale))),
            Image.Resampling.BILINEAR,
        )
        left = int(rng.integers(0, resized.width - width + 1))
        top = int(rng.integers(0, resized.height - height + 1))
        framed = resized.crop((left, top, left + width, top + height))
        if rng.random() < 0.5:
            framed = framed.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        tensor = TF.convert_image_dtype(TF.pil_to_tensor(framed), torch.float32)  # (3, H, W)
        return TF.normalize(tensor, mean=self.mean, std=self.std)


def frame_shapes(examples: Sequence[ScratchExample], input_size: int) -> list[tuple[int, int]]:
    """(height, width) of each example's training frame (street photos: from the header,
    upright as `load_image` turns them, so a batch's frames share their shape)."""
    return [
        frame_shape(*upright_size(example.path), input_size)
        if example.street
        else (input_size, input_size)
        for example in examples
    ]


def train_from_scratch(
    backbone: Backbone,
    examples: Sequence[ScratchExample],
    out_dir: Path,
    *,
    epochs: int,
    seed: int,
    input_size: int = 224,
    learning_rate: float = 2e-3,
    weight_decay: float = 5e-4,
    batch_size: int = 32,
    workers: int | None = None,
    progress: bool = True,
) -> CamHead:
    """Train the whole backbone and a CAM head from their initial weights, in place;
    returns the head. Epoch files in `out_dir` make a rerun resume after the last one."""
    if backbone.weights is not None:
        raise ValueError(
            f"{backbone.architecture} has ImageNet weights; from scratch is for networks "
            "without them (train it with --quick or the full mode)"
        )
    if not examples:
        raise ValueError("no training photos")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    network = backbone.network
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    with torch.random.fork_rng(devices=[]):  # the head's initial weights follow `seed`
        torch.manual_seed(seed)
        head = CamHead(backbone.feature_dim, FASHION_CLASSES)
    memory_format = torch.channels_last  # faster convolutions, forward and backward
    network.to(device, memory_format=memory_format)
    head.to(device)
    optimiser = torch.optim.AdamW(
        [*network.parameters(), *head.parameters()],
        lr=learning_rate,
        weight_decay=weight_decay,
    )
    start_epoch = resume_epoch(out_dir, backbone, head, optimiser, prefix="scratch")
    photos = _TrainingPhotos(examples, backbone, input_size, seed)
    shapes = frame_shapes(examples, input_size)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(start_epoch):  # the same shuffles as an uninterrupted run
        shape_batches(shapes, batch_size, generator)
    steps_per_epoch = len(shape_batches(shapes, batch_size, torch.Generator().manual_seed(seed)))
    if workers is None:
        workers = min(8, max(1, (os.cpu_count() or 2) - 1))
    mean_weight = float(torch.stack([example.weights for example in examples]).sum(dim=1).mean())
    for epoch in range(start_epoch, epochs):
        batches = shape_batches(shapes, batch_size, generator)
        photos.epoch = epoch
        loader = DataLoader(
            photos,
            batch_sampler=batches,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=False,
        )
        network.train()
        head.train()
        total = 0.0
        for step, (images, labels, weights) in enumerate(
            tqdm(loader, desc=f"scratch epoch {epoch + 1}/{epochs}", disable=not progress)
        ):
            set_learning_rate(optimiser, (epoch * steps_per_epoch + step) / steps_per_epoch, epochs)
            images = images.to(device).contiguous(memory_format=memory_format)  # (B, 3, H, W)
            labels, weights = labels.to(device), weights.to(device)  # (B, K)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                features = network.forward_features(images)  # (B, C, h, w)
                logits = head(backbone.pool(features)).float()  # (B, K)
            losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
            loss = (losses * weights).sum() / max(len(images) * mean_weight, 1e-6)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item()
        mean_loss = total / max(len(batches), 1)
        logger.info("scratch epoch %d/%d loss %.4f", epoch + 1, epochs, mean_loss)
        save_epoch(out_dir, epoch, backbone, head, optimiser, prefix="scratch")
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    network.to("cpu", memory_format=torch.contiguous_format).eval()
    return head.cpu().eval()
