"""Embedder checkpoints: weights + architecture + tag vocabulary + provenance, in one file.

A checkpoint is a `torch.save` of plain containers (loadable with `weights_only=True`):
the state dict, the `EmbedderConfig`, the vocabulary, the eval transform, the sha256 of the
ImageNet weights the backbone started from, the code version the CLI passed in, and the
metrics of the run. `manifest.json` beside it records each file's sha256; loading a file the
manifest lists checks that hash first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from recommender.models.backbones import ARCHITECTURES, build_backbone
from recommender.models.embedder import EmbedderConfig, TagEmbedder
from recommender.models.transforms import EvalTransform
from recommender.tags import TagPredictor, TagVocabulary
from recommender.weights import file_sha256

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"


class CheckpointError(ValueError):
    """A checkpoint cannot be used: corrupt, wrong format, or not the expected model."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint's vocabulary or architecture differs from what the caller expects."""


@dataclass(frozen=True)
class EmbedderCheckpoint:
    name: str
    config: EmbedderConfig
    vocabulary: TagVocabulary
    transform: dict[str, Any]
    backbone_weights_sha256: str
    code_version: str
    state_dict: Mapping[str, torch.Tensor] = field(repr=False)
    metrics: dict[str, Any] = field(default_factory=dict)
    training_state: dict[str, Any] | None = field(default=None, repr=False)
    file_sha256: str = ""

    @property
    def model_name(self) -> str:
        """Names the exact file: checkpoint name + short sha256."""
        return f"{self.name}@{self.file_sha256[:12]}"

    def eval_transform(self) -> EvalTransform:
        return EvalTransform(**self.transform)


def transform_spec(transform: EvalTransform) -> dict[str, Any]:
    return {
        "input_size": transform.input_size,
        "mean": list(transform.mean),
        "std": list(transform.std),
        "interpolation": transform.interpolation.value,
    }


def save_checkpoint(
    path: Path | str,
    *,
    name: str,
    model: TagEmbedder,
    vocabulary: TagVocabulary,
    transform: EvalTransform,
    backbone_weights_sha256: str,
    code_version: str,
    metrics: Mapping[str, Any] | None = None,
    training_state: Mapping[str, Any] | None = None,
) -> str:
    """Write the checkpoint atomically, record it in the folder's manifest; return its sha256."""
    if model.config.num_tags != vocabulary.size:
        raise CheckpointMismatchError(
            f"model has {model.config.num_tags} tag logits, vocabulary {vocabulary.size} tags"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "config": model.config.to_dict(),
        "vocabulary": vocabulary.to_dict(),
        "transform": transform_spec(transform),
        "backbone_weights_sha256": backbone_weights_sha256,
        "code_version": code_version,
        "metrics": dict(metrics or {}),
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "training_state": dict(training_state) if training_state is not None else None,
    }
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    partial.replace(path)
    digest = file_sha256(path)
    _record_in_manifest(path, digest)
    logger.info("saved checkpoint %s (sha256 %s)", path, digest[:12])
    return digest


def _record_in_manifest(path: Path, digest: str) -> None:
    manifest_path = path.parent / MANIFEST_FILE
    manifest = _read_manifest(manifest_path)
    manifest.setdefault("files", {})[path.name] = {"sha256": digest, "size": path.stat().st_size}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")


def _read_manifest(manifest_path: Path) -> dict:
    if not manifest_path.is_file():
        return {}
    try:
        return json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"unreadable manifest {manifest_path}: {error}") from error


def load_checkpoint(
    path: Path | str,
    *,
    expected_vocabulary: TagVocabulary | None = None,
    expected_config: EmbedderConfig | None = None,
) -> EmbedderCheckpoint:
    """Read and check a checkpoint; refuses a hash, vocabulary or architecture mismatch."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    digest = file_sha256(path)
    listed = _read_manifest(path.parent / MANIFEST_FILE).get("files", {}).get(path.name)
    if listed and listed["sha256"] != digest:
        raise CheckpointError(
            f"checkpoint {path}: sha256 {digest} differs from the manifest's {listed['sha256']}"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not an embedder checkpoint (format {FORMAT_VERSION})")
    checkpoint = EmbedderCheckpoint(
        name=payload["name"],
        config=EmbedderConfig(**payload["config"]),
        vocabulary=TagVocabulary.from_dict(payload["vocabulary"]),
        transform=payload["transform"],
        backbone_weights_sha256=payload["backbone_weights_sha256"],
        code_version=payload["code_version"],
        state_dict=payload["state_dict"],
        metrics=payload["metrics"],
        training_state=payload["training_state"],
        file_sha256=digest,
    )
    _check_expectations(path, checkpoint, expected_vocabulary, expected_config)
    return checkpoint


def _check_expectations(
    path: Path,
    checkpoint: EmbedderCheckpoint,
    expected_vocabulary: TagVocabulary | None,
    expected_config: EmbedderConfig | None,
) -> None:
    config, vocabulary = checkpoint.config, checkpoint.vocabulary
    if config.architecture not in ARCHITECTURES:
        raise CheckpointMismatchError(
            f"{path}: unknown architecture {config.architecture!r}; "
            f"this code knows {', '.join(sorted(ARCHITECTURES))}"
        )
    if config.num_tags != vocabulary.size:
        raise CheckpointMismatchError(
            f"{path}: {config.num_tags} tag logits but its vocabulary has {vocabulary.size} tags"
        )
    if expected_vocabulary is not None and (
        expected_vocabulary.fingerprint() != vocabulary.fingerprint()
    ):
        raise CheckpointMismatchError(
            f"{path}: tag vocabulary {vocabulary.fingerprint()} ({vocabulary.size} tags) is not "
            f"the expected {expected_vocabulary.fingerprint()} ({expected_vocabulary.size} tags)"
        )
    if expected_config is not None and expected_config != config:
        raise CheckpointMismatchError(
            f"{path}: architecture {config} is not the expected {expected_config}"
        )


def build_model(checkpoint: EmbedderCheckpoint) -> TagEmbedder:
    """The checkpoint's network in eval mode (no registry weights needed: all are stored)."""
    backbone = build_backbone(checkpoint.config.architecture, pretrained=False)
    model = TagEmbedder(backbone, checkpoint.config)
    try:
        result = model.load_state_dict(checkpoint.state_dict, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise CheckpointMismatchError(
            f"checkpoint {checkpoint.name} does not fit {checkpoint.config.architecture}: {error}"
        ) from error
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointMismatchError(
            f"checkpoint {checkpoint.name} does not fit {checkpoint.config.architecture}: "
            f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    return model.eval()


def load_tag_predictor(
    path: Path | str, *, device: str | torch.device = "cpu", batch_size: int = 32
) -> TagPredictor:
    """A `TagPredictor` (images -> tagsets) over the checkpoint at `path`."""
    checkpoint = load_checkpoint(path)
    return TagPredictor(
        build_model(checkpoint),
        checkpoint.eval_transform(),
        checkpoint.vocabulary,
        device=device,
        batch_size=batch_size,
    )


def newest_checkpoint(model_dir: Path, filename: str) -> Path | None:
    """The most recently written ``model_dir/*/filename`` (e.g. ``embedder.pt``), if any."""
    candidates = list(model_dir.glob(f"*/{filename}")) if model_dir.is_dir() else []
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)
