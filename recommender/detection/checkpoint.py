"""Trained CAM detector checkpoints: head (and optionally backbone) weights with provenance.

A checkpoint stores the fashion head, the backbone's architecture and the weights it was
trained from (name and sha256; none for a network trained from scratch, whose every tensor
the checkpoint then holds), the class vocabulary, the detector config, metrics and the code
version. Loading refuses a checkpoint whose vocabulary, backbone or base weights differ from
what the caller expects, so boxes and embeddings can always name the model that made them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from recommender.fashion_classes import FASHION_CLASSES
from recommender.models.backbones import ARCHITECTURES, OUTPUT_STRIDES
from recommender.weights import file_sha256, get_weight_entry

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "shopalook.cam_detector/1"


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit: other vocabulary, other base weights, other file."""


@dataclass
class DetectorCheckpoint:
    """Everything needed to rebuild a trained detector, and to say what it is."""

    class_names: tuple[str, ...]
    weights_name: str | None  # None: trained from scratch (`backbone_state` holds it all)
    weights_sha256: str | None
    head_state: dict[str, torch.Tensor]
    code_version: str
    backbone_state: dict[str, torch.Tensor] | None = None
    # `backbones.ARCHITECTURES` name; checkpoints saved without it used EfficientNet-Lite0.
    architecture: str = "efficientnet_lite0"
    # The backbone's output stride (`build_backbone`): the head was trained on, and its
    # thresholds tuned on, maps of this resolution. Checkpoints saved without it used 32.
    output_stride: int = 32
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "class_names": list(self.class_names),
            "weights_name": self.weights_name,
            "weights_sha256": self.weights_sha256,
            "head_state": self.head_state,
            "backbone_state": self.backbone_state,
            "architecture": self.architecture,
            "output_stride": self.output_stride,
            "code_version": self.code_version,
            "config": self.config,
            "metrics": self.metrics,
        }


def save_checkpoint(checkpoint: DetectorCheckpoint, path: Path | str) -> str:
    """Write atomically (temp file + rename); returns the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(checkpoint.to_dict(), temporary)
    temporary.replace(path)
    digest = file_sha256(path)
    logger.info("saved detector checkpoint %s (sha256 %s)", path, digest)
    return digest


def load_checkpoint(
    path: Path | str,
    *,
    expected_classes: Sequence[str] = FASHION_CLASSES,
    expected_sha256: str | None = None,
) -> DetectorCheckpoint:
    """Load and check a checkpoint; raises `CheckpointMismatchError` when it does not fit."""
    path = Path(path)
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256:
            raise CheckpointMismatchError(
                f"checkpoint {path}: sha256 {actual} differs from the expected {expected_sha256}"
            )
    raw = torch.load(path, map_location="cpu", weights_only=True)
    _check_raw(raw, path, tuple(expected_classes))
    return DetectorCheckpoint(
        class_names=tuple(raw["class_names"]),
        weights_name=raw["weights_name"],
        weights_sha256=raw["weights_sha256"],
        head_state=dict(raw["head_state"]),
        code_version=raw["code_version"],
        backbone_state=raw.get("backbone_state"),
        architecture=raw.get("architecture", "efficientnet_lite0"),
        output_stride=int(raw.get("output_stride", 32)),
        config=dict(raw.get("config") or {}),
        metrics=dict(raw.get("metrics") or {}),
    )


def _check_raw(raw: Mapping[str, Any], path: Path, expected_classes: tuple[str, ...]) -> None:
    if not isinstance(raw, Mapping) or raw.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    classes = tuple(raw["class_names"])
    if classes != expected_classes:
        raise CheckpointMismatchError(
            f"checkpoint {path} was trained for classes {list(classes)}, "
            f"this code expects {list(expected_classes)}; retrain or use a matching version"
        )
    stride = raw.get("output_stride", 32)
    if stride not in OUTPUT_STRIDES:
        raise CheckpointMismatchError(
            f"checkpoint {path} has output stride {stride!r}; this code builds {OUTPUT_STRIDES}"
        )
    architecture = raw.get("architecture", "efficientnet_lite0")
    if architecture not in ARCHITECTURES:
        raise CheckpointMismatchError(
            f"checkpoint {path} is for backbone {architecture!r}; this code builds "
            f"{sorted(ARCHITECTURES)}"
        )
    if raw["weights_name"] is None:  # trained from scratch: the checkpoint is the network
        if raw.get("backbone_state") is None:
            raise CheckpointMismatchError(
                f"checkpoint {path} names no base weights and holds no backbone weights"
            )
        return
    try:
        entry = get_weight_entry(raw["weights_name"])
    except KeyError as error:
        raise CheckpointMismatchError(f"checkpoint {path}: {error.args[0]}") from None
    if entry.architecture != architecture:
        raise CheckpointMismatchError(
            f"checkpoint {path}: weights {entry.name} are for {entry.architecture}, "
            f"not its backbone {architecture}"
        )
    if entry.sha256 != raw["weights_sha256"]:
        raise CheckpointMismatchError(
            f"checkpoint {path} was trained from weights {raw['weights_name']} with sha256 "
            f"{raw['weights_sha256']}, the registry pins {entry.sha256}"
        )
