"""From-scratch mode: the seed design's network learns every layer from image-level labels."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from recommender.detection.scratch import ScratchExample, frame_shape, train_from_scratch
from recommender.fashion_classes import FASHION_CLASSES
from recommender.images import load_image
from recommender.models.backbones import Backbone, build_backbone

SIZE = 32
COLOURS = {"bag": (220, 30, 30), "footwear": (30, 200, 40)}


def _examples(folder: Path, count: int = 16) -> list[ScratchExample]:
    """Product squares and portrait street photos whose labels are the colours they show."""
    folder.mkdir(parents=True, exist_ok=True)
    examples = []
    for index in range(count):
        name = list(COLOURS)[index % 2]
        street = index % 4 == 3
        size = (40, 60) if street else (48, 48)
        image = Image.new("RGB", size, (250, 250, 250))
        image.paste(COLOURS[name], (8, 12, size[0] - 8, size[1] - 12))
        path = folder / f"{index:02d}.png"
        image.save(path)
        labels = torch.zeros(len(FASHION_CLASSES))
        labels[FASHION_CLASSES.index(name)] = 1.0
        examples.append(ScratchExample(path, labels, torch.ones_like(labels), street=street))
    return examples


def _loss(backbone: Backbone, head, examples: list[ScratchExample]) -> float:
    transform = backbone.transforms(SIZE)
    with torch.inference_mode():
        images = transform.batch([load_image(example.path) for example in examples])
        logits = head(backbone.pool(backbone.eval().forward_features(images)))
        labels = torch.stack([example.labels for example in examples])
        return F.binary_cross_entropy_with_logits(logits, labels).item()


def _train(backbone: Backbone, examples, out_dir: Path, epochs: int, **options):
    settings = {"seed": 0, "input_size": SIZE, "batch_size": 8, "workers": 0, "progress": False}
    return train_from_scratch(backbone, examples, out_dir, epochs=epochs, **{**settings, **options})


def test_street_frames_cover_the_short_side_and_half_again_along_the_long_one() -> None:
    assert frame_shape(550, 830, 224) == (352, 224)
    assert frame_shape(830, 550, 224) == (224, 352)
    assert frame_shape(400, 400, 160) == (256, 160)


def test_every_layer_learns_the_labels(tmp_path: Path) -> None:
    examples = _examples(tmp_path / "photos")
    untrained = build_backbone("seed_vgg16_narrow", pretrained=False)
    backbone = copy.deepcopy(untrained)
    initial = _train(copy.deepcopy(untrained), examples, tmp_path / "none", 0)

    head = _train(backbone, examples, tmp_path / "trained", 20, learning_rate=3e-3)

    assert _loss(backbone, head, examples) < 0.5 * _loss(untrained, initial, examples)
    stem_before = untrained.network.conv_stem.weight
    assert not torch.equal(backbone.network.conv_stem.weight, stem_before)
    assert not backbone.network.training
    assert all(not parameter.requires_grad for parameter in backbone.network.parameters())


def test_a_stopped_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    examples = _examples(tmp_path / "photos", count=8)
    start = build_backbone("seed_vgg16_narrow", pretrained=False)
    whole = copy.deepcopy(start)
    head = _train(whole, examples, tmp_path / "whole", 3)
    assert len(list((tmp_path / "whole").glob("scratch_epoch_*.pt"))) == 3

    _train(copy.deepcopy(start), examples, tmp_path / "split", 3)
    (tmp_path / "split" / "scratch_epoch_002.pt").unlink()  # stopped during the third epoch
    resumed = copy.deepcopy(start)
    resumed_head = _train(resumed, examples, tmp_path / "split", 3)

    for name, tensor in whole.network.state_dict().items():
        torch.testing.assert_close(resumed.network.state_dict()[name], tensor, msg=name)
    torch.testing.assert_close(resumed_head.linear.weight, head.linear.weight)


def test_street_photos_turned_by_exif_share_a_batch_with_upright_ones(tmp_path: Path) -> None:
    examples = []
    for index in range(4):  # all stored landscape; every other one shown portrait
        exif = Image.Exif()
        exif[0x0112] = 6 if index % 2 else 1
        path = tmp_path / f"{index}.jpg"
        Image.new("RGB", (60, 40), COLOURS["bag"]).save(path, exif=exif.tobytes())
        labels = torch.zeros(len(FASHION_CLASSES))
        labels[FASHION_CLASSES.index("bag")] = 1.0
        examples.append(ScratchExample(path, labels, torch.ones_like(labels), street=True))
    backbone = build_backbone("seed_vgg16_narrow", pretrained=False)

    _train(backbone, examples, tmp_path / "out", 1, batch_size=4)

    assert (tmp_path / "out" / "scratch_epoch_000.pt").is_file()


def test_a_pretrained_backbone_or_no_photos_is_refused(
    tmp_path: Path, pretrained_backbone: Backbone
) -> None:
    with pytest.raises(ValueError, match="has ImageNet weights"):
        _train(pretrained_backbone, _examples(tmp_path / "photos", 2), tmp_path / "out", 1)
    with pytest.raises(ValueError, match="no training photos"):
        _train(build_backbone("seed_vgg16_narrow", pretrained=False), [], tmp_path / "out", 1)
