from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recommender.data.street import read_ground_truth_boxes
from recommender.detection.boxes import Box, iou
from recommender.detection.faces import FaceAnchor, FaceBand, find_face
from recommender.images import load_image

SUNGLASSES_BAND = FaceBand(inset=0.15, top=0.2, bottom=0.55)


def _blob(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    """A map (H, W) that is a round blob, as a CAM around a head is."""
    rows, columns = np.mgrid[0 : shape[0], 0 : shape[1]]
    distance = ((columns - centre[0]) / radius) ** 2 + ((rows - centre[1]) / radius) ** 2
    return np.exp(-distance).astype(np.float32)


@pytest.fixture(scope="module")
def street_face(data_dir: Path) -> tuple[np.ndarray, Box]:
    """A street photo of a woman in sunglasses (its pixels, the sunglasses' box)."""
    truths = read_ground_truth_boxes(data_dir / "street")["photos/0003.jpg"]
    glasses = next(truth.box for truth in truths if truth.class_name == "eyewear")
    return np.asarray(load_image(data_dir / "street" / "photos" / "0003.jpg")), glasses


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def test_a_face_band_of_the_face_the_map_points_at_boxes_the_sunglasses(street_face) -> None:
    photo, glasses = street_face
    heatmap = _blob(photo.shape[:2], _centre(glasses), radius=40)

    face = find_face(photo, heatmap)

    assert face is not None
    assert iou(face, glasses) < 0.5  # the face is not the glasses ...
    assert iou(SUNGLASSES_BAND.box(face), glasses) >= 0.5  # ... its band is


def test_the_face_is_in_map_pixels_whatever_the_photo_size(street_face) -> None:
    photo, glasses = street_face
    heatmap = _blob(photo.shape[:2], _centre(glasses), radius=40)
    half = heatmap[::2, ::2]  # the map at half the photo's size, as the detector's maps are

    full, small = find_face(photo, heatmap), find_face(photo, half)

    assert full is not None and small is not None
    assert iou(tuple(2 * value for value in small), full) >= 0.9


def test_no_face_where_the_map_points_away_from_faces(street_face) -> None:
    photo, _ = street_face
    height, width = photo.shape[:2]
    at_the_feet = _blob((height, width), (width / 2, height - 40), radius=40)

    assert find_face(photo, at_the_feet) is None
    assert find_face(photo, np.zeros((height, width), np.float32)) is None
    assert find_face(np.full((200, 150, 3), 128, np.uint8), _blob((200, 150), (75, 50), 30)) is None


def test_face_band_geometry_and_bad_values() -> None:
    assert FaceBand(0.1, 0.2, 0.5).box((100, 200, 200, 300)) == (110, 220, 190, 250)
    assert FaceBand(0.0, -0.5, 0.3).box((100, 200, 200, 300)) == (100, 150, 200, 230)
    for values in ((0.5, 0.2, 0.5), (-0.1, 0.2, 0.5), (0.1, 0.5, 0.5), (0.1, 0.6, 0.2)):
        with pytest.raises(ValueError, match="face band"):
            FaceBand.from_values(values)


def test_detector_boxes_face_band_classes_from_the_face_given_the_photo(
    street_face, pretrained_backbone
) -> None:
    from recommender.detect import zero_shot_detector
    from recommender.detection.detector import BASELINE_CONFIG, DetectorConfig

    photo, glasses = street_face
    height, width = photo.shape[:2]
    centre_x, centre_y = _centre(glasses)
    heatmap = _blob((height // 2, width // 2), (centre_x / 2, centre_y / 2), radius=20)
    config = replace(
        BASELINE_CONFIG, box_rule="mass", class_face_band={"eyewear": SUNGLASSES_BAND.as_tuple()}
    )
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)
    maps = {"eyewear": (0.9, heatmap), "headwear": (0.9, heatmap)}

    found = {
        d.class_name: d.box
        for d in detector.detections_from_maps(maps, (width, height), photo=photo)
    }
    map_boxes = {d.class_name: d.box for d in detector.detections_from_maps(maps, (width, height))}

    assert found["eyewear"] != map_boxes["eyewear"]
    assert iou(found["eyewear"], glasses) >= 0.5 > iou(map_boxes["eyewear"], glasses)
    assert found["headwear"] == map_boxes["headwear"]  # no band for this class
    restored = DetectorConfig.from_dict(config.to_dict())
    assert restored.class_face_band == {"eyewear": (0.15, 0.2, 0.55)}


def test_boxes_are_refined_on_one_copy_of_the_photo_at_the_refiners_size(
    pretrained_backbone,
) -> None:
    from PIL import Image

    from recommender.detect import zero_shot_detector
    from recommender.detection.faces import SHORT_SIDE

    detector = zero_shot_detector(backbone=pretrained_backbone)
    large, small = Image.new("RGB", (1000, 2000), "red"), Image.new("RGB", (300, 200), "red")

    assert detector.photo_pixels(large).shape == (2 * SHORT_SIDE, SHORT_SIDE, 3)
    assert detector.photo_pixels(small).shape == (200, 300, 3)  # never enlarged


def test_face_anchor_geometry_and_bad_values() -> None:
    face = (130, 100, 170, 150)  # 40 x 50
    # Prior: centred on the box (x 150), 2 face widths wide, 1 to 4 face heights below.
    anchor = FaceAnchor(weight_x=0.5, weight_y=1.0, width=2.0, top=1.0, bottom=4.0)

    assert anchor.apply((100, 300, 200, 400), face) == (105, 150, 195, 300)
    assert FaceAnchor(0.0, 0.0, 2.0, 1.0, 4.0).apply((100, 300, 200, 400), face) == (
        100,
        300,
        200,
        400,
    )
    assert FaceAnchor.from_values(anchor.as_tuple()) == anchor
    for values in ((1.5, 0, 1, 0, 1), (0, -0.1, 1, 0, 1), (0, 0, 0, 0, 1), (0, 0, 1, 2, 1)):
        with pytest.raises(ValueError, match="face anchor"):
            FaceAnchor.from_values(values)


def test_detector_moves_anchored_boxes_by_the_face_the_head_map_points_at(
    street_face, pretrained_backbone
) -> None:
    from recommender.detect import zero_shot_detector
    from recommender.detection.detector import BASELINE_CONFIG, DetectorConfig, photo_box

    photo, glasses = street_face
    height, width = photo.shape[:2]
    head = _blob((height // 2, width // 2), _centre((*(v / 2 for v in glasses),)), radius=20)
    top_map = _blob((height // 2, width // 2), (width / 4, height / 4), radius=30)
    anchor = FaceAnchor(1.0, 1.0, width=2.0, top=1.2, bottom=4.0)
    config = replace(BASELINE_CONFIG, box_rule="mass", class_face_anchor={"top": anchor.as_tuple()})
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)
    maps = {"top": (0.9, top_map), "bag": (0.9, top_map)}

    moved = {
        d.class_name: d.box
        for d in detector.detections_from_maps(maps, (width, height), photo=photo, head_map=head)
    }
    plain = {d.class_name: d.box for d in detector.detections_from_maps(maps, (width, height))}
    no_head = detector.detections_from_maps(maps, (width, height), photo=photo)

    face = photo_box(find_face(photo, head), (1.0, 1.0), head.shape, (width, height))
    face_width, face_height = face[2] - face[0], face[3] - face[1]
    assert moved["top"][1] == pytest.approx(face[1] + 1.2 * face_height, abs=1)
    assert moved["top"][3] == pytest.approx(face[1] + 4.0 * face_height, abs=1)
    assert moved["top"][2] - moved["top"][0] == pytest.approx(2 * face_width, abs=1)
    assert moved["top"] != plain["top"] and moved["bag"] == plain["bag"]  # bags: no anchor
    assert {d.class_name: d.box for d in no_head} == plain  # no head map, no face: map boxes
    restored = DetectorConfig.from_dict(config.to_dict())
    assert restored.class_face_anchor == {"top": (1.0, 1.0, 2.0, 1.2, 4.0)}


def test_detect_computes_the_head_map_for_anchors_without_reporting_it(
    pretrained_backbone, data_dir: Path
) -> None:
    from recommender.detect import zero_shot_detector
    from recommender.detection.detector import BASELINE_CONFIG

    image = load_image(data_dir / "street" / "photos" / "0003.jpg")
    anchors = {"top": (0.5, 0.5, 2.0, 1.2, 4.0)}
    detector = zero_shot_detector(
        backbone=pretrained_backbone, config=replace(BASELINE_CONFIG, class_face_anchor=anchors)
    )

    maps, guides = detector._maps(image, ["top"], ("eyewear",))
    found = detector.detect(image, classes=["top"])

    assert set(maps) == {"top"} and set(guides) == {"eyewear"}
    assert guides["eyewear"][1].shape == maps["top"][1].shape
    assert {d.class_name for d in found} == {"top"}
    with_eyewear, none = detector._maps(image, ["top", "eyewear"], ("eyewear",))
    assert set(with_eyewear) == {"top", "eyewear"} and none == {}


def test_the_band_and_the_anchors_search_the_head_maps_face_once(
    street_face, pretrained_backbone, monkeypatch
) -> None:
    from recommender.detect import zero_shot_detector
    from recommender.detection import detector as detector_module
    from recommender.detection.detector import BASELINE_CONFIG

    photo, glasses = street_face
    height, width = photo.shape[:2]
    head = _blob((height // 2, width // 2), _centre((*(v / 2 for v in glasses),)), radius=20)
    top_map = _blob((height // 2, width // 2), (width / 4, height / 4), radius=30)
    config = replace(
        BASELINE_CONFIG,
        box_rule="mass",
        class_face_band={"eyewear": SUNGLASSES_BAND.as_tuple()},
        class_face_anchor={"top": FaceAnchor(1.0, 1.0, width=2.0, top=1.2, bottom=4.0).as_tuple()},
    )
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)
    maps = {"eyewear": (0.9, head), "top": (0.9, top_map)}
    expected = {
        "eyewear": detector.with_config(class_face_anchor={}).detections_from_maps(
            maps, (width, height), photo=photo
        ),
        "top": detector.with_config(class_face_band={}).detections_from_maps(
            maps, (width, height), photo=photo
        ),
    }
    searched = []

    def counted(photo: np.ndarray, heatmap: np.ndarray) -> Box | None:
        searched.append(heatmap)
        return find_face(photo, heatmap)

    monkeypatch.setattr(detector_module, "find_face", counted)
    found = {
        d.class_name: d.box
        for d in detector.detections_from_maps(maps, (width, height), photo=photo)
    }

    assert len(searched) == 1 and searched[0] is head  # the eyewear map is the head map
    assert found["eyewear"] == next(d.box for d in expected["eyewear"] if d.class_name == "eyewear")
    assert found["top"] == next(d.box for d in expected["top"] if d.class_name == "top")
