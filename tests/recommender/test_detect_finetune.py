"""The full detector mode: frozen trunk cached once, tail + CAM head fine-tuned on it."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from recommender.detection.finetune import (
    TailExample,
    TrunkCache,
    finetune_tail,
    tail_forward,
    tail_pooled,
    trunk_forward,
)
from recommender.fashion_classes import FASHION_CLASSES
from recommender.models.backbones import Backbone


def test_trunk_then_tail_is_the_backbone_forward(pretrained_backbone: Backbone) -> None:
    images = torch.randn(2, 3, 224, 160)
    network = pretrained_backbone.network.eval()

    with torch.inference_mode():
        split = tail_forward(network, trunk_forward(network, images, 2), 2)
        whole = pretrained_backbone.forward_features(images)

    assert torch.equal(split, whole)


def test_trunk_cache_stores_each_photo_once(
    tmp_path: Path, pretrained_backbone: Backbone, catalog_photos: list[Path]
) -> None:
    cache = TrunkCache(tmp_path, pretrained_backbone, tail_stages=1)
    first = cache.catalog(catalog_photos[:3])
    files = sorted(tmp_path.rglob("*.npy"))
    stamps = [file.stat().st_mtime_ns for file in files]

    again = cache.catalog(catalog_photos[:3])

    assert len(files) == 3 and [file.stat().st_mtime_ns for file in files] == stamps
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert first[0].dtype == np.float16 and first[0].shape == (192, 7, 7)
    transform = pretrained_backbone.weights.transforms()
    from recommender.images import load_image

    with torch.inference_mode():
        exact = trunk_forward(
            pretrained_backbone.network.eval(), transform.batch([load_image(catalog_photos[0])]), 1
        )[0]
    assert torch.allclose(torch.from_numpy(first[0]).float(), exact, atol=0.05, rtol=0.02)


def _examples(count: int = 12) -> list[TailExample]:
    """Trunk outputs that show their labels: each present class lifts its own channels."""
    generator = torch.Generator().manual_seed(1)
    examples = []
    for index in range(count):
        shape = (192, 7, 7) if index % 4 else (192, 9, 6)  # photos of another shape batch apart
        labels = (torch.rand(len(FASHION_CLASSES), generator=generator) > 0.7).float()
        trunk = torch.randn(shape, generator=generator) * 0.5
        for k in torch.nonzero(labels).flatten().tolist():
            trunk[16 * k : 16 * (k + 1)] += 2.0
        trunk = ((trunk + trunk.flip(-1)) / 2).numpy().astype(np.float16)  # flips keep labels
        examples.append(TailExample(trunk, labels, torch.ones_like(labels)))
    return examples


def _loss(backbone: Backbone, head, examples: list[TailExample]) -> float:
    with torch.inference_mode():
        pooled = tail_pooled(backbone, [example.trunk for example in examples], 1)
        labels = torch.stack([example.labels for example in examples])
        return F.binary_cross_entropy_with_logits(head(pooled), labels).item()


def test_finetune_tail_trains_the_tail_only_and_resumes_exactly(
    tmp_path: Path, pretrained_backbone: Backbone
) -> None:
    examples = _examples()
    whole = copy.deepcopy(pretrained_backbone)
    stem_before = whole.network.conv_stem.weight.clone()
    tail_before = whole.network.conv_head.weight.clone()

    head = finetune_tail(
        whole, examples, tmp_path / "whole", epochs=3, seed=0, batch_size=4, progress=False
    )

    assert torch.equal(whole.network.conv_stem.weight, stem_before)  # the trunk stays frozen
    assert not torch.equal(whole.network.conv_head.weight, tail_before)
    assert len(list((tmp_path / "whole").glob("finetune_epoch_*.pt"))) == 3

    # A run stopped after two epochs (its third epoch file never written), then rerun:
    # the same weights as the uninterrupted run.
    stopped = copy.deepcopy(pretrained_backbone)
    finetune_tail(
        stopped, examples, tmp_path / "split", epochs=3, seed=0, batch_size=4, progress=False
    )
    (tmp_path / "split" / "finetune_epoch_002.pt").unlink()
    resumed = copy.deepcopy(pretrained_backbone)
    resumed_head = finetune_tail(
        resumed, examples, tmp_path / "split", epochs=3, seed=0, batch_size=4, progress=False
    )
    assert (tmp_path / "split" / "finetune_epoch_002.pt").is_file()
    assert torch.allclose(resumed.network.conv_head.weight, whole.network.conv_head.weight)
    assert torch.allclose(resumed_head.linear.weight, head.linear.weight)


def test_finetune_tail_fits_its_labels(tmp_path: Path, pretrained_backbone: Backbone) -> None:
    examples = _examples()
    untrained = copy.deepcopy(pretrained_backbone)
    initial = finetune_tail(untrained, examples, tmp_path / "none", epochs=0, seed=0)
    backbone = copy.deepcopy(pretrained_backbone)

    head = finetune_tail(
        backbone,
        examples,
        tmp_path / "trained",
        epochs=15,
        seed=0,
        learning_rate=1e-2,
        batch_size=4,
        progress=False,
    )

    assert _loss(backbone, head, examples) < 0.5 * _loss(untrained, initial, examples)
