"""Image embeddings: RGB images -> L2-normalised float32 vectors for similarity search."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from recommender.checkpoints import build_model, load_checkpoint
from recommender.devices import resolve_device
from recommender.models.backbones import build_backbone
from recommender.models.embedding import PooledFeatures
from recommender.models.fuse import fuse_batchnorm
from recommender.runtimes import OpenVinoModel, resolve_runtime
from recommender.tags import Tagset, TagVocabulary
from recommender.weights import get_weight_entry

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "efficientnet_lite0.imagenet"


@dataclass(frozen=True)
class EmbedderInfo:
    """Which model made a vector: store it beside the vectors so they stay comparable."""

    model_name: str
    weights_sha256: str
    dimension: int


class ImageEmbedder:
    """Embeds images with any network mapping (N, 3, S, S) images to (N, D) vectors.

    `from_weights` builds the ImageNet-features baseline; a trained checkpoint supplies its
    own network, transform and info to the constructor and is used the same way.
    """

    def __init__(
        self,
        network: nn.Module,
        transform: Callable[[Image.Image], torch.Tensor],
        info: EmbedderInfo,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        vocabulary: TagVocabulary | None = None,
        runtime: str = "torch",
        openvino_cache_dir: Path | str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = resolve_device(device)
        # channels_last speeds up CPU inference of this depthwise-conv network by ~1/3
        # (team measurement, batch 32 on 2 cores with glibc malloc tuned: 7.8 -> 5.3 ms/image).
        self._memory_format = (
            torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        )
        # Inference only: BatchNorm folded into the convs (a copy; `network` is untouched).
        self.network = fuse_batchnorm(network.eval()).to(
            self.device, memory_format=self._memory_format
        )
        self.transform = transform
        self.info = info
        self.batch_size = batch_size
        # Set for a tag-trained network (one with `forward_all`): embed_with_tags decodes
        # its logits; None for ImageNet features, which predict no tags.
        self.vocabulary = vocabulary if hasattr(network, "forward_all") else None
        # "openvino" compiles the network for the CPU (`recommender.runtimes`): one graph
        # giving vectors and tag logits where the network predicts tags (the logits are
        # one small linear layer more), float32 so stored vectors stay comparable.
        self.runtime = resolve_runtime(runtime, self.device)
        self._compiled = (
            OpenVinoModel(
                self.network,
                method="forward_all" if hasattr(network, "forward_all") else "forward",
                cache_dir=openvino_cache_dir,
            )
            if self.runtime == "openvino"
            else None
        )
        if self._compiled is not None:  # OpenVINO reads plain (B, 3, S, S) arrays
            self._memory_format = torch.contiguous_format

    @classmethod
    def from_weights(
        cls,
        name: str = DEFAULT_MODEL,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        weights_path: Path | str | None = None,
        runtime: str = "torch",
        openvino_cache_dir: Path | str | None = None,
    ) -> ImageEmbedder:
        """The baseline embedder: pooled backbone features of a registry weight entry."""
        entry = get_weight_entry(name)
        backbone = build_backbone(entry.architecture, weights=entry, weights_path=weights_path)
        network = PooledFeatures(backbone)
        info = EmbedderInfo(
            model_name=entry.name, weights_sha256=entry.sha256, dimension=network.dimension
        )
        return cls(
            network,
            entry.transforms(),
            info,
            device=device,
            batch_size=batch_size,
            runtime=runtime,
            openvino_cache_dir=openvino_cache_dir,
        )

    @classmethod
    def from_checkpoint(
        cls,
        path: Path | str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        runtime: str = "torch",
        openvino_cache_dir: Path | str | None = None,
    ) -> ImageEmbedder:
        """A trained embedder (`recommender.checkpoints`): 256-d tag-aware embeddings.

        `model_name` is the checkpoint's name plus the short sha256 of its file, and
        `weights_sha256` the file's full sha256, so stored vectors name the exact model.
        """
        checkpoint = load_checkpoint(path)
        network = build_model(checkpoint)
        info = EmbedderInfo(
            model_name=checkpoint.model_name,
            weights_sha256=checkpoint.file_sha256,
            dimension=network.dimension,
        )
        return cls(
            network,
            checkpoint.eval_transform(),
            info,
            device=device,
            batch_size=batch_size,
            vocabulary=checkpoint.vocabulary,
            runtime=runtime,
            openvino_cache_dir=openvino_cache_dir,
        )

    @property
    def model_name(self) -> str:
        return self.info.model_name

    @property
    def weights_sha256(self) -> str:
        return self.info.weights_sha256

    @property
    def dimension(self) -> int:
        return self.info.dimension

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """RGB images -> float32 array (N, D), each row of unit L2 norm."""
        if len(images) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batches = [
            self._embed_batch(images[start : start + self.batch_size])
            for start in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(batches)

    def embed_with_tags(
        self,
        images: Sequence[Image.Image],
        allowed: Sequence[Mapping[str, Collection[str]] | None] | None = None,
    ) -> tuple[np.ndarray, list[Tagset]]:
        """Vectors (N, D) and, from the same forward pass, each image's predicted tagset.

        Tagsets are empty for a model without a tag vocabulary (ImageNet features);
        ``allowed`` limits the values per image and group (`TagVocabulary.decode`).
        """
        if self.vocabulary is None:
            return self.embed(images), [{} for _ in images]
        vectors, probabilities = [np.zeros((0, self.dimension), dtype=np.float32)], []
        for start in range(0, len(images), self.batch_size):
            batch_vectors, batch_probabilities = self._embed_batch(
                images[start : start + self.batch_size], with_tags=True
            )
            vectors.append(batch_vectors)
            probabilities.append(batch_probabilities)
        if not probabilities:
            return vectors[0], []
        return np.concatenate(vectors), self.vocabulary.decode(
            np.concatenate(probabilities), allowed
        )

    @torch.inference_mode()
    def _embed_batch(self, images: Sequence[Image.Image], *, with_tags: bool = False):
        batch = torch.stack([self.transform(image) for image in images])  # (B, 3, S, S)
        batch = batch.to(self.device, memory_format=self._memory_format)  # (B, 3, S, S)
        vectors, logits = self.forward(batch, with_tags=with_tags)  # (B, D), (B, T) or None
        vectors = F.normalize(vectors.float(), dim=1).cpu().numpy()  # (B, D), unit L2 norm
        if not with_tags:
            return vectors
        return vectors, torch.sigmoid(logits.float()).cpu().numpy()

    def forward(
        self, batch: torch.Tensor, *, with_tags: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The network on a transformed batch (B, 3, S, S): raw vectors (B, D) and, with
        `with_tags`, tag logits (B, T). Call under `torch.inference_mode()`."""
        if self._compiled is not None:
            outputs = self._compiled(batch)
            return outputs if isinstance(outputs, tuple) else (outputs, None)
        if with_tags:
            return self.network.forward_all(batch)  # (B, D), (B, T)
        return self.network(batch), None  # (B, D)
