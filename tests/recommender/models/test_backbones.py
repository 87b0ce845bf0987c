from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from recommender.images import load_image
from recommender.models.backbones import Backbone, build_backbone, map_state_dict_by_order
from recommender.weights import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    WEIGHTS,
    WeightsIntegrityError,
    WeightsMismatchError,
    locate_weights,
)

FOOTWEAR_CLASSES = {502, 514, 630, 770, 774}  # clog, cowboy boot, Loafer, running shoe, sandal


@pytest.fixture(scope="module")
def two_images() -> torch.Tensor:
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))


def test_backbone_exposes_feature_maps_pooled_vector_and_logits(
    pretrained_backbone: Backbone, two_images: torch.Tensor
) -> None:
    with torch.inference_mode():
        features = pretrained_backbone.forward_features(two_images)
        pooled = pretrained_backbone.pool(features)
        logits = pretrained_backbone(two_images)
        logits_from_pooled = pretrained_backbone.classifier(pooled)

    assert features.shape == (2, 1280, 7, 7)
    assert pooled.shape == (2, 1280)
    assert logits.shape == (2, 1000)
    assert torch.isfinite(features).all() and torch.isfinite(logits).all()
    assert torch.allclose(logits, logits_from_pooled, atol=1e-5)


def test_backbone_classifier_is_the_imagenet_linear_layer(pretrained_backbone: Backbone) -> None:
    classifier = pretrained_backbone.classifier

    assert isinstance(classifier, nn.Linear)
    assert (classifier.in_features, classifier.out_features) == (1280, 1000)
    assert pretrained_backbone.feature_dim == 1280
    assert pretrained_backbone.weights == WEIGHTS["efficientnet_lite0.imagenet"]
    assert not pretrained_backbone.training


def test_untrained_backbone_builds_without_weights() -> None:
    backbone = build_backbone(pretrained=False)

    assert backbone.weights is None
    assert backbone.feature_dim == 1280


def test_weights_path_without_pretrained_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pretrained=False"):
        build_backbone(pretrained=False, weights_path=tmp_path / "weights.pth")


def test_building_refuses_tampered_weights(tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.pth"
    shutil.copyfile(locate_weights(WEIGHTS["efficientnet_lite0.imagenet"]), tampered)
    with open(tampered, "r+b") as stream:
        stream.seek(5_000_000)
        byte = stream.read(1)
        stream.seek(5_000_000)
        stream.write(bytes([byte[0] ^ 0xFF]))

    with pytest.raises(WeightsIntegrityError):
        build_backbone(weights_path=tampered)


def test_unknown_backbone_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="efficientnet_lite0"):
        build_backbone("resnet9000")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"a.weight": torch.zeros(2, 3)}, "1 tensors"),
        ({"a.weight": torch.zeros(3, 2), "a.bias": torch.zeros(2)}, "shape"),
        ({"a.bias": torch.zeros(2, 3), "a.weight": torch.zeros(2)}, "paired"),
    ],
)
def test_state_dict_mapping_by_order_refuses_mismatches(
    source: dict[str, torch.Tensor], message: str
) -> None:
    target = {"layer.weight": torch.zeros(2, 3), "layer.bias": torch.zeros(2)}

    with pytest.raises(WeightsMismatchError, match=message):
        map_state_dict_by_order(target, source)


def test_state_dict_mapping_by_order_renames_matching_tensors() -> None:
    target = {"layer.weight": torch.zeros(2, 3), "layer.bias": torch.zeros(2)}
    source = {"_fc.weight": torch.ones(2, 3), "_fc.bias": torch.ones(2)}

    renamed = map_state_dict_by_order(target, source)

    assert list(renamed) == ["layer.weight", "layer.bias"]
    assert renamed["layer.bias"] is source["_fc.bias"]


@pytest.fixture(scope="module")
def lite2_backbone() -> Backbone:
    return build_backbone("efficientnet_lite2")


@pytest.fixture(params=["lite0", "lite2"])
def any_backbone(
    request: pytest.FixtureRequest, pretrained_backbone: Backbone, lite2_backbone: Backbone
) -> Backbone:
    return {"lite0": pretrained_backbone, "lite2": lite2_backbone}[request.param]


def test_lite2_builds_with_its_own_weights_and_stages(
    lite2_backbone: Backbone, pretrained_backbone: Backbone
) -> None:
    assert lite2_backbone.weights == WEIGHTS["efficientnet_lite2.imagenet"]
    assert lite2_backbone.feature_dim == 1280
    assert len(lite2_backbone.network.blocks) == len(pretrained_backbone.network.blocks)
    # Wider mid stages than Lite0: the pooled descriptor of the same stages is longer.
    stages = {"stages": (3, 4, 5), "grid_stages": (0,)}
    assert lite2_backbone.pooled_dim(**stages) > pretrained_backbone.pooled_dim(**stages)
    images = torch.randn(1, 3, 260, 260, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        pooled = lite2_backbone.pool_stages(images, **stages)
    assert pooled.shape == (1, lite2_backbone.pooled_dim(**stages))


@pytest.mark.parametrize("dilated", [False, True], ids=["stride32", "stride16"])
def test_pretrained_top5_on_catalog_shoe_photos_contains_footwear(
    any_backbone: Backbone, catalog_shoe_photos: list[Path], dilated: bool
) -> None:
    # Dilating the last stages (output stride 16) keeps what the weights recognise.
    backbone = (
        build_backbone(any_backbone.architecture, output_stride=16) if dilated else any_backbone
    )
    transform = backbone.weights.transforms()
    batch = transform.batch([load_image(path) for path in catalog_shoe_photos])

    with torch.inference_mode():
        top5 = backbone(batch).topk(5).indices  # (N, 5)

    labels = backbone.weights.labels
    for path, classes in zip(catalog_shoe_photos, top5.tolist(), strict=True):
        names = [labels[index] for index in classes]
        assert FOOTWEAR_CLASSES & set(classes), f"{path.name}: top-5 {names}"


@pytest.fixture(scope="module")
def stride16_backbone() -> Backbone:
    return build_backbone("efficientnet_lite0", output_stride=16)


def test_output_stride_16_gives_finer_maps_from_the_same_weights(
    stride16_backbone: Backbone, pretrained_backbone: Backbone, two_images: torch.Tensor
) -> None:
    with torch.inference_mode():
        fine = stride16_backbone.forward_features(two_images)

    assert fine.shape == (2, 1280, 14, 14)
    assert stride16_backbone.output_stride == 16
    plain, dilated = pretrained_backbone.state_dict(), stride16_backbone.state_dict()
    assert plain.keys() == dilated.keys()
    assert all(torch.equal(plain[key], dilated[key]) for key in plain)
    # Caches of features must not mix the two: same weights, other maps.
    assert stride16_backbone.feature_key != pretrained_backbone.feature_key
    assert pretrained_backbone.feature_key == pretrained_backbone.weights.sha256[:16]


@pytest.mark.parametrize("stride", [4, 24, 64])
def test_unsupported_output_stride_is_refused(stride: int) -> None:
    with pytest.raises(ValueError, match="output_stride"):
        build_backbone("efficientnet_lite0", pretrained=False, output_stride=stride)


def _stem_variance_mismatch(backbone: Backbone, batch: torch.Tensor) -> float:
    """Mean |log(batch variance / BN running variance)| after the stem convolution."""
    network = backbone.network
    with torch.inference_mode():
        stem = network.conv_stem(batch)  # (N, 32, 112, 112)
    running_var = network.bn1.running_var
    alive = running_var > 1e-4  # some stem channels are dead (zero variance)
    ratio = stem.var(dim=(0, 2, 3))[alive] / running_var[alive]
    return ratio.log().abs().mean().item()


def test_entry_normalisation_matches_what_the_weights_were_trained_on(
    any_backbone: Backbone, catalog_photos: list[Path]
) -> None:
    # The BN running statistics record the input distribution seen in training: the
    # entry's normalisation must fit them better than the torchvision ImageNet one.
    images: list[Image.Image] = [load_image(path) for path in catalog_photos]
    entry = any_backbone.weights
    imagenet = dataclasses.replace(entry, mean=IMAGENET_MEAN, std=IMAGENET_STD)

    entry_mismatch = _stem_variance_mismatch(any_backbone, entry.transforms().batch(images))
    imagenet_mismatch = _stem_variance_mismatch(any_backbone, imagenet.transforms().batch(images))

    assert entry_mismatch < imagenet_mismatch - 0.25
