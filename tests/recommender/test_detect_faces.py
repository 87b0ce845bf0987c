from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recommender.data.street import read_ground_truth_boxes
from recommender.detection.boxes import Box, iou
from recommender.detection.faces import FaceBand, find_face
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
