"""Fashion item detection with class activation maps: the public entry points.

`zero_shot_detector()` works on a fresh install (ImageNet classes grouped into fashion
classes); `detector_from_checkpoint()` loads a head trained on image-level labels only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from recommender.detection.boxes import iou
from recommender.detection.checkpoint import (
    CheckpointMismatchError,
    DetectorCheckpoint,
    load_checkpoint,
)
from recommender.detection.detector import (
    BASELINE_CONFIG,
    Detection,
    DetectorConfig,
    FashionDetector,
)
from recommender.detection.int8 import Int8GraphError, find_quantized_graph
from recommender.fashion_classes import FASHION_CLASSES, IMAGENET_TO_FASHION, imagenet_groups
from recommender.models.backbones import Backbone, build_backbone
from recommender.models.cam import CamHead, zero_shot_head
from recommender.weights import file_sha256

logger = logging.getLogger(__name__)

ZERO_SHOT_CONFIG = DetectorConfig(presence_threshold=0.05)

__all__ = [
    "BASELINE_CONFIG",
    "CheckpointMismatchError",
    "ZERO_SHOT_CONFIG",
    "Detection",
    "DetectorConfig",
    "FashionDetector",
    "Int8GraphError",
    "backbone_fits",
    "detector_from_checkpoint",
    "iou",
    "trained_head",
    "zero_shot_detector",
]


def zero_shot_detector(
    *,
    backbone: Backbone | None = None,
    config: DetectorConfig | None = None,
    mapping: Mapping[int, str] = IMAGENET_TO_FASHION,
    device: str = "cpu",
    precision: str = "float32",
    runtime: str = "torch",
    openvino_cache_dir: Path | str | None = None,
) -> FashionDetector:
    """A detector reading fashion classes off the ImageNet classifier (no training).

    Its class probabilities are summed ImageNet softmax shares, far below sigmoid
    probabilities, hence the lower default presence threshold.
    """
    config = config or ZERO_SHOT_CONFIG
    backbone = backbone or build_backbone("efficientnet_lite0")
    head = zero_shot_head(backbone.classifier, FASHION_CLASSES, imagenet_groups(mapping))
    return FashionDetector(
        backbone,
        head,
        config,
        device=device,
        precision=precision,
        runtime=runtime,
        openvino_cache_dir=openvino_cache_dir,
    )


def trained_head(checkpoint: DetectorCheckpoint, in_features: int) -> CamHead:
    """The fashion head stored in a checkpoint."""
    head = CamHead(in_features, checkpoint.class_names)
    head.linear.load_state_dict(checkpoint.head_state)
    return head.eval()


def backbone_fits(checkpoint: DetectorCheckpoint, backbone: Backbone) -> bool:
    """Whether `backbone` computes the features `checkpoint`'s head was trained on: the same
    pretrained weights (so the same architecture) at the same output stride."""
    return (
        backbone.weights is not None
        and backbone.weights.sha256 == checkpoint.weights_sha256
        and backbone.output_stride == checkpoint.output_stride
    )


def detector_from_checkpoint(
    path: Path | str,
    *,
    backbone: Backbone | None = None,
    config: DetectorConfig | None = None,
    expected_sha256: str | None = None,
    device: str = "cpu",
    precision: str = "float32",
    runtime: str = "torch",
    openvino_cache_dir: Path | str | None = None,
) -> FashionDetector:
    """A trained detector; its tuned config is used unless `config` overrides it.

    `backbone` may be passed to share one already built (only when the checkpoint did not
    fine-tune it); raises `CheckpointMismatchError` for a checkpoint that does not fit.
    The 8-bit graph `python -m recommender.quantize` made from this checkpoint file, where
    there is one, runs with precision "int8", and with "auto" on CPUs without native
    bfloat16.
    """
    checkpoint = load_checkpoint(path, expected_sha256=expected_sha256)
    quantized = find_quantized_graph(path, expected_sha256 or file_sha256(path))
    if backbone is None or checkpoint.backbone_state is not None:
        backbone = build_backbone(
            checkpoint.architecture,
            pretrained=checkpoint.weights_name is not None,
            weights=checkpoint.weights_name,
            output_stride=checkpoint.output_stride,
        )
        if checkpoint.backbone_state is not None:
            backbone.network.load_state_dict(checkpoint.backbone_state)
    elif not backbone_fits(checkpoint, backbone):
        given = backbone.weights.name if backbone.weights is not None else "no weights"
        raise CheckpointMismatchError(
            f"checkpoint {path} needs backbone weights {checkpoint.weights_name} at output "
            f"stride {checkpoint.output_stride}; the backbone given has {given} at "
            f"{backbone.output_stride}"
        )
    head = trained_head(checkpoint, backbone.feature_dim)
    tuned = DetectorConfig.from_dict(checkpoint.config.get("detector", {}))
    logger.info("loaded detector %s (code %s)", path, checkpoint.code_version)
    return FashionDetector(
        backbone,
        head,
        config or tuned,
        device=device,
        precision=precision,
        runtime=runtime,
        openvino_cache_dir=openvino_cache_dir,
        quantized_graph=quantized,
    )
