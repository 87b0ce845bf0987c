"""Pooled backbone features of training photos, cached on disk for the frozen-backbone mode.

Entries are keyed by the backbone weights (in the cache folder name) and the md5 of each
image file's bytes, so a renamed photo is not recomputed and an edited one is.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from recommender.detection.detector import FashionDetector
from recommender.images import load_image
from recommender.models.backbones import Backbone

logger = logging.getLogger(__name__)


class FeatureCache:
    """image md5 -> float32 vector, stored as one .npz per key (loaded whole; small)."""

    def __init__(self, folder: Path, key: str) -> None:
        self.path = folder / f"{key}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.is_file():
            stored = np.load(self.path)
            self.vectors = dict(zip(stored["hashes"].tolist(), stored["vectors"], strict=True))
            logger.info("feature cache %s: %d vectors", self.path, len(self.vectors))

    def save(self) -> None:
        if not self.vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        hashes = np.array(list(self.vectors))
        vectors = np.stack(list(self.vectors.values()))
        temporary = self.path.with_name(self.path.stem + ".tmp.npz")
        np.savez(temporary, hashes=hashes, vectors=vectors)
        temporary.replace(self.path)


def image_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@torch.inference_mode()
def extract_pooled_features(
    paths: Sequence[Path],
    backbone: Backbone,
    cache: FeatureCache,
    *,
    square_size: int | None = None,
    detector: FashionDetector | None = None,
    batch_size: int = 16,
    desc: str = "features",
) -> torch.Tensor:
    """Pooled features (N, C) of photos: squashed to `square_size` (catalog) or, with a
    `detector`, preprocessed as the detector sees a whole photo (street; one at a time)."""
    if (square_size is None) == (detector is None):
        raise ValueError("pass exactly one of square_size and detector")
    hashes = [image_md5(path) for path in paths]
    missing = [i for i, digest in enumerate(hashes) if digest not in cache.vectors]
    transform = backbone.transforms(square_size) if square_size else None
    step = batch_size if square_size else 1
    backbone = backbone.eval().to(memory_format=torch.channels_last)
    for start in tqdm(range(0, len(missing), step), desc=desc, disable=not missing):
        chunk = missing[start : start + step]
        images = [load_image(paths[i]) for i in chunk]
        # (B, 3, S, S) squashed squares, or one (1, 3, H, W) whole photo
        batch = transform.batch(images) if transform else detector.preprocess(images[0])
        batch = batch.contiguous(memory_format=torch.channels_last)
        pooled = backbone.pool(backbone.forward_features(batch))  # (B, C)
        for i, vector in zip(chunk, pooled.numpy(), strict=True):
            cache.vectors[hashes[i]] = vector.astype(np.float32)
        if start // step % 50 == 49:
            cache.save()  # resumable: an interrupted extraction keeps what it computed
    cache.save()
    return torch.from_numpy(np.stack([cache.vectors[digest] for digest in hashes]))  # (N, C)
