from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recommender.data.street import (
    GroundTruthBox,
    StreetPhoto,
    read_ground_truth_boxes,
    read_street_photos,
)
from recommender.detection.detector import BASELINE_CONFIG, DetectorConfig, FashionDetector
from recommender.evaluate.detection import (
    PhotoMaps,
    _best_threshold,
    corloc,
    is_correct,
    score_maps,
)
from recommender.fashion_classes import FASHION_CLASSES
from recommender.images import load_image


def test_is_correct_needs_iou_of_at_least_one_half_with_any_truth() -> None:
    truths = [(0, 0, 10, 10), (50, 50, 60, 60)]

    assert is_correct((50, 50, 60, 60), truths)
    assert is_correct((0, 0, 10, 20), truths)  # IoU exactly 0.5
    assert not is_correct((0, 0, 10, 21), truths)
    assert not is_correct(None, truths)


def test_corloc_is_per_class_hit_rate_and_mean_over_the_six_classes() -> None:
    hits = {
        "footwear": [True, False],
        "bag": [True],
        "top": [False, False, True, True],
        "bottom": [True],
        "dress": [False],
        "eyewear": [False, True],
        "outerwear": [True],  # not in the mean
    }

    result = corloc(hits)

    assert result["footwear"] == 0.5 and result["top"] == 0.5 and result["outerwear"] == 1.0
    assert result["mean"] == pytest.approx((0.5 + 1 + 0.5 + 1 + 0 + 0.5) / 6)


def test_score_maps_uses_top_box_per_present_class(pretrained_backbone) -> None:
    from recommender.detect import zero_shot_detector

    detector: FashionDetector = zero_shot_detector(
        backbone=pretrained_backbone, config=BASELINE_CONFIG
    )
    heatmap = np.zeros((20, 20), np.float32)
    heatmap[0:10, 0:10] = 1.0  # box (0, 0, 10, 10) at the working size = photo size
    maps = {name: (0.9, heatmap) for name in FASHION_CLASSES}
    photo = StreetPhoto("p.jpg", Path("p.jpg"), 20, 20, frozenset({"top", "bag"}), "test")
    truths = {
        "p.jpg": [GroundTruthBox("top", (0, 0, 10, 10)), GroundTruthBox("bag", (10, 10, 20, 20))]
    }

    metrics = score_maps(detector, [PhotoMaps(photo, (20, 20), maps)], truths)

    assert metrics["corloc"]["top"] == 1.0 and metrics["corloc"]["bag"] == 0.0
    assert metrics["recall"] == 0.5  # the top is found, the bag is not
    assert metrics["precision"] == 1.0  # every gated detection lands on the top's box


def test_a_class_threshold_overrides_the_global_one_for_that_class_only(
    pretrained_backbone,
) -> None:
    from recommender.detect import zero_shot_detector

    heatmap = np.zeros((20, 20), np.float32)
    heatmap[0:16, 0:16] = 0.4  # a wide, weak region ...
    heatmap[0:8, 0:8] = 1.0  # ... around a strong core
    detector: FashionDetector = zero_shot_detector(
        backbone=pretrained_backbone,
        config=replace(BASELINE_CONFIG, relative_threshold=0.5, class_thresholds={"top": 0.3}),
    )

    found = detector.detections_from_maps({"top": (0.9, heatmap), "bag": (0.9, heatmap)}, (20, 20))

    boxes = {detection.class_name: detection.box for detection in found}
    assert boxes == {"top": (0, 0, 16, 16), "bag": (0, 0, 8, 8)}
    assert DetectorConfig.from_dict(detector.config.to_dict()) == detector.config


def test_best_threshold_takes_the_best_corloc_and_breaks_ties_toward_the_middle() -> None:
    scores = {
        0.2: {"top": 0.4, "bag": 0.1, "mean": 0.2, "eyewear": 0.0},
        0.4: {"top": 0.4, "bag": 0.3, "mean": 0.3, "eyewear": 0.0},
        0.7: {"top": 0.1, "bag": 0.5, "mean": 0.25, "eyewear": 0.1},
        0.85: {"top": 0.4, "bag": 0.0, "mean": 0.1, "eyewear": 0.3},
    }

    assert _best_threshold(scores, "top") == 0.4  # tie with 0.2 and 0.85: 0.4 is nearest 0.45
    assert _best_threshold(scores, "bag") == 0.7
    assert _best_threshold(scores, "mean") == 0.4
    assert _best_threshold(scores, "eyewear") == 0.85


def _street_subset(street: Path, root: Path, *, split: str, count: int) -> Path:
    """A street folder with the first `count` photos of `split` (photos linked, not copied)."""
    import csv

    from recommender.data.street import street_split

    (root / "derived").mkdir(parents=True)
    (root / "photos").symlink_to(street / "photos")
    (root / "derived" / "labels.csv").symlink_to(street / "derived" / "labels.csv")
    kept: set[str] = set()
    for name in ("image_tags.csv", "boxes.csv"):
        with open(street / "derived" / name, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            rows = list(reader)
        if not kept:
            images = [row["image"] for row in rows if street_split(row["image"]) == split]
            kept = set(images[:count])
        with open(root / "derived" / name, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=reader.fieldnames)
            writer.writeheader()
            writer.writerows(row for row in rows if row["image"] in kept)
    return root


def test_tuning_picks_grid_thresholds_per_class_at_least_as_good_as_one_threshold(
    pretrained_backbone, data_dir: Path, tmp_path: Path
) -> None:
    from recommender.detect import zero_shot_detector
    from recommender.evaluate.detection import (
        BOX_SCALE_GRID,
        PRESENCE_GRID,
        THRESHOLD_GRID,
        compute_maps,
        tune_detector_config,
    )

    # Small working size, no windows, ten val photos: this checks the tuning, not the
    # detector's quality.
    config = replace(BASELINE_CONFIG, short_side=96, box_rule="mass", relative_threshold=0.5)
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)
    street = _street_subset(data_dir / "street", tmp_path, split="val", count=10)

    tuned, metrics = tune_detector_config(detector, street, split="val")

    assert tuned.box_rule in {"mass", "largest"} and tuned.presence_threshold in PRESENCE_GRID
    assert tuned.class_thresholds and set(tuned.class_thresholds) <= set(FASHION_CLASSES)
    assert set(tuned.class_thresholds.values()) <= set(THRESHOLD_GRID)
    for width, height in tuned.class_box_scales.values():
        assert {width, height} <= set(BOX_SCALE_GRID) and (width, height) != (1, 1)
    photo_maps = compute_maps(detector, read_street_photos(street, split="val"), desc="val")
    untuned = score_maps(detector, photo_maps, read_ground_truth_boxes(street))
    assert metrics["corloc"]["mean"] >= untuned["corloc"]["mean"]


def test_class_box_scales_resize_that_class_s_boxes_inside_the_photo(pretrained_backbone) -> None:
    from recommender.detect import zero_shot_detector

    heatmap = np.zeros((20, 20), np.float32)
    heatmap[5:15, 0:10] = 1.0
    detector: FashionDetector = zero_shot_detector(
        backbone=pretrained_backbone,
        config=replace(
            BASELINE_CONFIG, relative_threshold=0.5, class_box_scales={"bag": (1.2, 0.8)}
        ),
    )

    found = detector.detections_from_maps({"top": (0.9, heatmap), "bag": (0.9, heatmap)}, (40, 40))

    boxes = {detection.class_name: detection.box for detection in found}
    assert boxes == {
        "top": (0, 10, 20, 30),
        "bag": (0, 12, 22, 28),
    }  # bag: wider (clipped), shorter
    assert DetectorConfig.from_dict(detector.config.to_dict()) == detector.config


def test_cli_writes_detection_metrics_with_the_compute_dtype_beside_them(
    data_dir: Path, tmp_path: Path
) -> None:
    import json

    from recommender.evaluate.detection import main

    street = _street_subset(data_dir / "street", tmp_path / "data" / "street", split="val", count=3)

    main(["--data-dir", str(street.parent), "--out", str(tmp_path / "out"), "--split", "val"])

    metrics = json.loads((tmp_path / "out" / "detection_metrics.json").read_text())
    baseline = metrics["zero_shot_baseline"]
    assert isinstance(baseline["precision"], float) and 0 <= baseline["precision"] <= 1
    assert baseline["dtype"] == "float32"
    bound, reached = baseline["corloc_bound"], baseline["corloc"]
    assert all(bound[name] >= reached[name] for name in reached)  # a bound, per class
    assert (tmp_path / "out" / "corloc.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("weights", "output_stride"),
    [("efficientnet_lite0.imagenet", 16), ("efficientnet_lite2.imagenet", 32)],
)
def test_cli_evaluates_a_checkpoint_of_another_backbone_or_stride_on_its_own_backbone(
    data_dir: Path, tmp_path: Path, weights: str, output_stride: int
) -> None:
    import json

    from recommender.detection.checkpoint import DetectorCheckpoint, save_checkpoint
    from recommender.evaluate.detection import main
    from recommender.fashion_classes import FASHION_CLASSES
    from recommender.models.cam import CamHead
    from recommender.weights import get_weight_entry

    street = _street_subset(data_dir / "street", tmp_path / "data" / "street", split="val", count=2)
    entry = get_weight_entry(weights)
    small = DetectorConfig(short_side=96, window_sizes=(), presence_threshold=0.0)
    checkpoint = DetectorCheckpoint(
        class_names=FASHION_CLASSES,
        weights_name=entry.name,
        weights_sha256=entry.sha256,
        head_state=CamHead(1280, FASHION_CLASSES).linear.state_dict(),
        code_version="test",
        architecture=entry.architecture,
        output_stride=output_stride,
        config={"detector": small.to_dict()},
    )
    save_checkpoint(checkpoint, tmp_path / "detector.pt")

    main(
        [
            "--data-dir", str(street.parent), "--out", str(tmp_path / "out"), "--split", "val",
            "--checkpoint", str(tmp_path / "detector.pt"),
        ]
    )  # fmt: skip

    metrics = json.loads((tmp_path / "out" / "detection_metrics.json").read_text())
    assert set(metrics) >= {"zero_shot_baseline", "trained"}
    assert 0 <= metrics["trained"]["corloc"]["mean"] <= 1
    assert metrics["trained"]["corloc_bound"]["mean"] >= metrics["trained"]["corloc"]["mean"]


@pytest.mark.parametrize(("fixed", "kept"), [(40, True), (1, False)])
def test_box_factors_are_kept_only_for_a_clear_val_gain(pretrained_backbone, fixed, kept) -> None:
    from recommender.data.street import GroundTruthBox, StreetPhoto
    from recommender.detect import zero_shot_detector
    from recommender.evaluate.detection import PhotoMaps, _tune_per_class

    heatmap = np.zeros((20, 20), np.float32)
    heatmap[5:15, 0:20] = 1.0  # every bag region spans the whole width ...
    detector = zero_shot_detector(
        backbone=pretrained_backbone, config=replace(BASELINE_CONFIG, relative_threshold=0.5)
    )
    photo_maps, truths = [], {}
    for index in range(50):  # ... but only `fixed` bags are that much narrower
        photo = StreetPhoto(f"photos/{index}.jpg", Path("unused"), 20, 20, frozenset(), "val")
        photo_maps.append(PhotoMaps(photo, (20, 20), {"bag": (0.9, heatmap)}))
        box = (6, 5, 14, 15) if index < fixed else (0, 5, 20, 15)
        truths[photo.image] = [GroundTruthBox("bag", box)]

    tuned = _tune_per_class(detector, photo_maps, truths)

    assert ("bag" in tuned.class_box_scales) is kept
    if kept:
        assert tuned.class_box_scales["bag"][0] < 1


def _nested_bag_maps(
    pretrained_backbone, bag_boxes: list[tuple[int, int, int, int]]
) -> tuple[FashionDetector, list[PhotoMaps], dict[str, list[GroundTruthBox]]]:
    """A mass-rule detector and one 20 x 20 photo per bag box, all with the same bag map of
    nested regions: a cut-off of 0.2 boxes 2-18, 0.3 to 0.5 box 4-16, 0.6 and up the core
    8-12."""
    from recommender.detect import zero_shot_detector

    heatmap = np.zeros((20, 20), np.float32)
    heatmap[2:18, 2:18] = 0.25
    heatmap[4:16, 4:16] = 0.5
    heatmap[8:12, 8:12] = 1.0
    detector = zero_shot_detector(
        backbone=pretrained_backbone, config=replace(BASELINE_CONFIG, box_rule="mass")
    )
    photo_maps, truths = [], {}
    for index, box in enumerate(bag_boxes):
        photo = StreetPhoto(f"photos/{index}.jpg", Path("unused"), 20, 20, frozenset(), "val")
        photo_maps.append(PhotoMaps(photo, (20, 20), {"bag": (0.9, heatmap)}))
        truths[photo.image] = [GroundTruthBox("bag", box)]
    return detector, photo_maps, truths


def test_threshold_and_box_factors_are_chosen_together(pretrained_backbone) -> None:
    from recommender.evaluate.detection import _tune_per_class

    # One photo's bag is the core; two are wide and flat (0-20 by 6-14): no cut-off alone
    # boxes them (IoU < 0.5), a mid cut-off with a wider box does.
    detector, photo_maps, truths = _nested_bag_maps(
        pretrained_backbone, [(8, 8, 12, 12), (0, 6, 20, 14), (0, 6, 20, 14)]
    )

    tuned = _tune_per_class(detector, photo_maps, truths)
    scored = score_maps(detector.with_config(**tuned.to_dict()), photo_maps, truths)

    # Thresholds first, factors after would keep the core (1 of 3): no factor mends it.
    assert scored["corloc"]["bag"] == pytest.approx(2 / 3)
    assert tuned.class_thresholds["bag"] <= 0.5 and tuned.class_box_scales["bag"][0] > 1


def test_corloc_bound_counts_items_any_box_setting_finds(pretrained_backbone) -> None:
    from recommender.evaluate.detection import corloc_bound, corloc_table

    # One bag is the core, one the whole 2-18 square: no one setting boxes both. The third
    # bag sits in a corner the map never reaches: no setting boxes it.
    detector, photo_maps, truths = _nested_bag_maps(
        pretrained_backbone, [(8, 8, 12, 12), (2, 2, 18, 18), (0, 0, 2, 2)]
    )

    bound = corloc_bound(detector, photo_maps, truths)
    best_single = max(corloc_table(detector, photo_maps, truths)["bag"].values())

    assert bound["bag"] == pytest.approx(2 / 3) and bound["mean"] == pytest.approx(2 / 3)
    assert best_single == pytest.approx(1 / 3)


def test_grabcut_seeds_are_kept_only_for_classes_whose_cut_boxes_win(pretrained_backbone) -> None:
    from recommender.detect import zero_shot_detector
    from recommender.evaluate.detection import GRABCUT_GRID, _tune_grabcut
    from tests.recommender.test_detect_refine import _trousers_and_shoes

    photo_pixels, heatmap, trousers = _trousers_and_shoes()
    # At its cut-off of 0.3 the bottom's map region is too loose for IoU 0.5 (0.49).
    config = replace(
        BASELINE_CONFIG,
        box_rule="mass",
        class_thresholds={"bottom": 0.3},
        grabcut_short_side=120,
    )
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)
    map_box = detector.detections_from_maps({"bag": (0.9, heatmap)}, (120, 160))[0].box
    photo_maps, truths = [], {}
    for index in range(3):
        photo = StreetPhoto(f"photos/{index}.jpg", Path("unused"), 120, 160, frozenset(), "val")
        maps = {"bottom": (0.9, heatmap), "bag": (0.9, heatmap)}
        photo_maps.append(PhotoMaps(photo, (120, 160), maps, photo_pixels))
        # The trousers are the bottom; the "bag" is exactly the map's loose region.
        truths[photo.image] = [GroundTruthBox("bottom", trousers), GroundTruthBox("bag", map_box)]

    chosen = _tune_grabcut(detector, config, photo_maps, truths)

    assert set(chosen) == {"bottom"} and chosen["bottom"] in GRABCUT_GRID
    cut = score_maps(detector.with_config(class_grabcut=chosen), photo_maps, truths)
    plain = score_maps(detector, photo_maps, truths)
    assert cut["corloc"]["bottom"] == 1.0 and plain["corloc"]["bottom"] == 0.0


def test_face_bands_are_kept_only_for_classes_whose_bands_win(
    pretrained_backbone, data_dir: Path
) -> None:
    from recommender.detect import zero_shot_detector
    from recommender.evaluate.detection import FACE_BAND_GRID, _tune_face_bands
    from tests.recommender.test_detect_faces import _blob, _centre

    truths_of = read_ground_truth_boxes(data_dir / "street")["photos/0003.jpg"]
    glasses = next(truth.box for truth in truths_of if truth.class_name == "eyewear")
    pixels = np.asarray(load_image(data_dir / "street" / "photos" / "0003.jpg"))
    height, width = pixels.shape[:2]
    # A blob around the head: its map box is too loose for the sunglasses; the "bag" is
    # exactly the map's box, which no band of the face beats.
    heatmap = _blob((height, width), _centre(glasses), radius=40)
    config = replace(BASELINE_CONFIG, box_rule="mass")
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)
    map_box = detector.detections_from_maps({"bag": (0.9, heatmap)}, (width, height))[0].box
    photo = StreetPhoto("photos/0003.jpg", Path("unused"), width, height, frozenset(), "val")
    maps = {"eyewear": (0.9, heatmap), "bag": (0.9, heatmap)}
    photo_maps = [PhotoMaps(photo, (width, height), maps, pixels)]
    truths = {photo.image: [GroundTruthBox("eyewear", glasses), GroundTruthBox("bag", map_box)]}

    chosen = _tune_face_bands(detector, config, photo_maps, truths)

    assert set(chosen) == {"eyewear"} and chosen["eyewear"] in FACE_BAND_GRID
    banded = score_maps(detector.with_config(class_face_band=chosen), photo_maps, truths)
    plain = score_maps(detector, photo_maps, truths)
    assert banded["corloc"]["eyewear"] == 1.0 and plain["corloc"]["eyewear"] == 0.0
    assert banded["corloc"]["bag"] == 1.0


def test_face_anchors_are_kept_only_for_classes_whose_moved_boxes_win(
    pretrained_backbone, data_dir: Path
) -> None:
    from recommender.detect import zero_shot_detector
    from recommender.detection.detector import anchored_box, photo_box
    from recommender.detection.faces import FaceAnchor, find_face
    from recommender.evaluate.detection import (
        FACE_ANCHOR_WEIGHTS,
        MIN_FACE_ANCHOR_ITEMS,
        _tune_face_anchors,
    )
    from tests.recommender.test_detect_faces import _blob, _centre

    truths_of = read_ground_truth_boxes(data_dir / "street")["photos/0003.jpg"]
    glasses = next(truth.box for truth in truths_of if truth.class_name == "eyewear")
    pixels = np.asarray(load_image(data_dir / "street" / "photos" / "0003.jpg"))
    height, width = pixels.shape[:2]
    head = _blob((height, width), _centre(glasses), radius=40)  # the eyewear map: the head
    # A "top" map around the chest whose box is too small for the top; the "bag" is exactly
    # its map's box, which no move toward the face prior beats.
    body = _blob((height, width), (width / 2, _centre(glasses)[1] + 180), radius=25)
    config = replace(BASELINE_CONFIG, box_rule="mass")
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)
    map_box = detector.detections_from_maps({"top": (0.9, body)}, (width, height))[0].box
    face = photo_box(find_face(pixels, head), (1.0, 1.0), head.shape, (width, height))
    top = anchored_box(map_box, face, FaceAnchor(1.0, 1.0, 2.5, 1.1, 4.0), (width, height))
    assert not is_correct(map_box, [top])
    maps = {"eyewear": (0.9, head), "top": (0.9, body), "bag": (0.9, body)}
    photo_maps, truths = [], {}
    for index in range(MIN_FACE_ANCHOR_ITEMS):
        photo = StreetPhoto(
            f"photos/{index}.jpg", Path("unused"), width, height, frozenset(), "val"
        )
        photo_maps.append(PhotoMaps(photo, (width, height), maps, pixels))
        truths[photo.image] = [GroundTruthBox("top", top), GroundTruthBox("bag", map_box)]

    chosen = _tune_face_anchors(detector, config, photo_maps, truths)

    assert set(chosen) == {"top"} and chosen["top"][:2] in FACE_ANCHOR_WEIGHTS
    assert chosen["top"][2:] == pytest.approx((2.5, 1.1, 4.0), abs=0.05)  # the truths' median
    anchored = score_maps(detector.with_config(class_face_anchor=chosen), photo_maps, truths)
    plain = score_maps(detector, photo_maps, truths)
    assert anchored["corloc"]["top"] == 1.0 and plain["corloc"]["top"] == 0.0
    assert anchored["corloc"]["bag"] == 1.0
    # Too few items with a face: no prior, no anchor.
    assert _tune_face_anchors(detector, config, photo_maps[:-1], truths) == {}
