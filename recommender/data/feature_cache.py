"""Pooled backbone features of image files, cached on disk per (weights, images, augmentation).

Quick training freezes the backbone, so its pooled features are computed once per image and
augmentation pass and reused by every epoch and every later run. One small file per image:
its key hashes the backbone weights sha256, the transform or augmentation (config, pass,
seed), the image's content hash and its crop box, so any change gives a new file instead of
stale features, and training and evaluation share the features of the same photos.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from recommender.augment import TrainAugment
from recommender.data.pairs import crop_box
from recommender.images import load_image
from recommender.models.backbones import GRID_SIZE, Backbone

logger = logging.getLogger(__name__)

CHUNK = 512


@dataclass(frozen=True)
class ImageRef:
    """An image file, optionally cropped to a box (x1, y1, x2, y2; x2/y2 exclusive)."""

    path: Path
    box: tuple[int, int, int, int] | None = None

    def load(self) -> Image.Image:
        image = load_image(self.path)
        return crop_box(image, self.box) if self.box is not None else image


class ImageRefDataset(Dataset):
    """ImageRefs -> tensors (3, S, S): the eval transform, or augmentation pass `pass_index`."""

    def __init__(
        self,
        refs: Sequence[ImageRef],
        transform: Callable[[Image.Image], torch.Tensor],
        *,
        augment: TrainAugment | None = None,
        pass_index: int = 0,
        seed: int = 0,
    ) -> None:
        self.refs = list(refs)
        self.transform = transform
        self.augment = augment
        self.pass_index = pass_index
        self.seed = seed

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.refs[index].load()
        if self.augment is None:
            return self.transform(image)  # (3, S, S)
        ref = self.refs[index]
        # Seeded by the image, not its position, so the per-image cache stays valid.
        identity = zlib.crc32(f"{ref.path.name}|{ref.box}".encode())
        rng = np.random.default_rng([self.seed, self.pass_index, identity])
        return self.augment(image, rng)  # (3, S, S)


def file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def feature_key(ref: ImageRef, *, context: str) -> str:
    """Cache key of one image's features: its content hash and box within a context."""
    return hashlib.sha256(f"{context}|{file_md5(ref.path)}|{ref.box}".encode()).hexdigest()[:40]


def cache_context(
    dataset: ImageRefDataset,
    weights_sha256: str,
    stages: tuple[int, ...] = (),
    grid_stages: tuple[int, ...] = (),
    grid_size: int = GRID_SIZE,
) -> str:
    """What besides the image decides its features: weights, pooled stages and grids,
    transform, augmentation pass."""
    weights = f"{weights_sha256}|stages {list(stages)}" if stages else weights_sha256
    if grid_stages:
        weights = f"{weights}|grid {list(grid_stages)} x{grid_size}"
    augment = dataset.augment
    if augment is None:
        return f"{weights}|{dataset.transform!r}"
    spec = (augment.config, augment.input_size, augment.mean, augment.std)
    return f"{weights}|{spec!r}|pass {dataset.pass_index}|seed {dataset.seed}"


@torch.inference_mode()
def compute_pooled_features(
    backbone: Backbone,
    dataset: Dataset,
    *,
    device: torch.device,
    batch_size: int = 64,
    workers: int = 0,
    progress: bool = False,
    description: str = "features",
    stages: tuple[int, ...] = (),
    grid_stages: tuple[int, ...] = (),
    grid_size: int = GRID_SIZE,
) -> np.ndarray:
    """Pooled backbone features (`Backbone.pool_stages`), float32 (N, C), in dataset order."""
    pooling = {"stages": stages, "grid_stages": grid_stages, "grid_size": grid_size}
    backbone = backbone.eval().to(device, memory_format=torch.channels_last)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    chunks = [np.zeros((0, backbone.pooled_dim(**pooling)), dtype=np.float32)]
    for batch in tqdm(loader, desc=description, disable=not progress, leave=False):
        batch = batch.to(device, memory_format=torch.channels_last)  # (B, 3, S, S)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            pooled = backbone.pool_stages(batch, **pooling)  # (B, C)
        chunks.append(pooled.float().cpu().numpy())
    return np.concatenate(chunks)


def cached_pooled_features(
    backbone: Backbone,
    dataset: ImageRefDataset,
    *,
    cache_dir: Path,
    weights_sha256: str,
    device: torch.device,
    batch_size: int = 64,
    workers: int = 0,
    progress: bool = False,
    description: str = "features",
    stages: tuple[int, ...] = (),
    grid_stages: tuple[int, ...] = (),
    grid_size: int = GRID_SIZE,
) -> np.ndarray:
    """`compute_pooled_features` with one cache file per image: only missing ones are computed.

    Per-image files let training and evaluation share features of the same photos.
    """
    pooling = {"stages": stages, "grid_stages": grid_stages, "grid_size": grid_size}
    cache_dir = Path(cache_dir)
    context = cache_context(dataset, weights_sha256, **pooling)
    paths = [cache_dir / f"{feature_key(ref, context=context)}.npy" for ref in dataset.refs]
    missing = [index for index, path in enumerate(paths) if not path.is_file()]
    logger.info("%s: %d of %d features cached", description, len(paths) - len(missing), len(paths))
    cache_dir.mkdir(parents=True, exist_ok=True)
    # In chunks, so an interrupted run keeps what it computed.
    for start in range(0, len(missing), CHUNK):
        chunk = missing[start : start + CHUNK]
        computed = compute_pooled_features(
            backbone,
            Subset(dataset, chunk),
            device=device,
            batch_size=batch_size,
            workers=workers,
            progress=progress,
            description=f"{description} [{start + len(chunk)}/{len(missing)}]",
            **pooling,
        )
        for index, vector in zip(chunk, computed, strict=True):
            np.save(paths[index], vector)
    if not paths:
        return np.zeros((0, backbone.pooled_dim(**pooling)), dtype=np.float32)
    return np.stack([np.load(path) for path in paths])  # (N, C)
