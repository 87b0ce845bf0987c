from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from timm.layers import BatchNormAct2d, Conv2dSame
from torch import nn
from torch.nn import functional as F

from recommender.detect import DetectorConfig, FashionDetector, zero_shot_detector
from recommender.embed import EmbedderInfo, ImageEmbedder
from recommender.models.backbones import Backbone
from recommender.models.embedding import PooledFeatures
from recommender.models.fuse import fuse_batchnorm
from recommender.weights import get_weight_entry


def _randomise_batchnorm(network: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics so a wrong fold cannot pass by accident."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator))
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.randn(size, generator=generator))
                module.bias.copy_(torch.randn(size, generator=generator))
    return network


def _batchnorms(network: nn.Module) -> int:
    return sum(isinstance(module, nn.BatchNorm2d) for module in network.modules())


@torch.inference_mode()
def test_fused_efficientnet_lite0_matches_the_original() -> None:
    network = _randomise_batchnorm(timm.create_model("tf_efficientnet_lite0")).eval()
    assert any(isinstance(module, Conv2dSame) for module in network.modules())
    assert any(isinstance(module, BatchNormAct2d) for module in network.modules())
    images = torch.randn(2, 3, 96, 120, generator=torch.Generator().manual_seed(1))

    fused = fuse_batchnorm(network)

    assert _batchnorms(fused) == 0
    assert _batchnorms(network) > 0  # the input is left untouched
    torch.testing.assert_close(fused(images), network(images), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(
        fused.forward_features(images), network.forward_features(images), atol=1e-4, rtol=1e-4
    )


@torch.inference_mode()
def test_fused_pretrained_backbone_gives_the_same_features(
    pretrained_backbone: Backbone,
) -> None:
    images = torch.randn(1, 3, 64, 80, generator=torch.Generator().manual_seed(2))

    fused = fuse_batchnorm(pretrained_backbone.eval())

    torch.testing.assert_close(
        fused.forward_features(images),
        pretrained_backbone.forward_features(images),
        atol=1e-4,
        rtol=1e-4,
    )


@torch.inference_mode()
def test_plain_conv_batchnorm_with_conv_bias_is_folded_exactly() -> None:
    network = nn.Sequential(nn.Conv2d(3, 4, 3, bias=True), nn.BatchNorm2d(4), nn.ReLU())
    network = _randomise_batchnorm(network).eval()
    images = torch.randn(2, 3, 9, 9)

    fused = fuse_batchnorm(network)

    assert isinstance(fused[1], nn.Identity)
    torch.testing.assert_close(fused(images), network(images), atol=1e-5, rtol=1e-5)


def test_fuse_refuses_a_module_in_training_mode() -> None:
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()

    with pytest.raises(ValueError, match="eval-mode"):
        fuse_batchnorm(network)


def test_fuse_refuses_a_module_with_a_part_in_training_mode() -> None:
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    network[1].train()

    with pytest.raises(ValueError, match="eval-mode"):
        fuse_batchnorm(network)


@torch.inference_mode()
def test_detector_maps_are_the_same_with_and_without_folding(
    pretrained_backbone: Backbone,
) -> None:
    config = DetectorConfig(short_side=64, window_sizes=(0.6,), window_input_size=64)
    folded = zero_shot_detector(backbone=pretrained_backbone, config=config)
    unfused = FashionDetector(folded.backbone, folded.head, config, fold_batchnorm=False)
    image = Image.fromarray(np.random.default_rng(3).integers(0, 256, (90, 70, 3), dtype=np.uint8))
    classes = ["top", "footwear"]

    folded_maps = folded.class_maps(image, classes=classes)
    unfused_maps = unfused.class_maps(image, classes=classes)

    assert _batchnorms(folded.backbone) > 0  # the shared backbone keeps its BN
    for name in classes:
        assert folded_maps[name][0] == pytest.approx(unfused_maps[name][0], abs=1e-4)
        np.testing.assert_allclose(folded_maps[name][1], unfused_maps[name][1], atol=1e-4)


def test_embedder_folds_batchnorm_and_embeds_the_same(pretrained_backbone: Backbone) -> None:
    entry = get_weight_entry("efficientnet_lite0.imagenet")
    network = PooledFeatures(pretrained_backbone).eval()
    embedder = ImageEmbedder(network, entry.transforms(), EmbedderInfo(entry.name, "x", 1280))
    image = Image.fromarray(np.random.default_rng(4).integers(0, 256, (60, 50, 3), dtype=np.uint8))

    vectors = embedder.embed([image])

    assert _batchnorms(embedder.network) == 0
    with torch.inference_mode():
        expected = F.normalize(network(entry.transforms()(image)[None]), dim=1).numpy()
    np.testing.assert_allclose(vectors, expected, atol=1e-4)
