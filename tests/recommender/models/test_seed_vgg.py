"""The seed design's VGG16-style network: blocks, GAP straight into one linear, from scratch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recommender.models.backbones import ARCHITECTURES, build_backbone, state_digest
from recommender.models.fuse import fuse_batchnorm
from recommender.models.seed_vgg import SeedVGG


def test_the_full_network_has_vgg16s_thirteen_convs_in_five_pooled_blocks() -> None:
    network = SeedVGG(num_classes=10)

    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    pools = [m for m in network.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(convs) == 13 and len(pools) == 5
    assert [c.out_channels for c in convs] == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    assert all(c.kernel_size == (3, 3) for c in convs)
    linears = [m for m in network.modules() if isinstance(m, nn.Linear)]
    assert linears == [network.classifier]  # no fully connected stack


def test_logits_are_the_classifier_of_the_averaged_last_maps() -> None:
    network = SeedVGG((8, 8, 16, 16, 32), num_classes=5).eval()
    images = torch.randn(2, 3, 96, 64)

    with torch.inference_mode():
        maps = network.forward_features(images)  # (2, 32, 3, 2)
        logits = network(images)

    assert maps.shape == (2, 32, 3, 2)
    # The class activation map of class k is classifier row k over the maps; its mean is
    # the logit (less the bias), which is what makes CAM boxes of this network.
    cam = torch.einsum("kc,nchw->nkhw", network.classifier.weight, maps)
    torch.testing.assert_close(cam.mean(dim=(2, 3)) + network.classifier.bias, logits)


@pytest.mark.parametrize(("stride", "cells"), [(32, (3, 2)), (16, (6, 4)), (8, (12, 8))])
def test_output_stride_drops_the_last_poolings(stride: int, cells: tuple[int, int]) -> None:
    backbone = build_backbone("seed_vgg16_narrow", pretrained=False, output_stride=stride)

    maps = backbone.forward_features(torch.randn(1, 3, 96, 64))

    assert tuple(maps.shape[2:]) == cells and maps.shape[1] == backbone.feature_dim == 128


def test_the_seed_architectures_have_no_weights_and_say_how_to_train_them() -> None:
    assert not ARCHITECTURES["seed_vgg16"].pretrained

    with pytest.raises(ValueError, match="from scratch.*--architecture seed_vgg16"):
        build_backbone("seed_vgg16")
    backbone = build_backbone("seed_vgg16_narrow", pretrained=False)
    transform = backbone.transforms()
    assert backbone.weights is None and transform.input_size == 224
    assert transform.mean == [0.485, 0.456, 0.406]


def test_stage_pooling_and_batchnorm_folding_work_as_for_pretrained_backbones() -> None:
    backbone = build_backbone("seed_vgg16_narrow", pretrained=False)
    backbone.network.train()
    backbone.network(torch.randn(4, 3, 64, 64))  # running statistics move off their start
    backbone.eval()
    images = torch.randn(2, 3, 64, 96)

    with torch.inference_mode():
        pooled = backbone.pool_stages(images, stages=(2, 3), grid_stages=(0,))
        fused = fuse_batchnorm(backbone).forward_features(images)
        plain = backbone.forward_features(images)

    assert pooled.shape == (2, backbone.pooled_dim((2, 3), (0,))) == (2, 128 + 64 + 128 + 16 * 49)
    torch.testing.assert_close(fused, plain, atol=1e-4, rtol=1e-4)


def test_the_feature_key_of_a_network_without_weights_follows_its_tensors() -> None:
    backbone = build_backbone("seed_vgg16_narrow", pretrained=False)
    before = backbone.feature_key

    with torch.no_grad():
        backbone.network.classifier.bias += 1.0

    assert backbone.feature_key != before and before.startswith("seed_vgg16_narrow-")
    assert state_digest(backbone.network) != state_digest(SeedVGG((4,) * 5))
