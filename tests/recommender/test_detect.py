from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recommender.detect import (
    CheckpointMismatchError,
    Detection,
    DetectorConfig,
    FashionDetector,
    detector_from_checkpoint,
    zero_shot_detector,
)
from recommender.detection.checkpoint import DetectorCheckpoint, load_checkpoint, save_checkpoint
from recommender.fashion_classes import FASHION_CLASSES
from recommender.images import ImageDecodeError, load_image
from recommender.models.backbones import Backbone
from recommender.models.cam import CamHead
from recommender.render import render_detections
from recommender.weights import get_weight_entry

SMALL = DetectorConfig(short_side=64, window_sizes=(0.6,), window_input_size=64)


def _checkpoint(**changes: object) -> DetectorCheckpoint:
    entry = get_weight_entry("efficientnet_lite0.imagenet")
    head = CamHead(1280, FASHION_CLASSES)
    values = {
        "class_names": FASHION_CLASSES,
        "weights_name": entry.name,
        "weights_sha256": entry.sha256,
        "head_state": head.linear.state_dict(),
        "code_version": "test",
        "config": {"detector": SMALL.to_dict()},
        "metrics": {"val": {"corloc": {"mean": 0.5}}},
    }
    return DetectorCheckpoint(**{**values, **changes})


@pytest.fixture(scope="module")
def zero_shot(pretrained_backbone: Backbone) -> FashionDetector:
    return zero_shot_detector(backbone=pretrained_backbone)


def test_zero_shot_detector_finds_an_item_in_a_street_photo(
    zero_shot: FashionDetector, data_dir: Path
) -> None:
    image = load_image(data_dir / "street" / "photos" / "0001.jpg")

    # Small config: unit tests check behaviour; quality and speed are benchmarked elsewhere.
    detector = zero_shot.with_config(short_side=224, window_sizes=(0.7,), presence_threshold=0.01)

    detections = detector.detect(image)

    assert detections
    for detection in detections:
        x1, y1, x2, y2 = detection.box
        assert detection.class_name in FASHION_CLASSES
        assert 0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height


def test_a_class_gets_its_strongest_region_only_unless_more_are_asked_for(
    zero_shot: FashionDetector,
) -> None:
    heatmap = np.zeros((64, 48), np.float32)  # (H, W) in map pixels: the photo's own
    heatmap[5:25, 5:25] = 1.0  # the item
    heatmap[40:50, 30:40] = 0.9  # a smaller second region: its context, or a second item
    maps = {"bag": (0.9, heatmap)}

    single = zero_shot.detections_from_maps(maps, (48, 64))
    both = zero_shot.with_config(max_boxes_per_class=2).detections_from_maps(maps, (48, 64))

    assert [d.box for d in single] == [(5, 5, 25, 25)]
    assert [d.box for d in both] == [(5, 5, 25, 25), (30, 40, 40, 50)]


def test_detect_in_a_region_returns_boxes_in_photo_pixels_with_heatmaps(
    zero_shot: FashionDetector,
) -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 70, 3), np.uint8))
    detector = zero_shot.with_config(**{**SMALL.to_dict(), "presence_threshold": 0.0})

    detections = detector.detect(image, region=(10, 20, 60, 80), return_heatmaps=True)

    assert detections
    for detection in detections:
        assert 10 <= detection.box[0] < detection.box[2] <= 60
        assert 20 <= detection.box[1] < detection.box[3] <= 80
        assert detection.heatmap.shape == (60, 50)
    assert render_detections(image.crop((10, 20, 60, 80)), detections)[:4] == b"\x89PNG"


def test_detect_with_given_classes_localises_them_even_if_absent(
    zero_shot: FashionDetector,
) -> None:
    image = Image.new("RGB", (64, 96), (200, 180, 160))
    detector = zero_shot.with_config(**{**SMALL.to_dict(), "presence_threshold": 1.1})

    assert detector.detect(image) == []
    found = detector.detect(image, classes=["top"])
    assert {detection.class_name for detection in found} <= {"top"}


def test_corrupt_image_raises_image_decode_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")

    with pytest.raises(ImageDecodeError):
        load_image(broken)


def test_checkpoint_round_trip_rebuilds_the_trained_head(
    tmp_path: Path, pretrained_backbone: Backbone
) -> None:
    checkpoint = _checkpoint()
    digest = save_checkpoint(checkpoint, tmp_path / "detector.pt")

    detector = detector_from_checkpoint(
        tmp_path / "detector.pt", backbone=pretrained_backbone, expected_sha256=digest
    )

    assert detector.config == SMALL
    torch.testing.assert_close(detector.head.linear.weight, checkpoint.head_state["weight"])


def test_checkpoint_with_another_vocabulary_is_refused(tmp_path: Path) -> None:
    save_checkpoint(_checkpoint(class_names=("top", "bottom")), tmp_path / "other.pt")

    with pytest.raises(CheckpointMismatchError, match="trained for classes"):
        load_checkpoint(tmp_path / "other.pt")


def test_checkpoint_from_other_base_weights_or_with_wrong_hash_is_refused(tmp_path: Path) -> None:
    save_checkpoint(_checkpoint(weights_sha256="0" * 64), tmp_path / "other.pt")

    with pytest.raises(CheckpointMismatchError, match="sha256"):
        load_checkpoint(tmp_path / "other.pt")
    save_checkpoint(_checkpoint(), tmp_path / "good.pt")
    with pytest.raises(CheckpointMismatchError, match="differs from the expected"):
        load_checkpoint(tmp_path / "good.pt", expected_sha256="f" * 64)


def test_checkpoint_keeps_its_output_stride_and_refuses_a_backbone_of_another(
    tmp_path: Path, pretrained_backbone: Backbone
) -> None:
    save_checkpoint(_checkpoint(output_stride=16), tmp_path / "fine.pt")

    assert load_checkpoint(tmp_path / "fine.pt").output_stride == 16
    with pytest.raises(CheckpointMismatchError, match="output stride 16"):
        detector_from_checkpoint(tmp_path / "fine.pt", backbone=pretrained_backbone)
    detector = detector_from_checkpoint(tmp_path / "fine.pt")  # builds its own backbone
    assert detector.backbone.output_stride == 16
    photo = Image.new("RGB", (64, 96), (200, 180, 160))
    maps = detector.class_maps(photo, classes=["bag"])
    assert np.isfinite(maps["bag"][1]).all()


def test_checkpoint_without_an_output_stride_is_stride_32_and_an_unknown_one_is_refused(
    tmp_path: Path,
) -> None:
    raw = _checkpoint().to_dict()
    del raw["output_stride"]
    torch.save(raw, tmp_path / "old.pt")

    assert load_checkpoint(tmp_path / "old.pt").output_stride == 32
    raw["output_stride"] = 20
    torch.save(raw, tmp_path / "odd.pt")
    with pytest.raises(CheckpointMismatchError, match="output stride 20"):
        load_checkpoint(tmp_path / "odd.pt")


def test_detection_is_a_plain_dataclass() -> None:
    detection = Detection("bag", 0.5, (1, 2, 3, 4))

    assert detection.heatmap is None and detection.box == (1, 2, 3, 4)


def test_min_classes_localises_the_most_probable_classes_below_the_presence_threshold(
    zero_shot: FashionDetector, data_dir: Path
) -> None:
    image = load_image(data_dir / "street" / "photos" / "0001.jpg")
    strict = zero_shot.with_config(short_side=224, window_sizes=(), presence_threshold=0.99)

    assert strict.detect(image) == []
    found = strict.with_config(min_classes=2, min_class_probability=0.001).detect(image)

    assert 1 <= len({detection.class_name for detection in found}) <= 2
    assert strict.with_config(min_classes=2, min_class_probability=0.999).detect(image) == []


def test_detector_asked_for_cuda_without_one_runs_on_the_cpu(pretrained_backbone: Backbone) -> None:
    detector = zero_shot_detector(backbone=pretrained_backbone, device="cuda")

    assert detector.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    image = Image.new("RGB", (96, 64), (120, 80, 40))
    assert isinstance(detector.with_config(short_side=64).detect(image), list)


def test_zoom_takes_a_closer_look_inside_one_window_per_class(
    zero_shot: FashionDetector, data_dir: Path
) -> None:
    image = load_image(data_dir / "street" / "photos" / "0001.jpg")
    plain = zero_shot.with_config(short_side=224, window_sizes=(), window_input_size=96)
    zoomed = plain.with_config(zoom=True)

    before = plain.class_maps(image, classes=["footwear", "top"])
    after = zoomed.class_maps(image, classes=["footwear", "top"])

    for name in ("footwear", "top"):
        assert after[name][0] == before[name][0]  # presence comes from the whole photo
        changed = np.argwhere(np.abs(after[name][1] - before[name][1]) > 1e-6)
        assert len(changed)  # the closer look changed the map ...
        (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
        height, width = before[name][1].shape
        assert (bottom - top + 1) * (right - left + 1) < height * width  # ... in a window only
    assert zoomed.detect(image, classes=["footwear"])


def test_window_crops_resized_in_threads_are_the_crops_resized_one_by_one_in_order(
    zero_shot: FashionDetector, data_dir: Path
) -> None:
    image = load_image(data_dir / "street" / "photos" / "0001.jpg")
    detector = zero_shot.with_config(window_input_size=96)
    boxes = [(0, 0, 330, 330), (220, 251, 550, 581), (10, 500, 200, 832), (100, 100, 140, 180)]

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # two resizing threads
    try:
        batch = detector._crop_tensors(image, boxes)
    finally:
        torch.set_num_threads(threads)

    one_by_one = torch.stack([detector._to_tensor(image.crop(box), [96, 96]) for box in boxes])
    assert batch.shape == (4, 3, 96, 96)
    assert torch.equal(batch, one_by_one)


def test_bfloat16_detector_computes_nearly_the_same_maps_in_float32(
    zero_shot: FashionDetector, data_dir: Path
) -> None:
    image = load_image(data_dir / "street" / "photos" / "0001.jpg")
    plain = zero_shot.with_config(short_side=224, window_sizes=(), zoom=False)
    low = FashionDetector(
        plain.backbone, plain.head, plain.config, precision="bfloat16"
    )  # bf16 autocast is emulated where the CPU lacks it: slower, same answer

    before = plain.class_maps(image, classes=["footwear", "top"])
    after = low.class_maps(image, classes=["footwear", "top"])

    assert low.precision == torch.bfloat16 and plain.precision == torch.float32
    for name in ("footwear", "top"):
        assert after[name][1].dtype == before[name][1].dtype
        assert after[name][0] == pytest.approx(before[name][0], abs=0.05)
        peak = before[name][1].max()
        assert np.abs(after[name][1] - before[name][1]).mean() < 0.05 * peak
        assert not np.array_equal(after[name][1], before[name][1])  # it did run in bf16


def test_unknown_precision_is_refused(pretrained_backbone: Backbone) -> None:
    with pytest.raises(ValueError, match="precision 'half'"):
        zero_shot_detector(backbone=pretrained_backbone, precision="half")


@pytest.mark.parametrize(
    ("zoom_thresholds", "bag_area_changes"), [({}, False), ({"bag": 0.5}, True)]
)
def test_the_closer_look_goes_where_the_zoom_thresholds_put_the_first_box(
    pretrained_backbone: Backbone, zoom_thresholds: dict[str, float], bag_area_changes: bool
) -> None:
    # A small strong peak (top left) and a broad weaker bag region: the box threshold 0.7
    # keeps only the peak, a zoom threshold of 0.5 finds the broad region first (more mass).
    maps = np.zeros((1, 64, 64), np.float32)
    maps[0, 0:8, 0:8] = 1.0
    maps[0, 30:60, 30:60] = 0.6
    config = DetectorConfig(
        short_side=64,
        window_sizes=(),
        window_input_size=64,
        zoom=True,
        class_thresholds={"bag": 0.7},
        zoom_thresholds=zoom_thresholds,
    )
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    original = maps.copy()

    with torch.inference_mode():  # as inside `class_maps`
        detector._zoom(image, maps, [detector.class_names.index("bag")])

    assert bool(maps[0, 40, 40] != original[0, 40, 40]) == bag_area_changes
    assert bool(maps[0, 2, 2] != original[0, 2, 2]) != bag_area_changes
    assert DetectorConfig.from_dict(config.to_dict()) == config


def test_a_config_saved_without_a_window_layout_keeps_the_pushed_windows() -> None:
    saved = DetectorConfig().to_dict()
    del saved["window_layout"]  # as in checkpoints saved before layouts were named

    assert DetectorConfig.from_dict(saved).window_layout == "pushed"
    assert DetectorConfig().window_layout == "spread"
    assert DetectorConfig.from_dict(DetectorConfig().to_dict()).window_layout == "spread"


def test_a_checkpoint_trained_from_scratch_rebuilds_its_whole_network(tmp_path: Path) -> None:
    from recommender.models.backbones import build_backbone

    backbone = build_backbone("seed_vgg16_narrow", pretrained=False)
    with torch.no_grad():
        backbone.network.conv_stem.weight.mul_(1.5)  # not what a fresh build would hold
    head = CamHead(backbone.feature_dim, FASHION_CLASSES)
    checkpoint = _checkpoint(
        weights_name=None,
        weights_sha256=None,
        architecture="seed_vgg16_narrow",
        head_state=head.linear.state_dict(),
        backbone_state=backbone.network.state_dict(),
    )
    save_checkpoint(checkpoint, tmp_path / "scratch.pt")

    detector = detector_from_checkpoint(tmp_path / "scratch.pt")

    assert detector.backbone.architecture == "seed_vgg16_narrow"
    assert detector.backbone.weights is None
    torch.testing.assert_close(
        detector.backbone.network.conv_stem.weight, backbone.network.conv_stem.weight
    )
    photo = Image.new("RGB", (64, 96), (200, 180, 160))
    maps = detector.class_maps(photo, classes=["bag"])
    assert maps["bag"][1].shape == (96, 64) and np.isfinite(maps["bag"][1]).all()


def test_a_checkpoint_with_no_weights_at_all_or_another_backbone_is_refused(
    tmp_path: Path,
) -> None:
    save_checkpoint(_checkpoint(weights_name=None, weights_sha256=None), tmp_path / "none.pt")
    with pytest.raises(CheckpointMismatchError, match="holds no backbone weights"):
        load_checkpoint(tmp_path / "none.pt")
    save_checkpoint(_checkpoint(architecture="seed_vgg16"), tmp_path / "mixed.pt")
    with pytest.raises(CheckpointMismatchError, match="are for efficientnet_lite0"):
        load_checkpoint(tmp_path / "mixed.pt")
    save_checkpoint(_checkpoint(architecture="resnet9000"), tmp_path / "odd.pt")
    with pytest.raises(CheckpointMismatchError, match="backbone 'resnet9000'"):
        load_checkpoint(tmp_path / "odd.pt")
