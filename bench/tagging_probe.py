"""Tagging baseline: a linear probe on frozen ImageNet features (the BASELINES.md method).

    .venv/bin/python bench/tagging_probe.py --data-dir ../shared/data \\
        [--checkpoint var/models/embedder-quick/embedder.pt] --feature-cache DIR --out probe.json

The pooled 1280-d EfficientNet-Lite0 features of the catalog (shared with the retrieval
evaluation through its feature cache), standardised on the train split; one softmax
layer per tag group, trained with Adam for 300 full-batch steps on the train split;
scored on the test split with ``recommender.evaluate.tagging.tagging_report``, i.e. top-1
per group and mAP exactly as the trained embedder's tags are scored. The tag vocabulary
is the checkpoint's when one is given (same groups and folded rare values), else one
built from the train split.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

STEPS = 300
LEARNING_RATE = 0.01


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, help="use this embedder's tag vocabulary")
    parser.add_argument("--feature-cache", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def train_probe(
    features: np.ndarray, targets: np.ndarray, masks: np.ndarray, slices: dict[str, slice], steps
) -> torch.nn.Linear:
    """One linear layer over all tags; a softmax cross-entropy per group (masked items out)."""
    torch.manual_seed(0)
    inputs = torch.from_numpy(features)  # (N, C)
    labels = torch.from_numpy(targets)  # (N, T)
    labelled = torch.from_numpy(masks)  # (N, T)
    layer = torch.nn.Linear(inputs.shape[1], labels.shape[1])
    optimiser = torch.optim.Adam(layer.parameters(), lr=LEARNING_RATE)
    for _ in range(steps):
        logits = layer(inputs)  # (N, T)
        loss = torch.zeros(())
        for columns in slices.values():
            rows = labelled[:, columns.start] > 0  # (N,)
            if rows.any():
                loss = loss + torch.nn.functional.cross_entropy(
                    logits[rows, columns], labels[rows, columns].argmax(dim=1)
                )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return layer


@torch.inference_mode()
def probe_scores(layer: torch.nn.Linear, features: np.ndarray, slices: dict[str, slice]):
    logits = layer(torch.from_numpy(features))  # (N, T)
    scores = torch.empty_like(logits)
    for columns in slices.values():
        scores[:, columns] = logits[:, columns].softmax(dim=1)
    return scores.numpy()


def main() -> None:
    arguments = parse_arguments()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from recommender.checkpoints import load_checkpoint
    from recommender.data.catalog import read_catalog
    from recommender.data.feature_cache import ImageRef, ImageRefDataset, cached_pooled_features
    from recommender.devices import resolve_device
    from recommender.evaluate.tagging import tagging_report
    from recommender.models.backbones import build_backbone
    from recommender.tags import build_vocabulary
    from recommender.weights import get_weight_entry

    items = read_catalog(arguments.data_dir / "catalog")
    train = np.array([item.split == "train" for item in items])
    test = np.array([item.split == "test" for item in items])
    if arguments.checkpoint is not None:
        vocabulary = load_checkpoint(arguments.checkpoint).vocabulary
    else:
        vocabulary = build_vocabulary([item.row for item in items if item.split == "train"])
    entry = get_weight_entry("efficientnet_lite0.imagenet")
    pooled = cached_pooled_features(
        build_backbone(entry.architecture, weights=entry),
        ImageRefDataset([ImageRef(item.image_path) for item in items], entry.transforms()),
        cache_dir=arguments.feature_cache,
        weights_sha256=entry.sha256,
        device=resolve_device(arguments.device),
        progress=True,
        description="imagenet: catalog",
    )  # (N, 1280)
    mean, std = pooled[train].mean(axis=0), pooled[train].std(axis=0) + 1e-6
    standardised = ((pooled - mean) / std).astype(np.float32)
    targets, masks = vocabulary.encode_rows([item.row for item in items])
    slices = vocabulary.slices()
    layer = train_probe(standardised[train], targets[train], masks[train], slices, arguments.steps)
    scores = probe_scores(layer, standardised[test], slices)
    report = tagging_report(scores, targets[test], masks[test], vocabulary)
    report.update(
        method=f"linear probe, Adam {arguments.steps} full-batch steps", train=int(train.sum())
    )
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report["top1"], indent=1))


if __name__ == "__main__":
    main()
