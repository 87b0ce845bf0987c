from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from recommender.detection.boxes import iou, union_box
from recommender.detection.refine import GrabCutSetting, grabcut_box

SEEDS = GrabCutSetting(background=0.2, probable=0.5, certain=0.8)


def _trousers_and_shoes() -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """A 120 x 160 photo: grey background, blue trousers (x 40-80, y 30-110) on white
    shoes (y 110-130), and a trouser map that is a blurred blob spilling onto the shoes
    and the background around them, as a coarse CAM does."""
    photo = np.full((160, 120, 3), 128, np.uint8)
    photo[30:110, 40:80] = (30, 50, 160)  # trousers
    photo[110:130, 36:84] = (250, 250, 250)  # shoes
    rows, columns = np.mgrid[0:160, 0:120]
    heatmap = np.exp(-(((columns - 60) / 30.0) ** 2) - ((rows - 80) / 45.0) ** 2)  # (H, W)
    return photo, heatmap.astype(np.float32), (40, 30, 80, 110)


def test_grabcut_cuts_the_item_out_along_its_colour_edges() -> None:
    photo, heatmap, trousers = _trousers_and_shoes()
    map_region = np.argwhere(heatmap >= 0.5 * heatmap.max())
    map_box = (
        int(map_region[:, 1].min()),
        int(map_region[:, 0].min()),
        int(map_region[:, 1].max()) + 1,
        int(map_region[:, 0].max()) + 1,
    )

    box = grabcut_box(photo, heatmap, SEEDS, short_side=120)

    assert box is not None
    assert iou(box, trousers) >= 0.8
    assert iou(box, trousers) > iou(map_box, trousers) + 0.2  # the map's own region is loose


def test_grabcut_box_is_in_heatmap_pixels_whatever_the_photo_size() -> None:
    photo, heatmap, trousers = _trousers_and_shoes()
    large_photo = np.repeat(np.repeat(photo, 3, axis=0), 3, axis=1)  # (480, 360, 3)

    box = grabcut_box(large_photo, heatmap, SEEDS, short_side=120)

    assert box is not None and iou(box, trousers) >= 0.8


def test_grabcut_gives_the_same_box_twice() -> None:
    photo, heatmap, _ = _trousers_and_shoes()

    first = grabcut_box(photo, heatmap, SEEDS, short_side=60)

    assert first == grabcut_box(photo, heatmap, SEEDS, short_side=60)


def test_grabcut_gives_no_box_for_an_empty_map_or_one_without_background() -> None:
    photo, heatmap, _ = _trousers_and_shoes()

    assert grabcut_box(photo, np.zeros_like(heatmap), SEEDS) is None
    assert grabcut_box(photo, np.ones_like(heatmap), SEEDS) is None  # nothing rules out


@pytest.mark.parametrize("values", [(0.5, 0.4, 0.9), (0.1, 0.9, 0.8), (-0.1, 0.5, 0.8)])
def test_grabcut_seeds_out_of_order_are_refused(values: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="GrabCut seeds"):
        GrabCutSetting.from_values(values)


def test_detector_cuts_the_first_box_of_grabcut_classes_only_given_the_photo(
    pretrained_backbone,
) -> None:
    from recommender.detect import zero_shot_detector
    from recommender.detection.detector import BASELINE_CONFIG, DetectorConfig

    photo, heatmap, trousers = _trousers_and_shoes()
    config = replace(
        BASELINE_CONFIG,
        box_rule="mass",
        class_grabcut={"bottom": SEEDS.as_tuple(), "dress": SEEDS.as_tuple()},
        grabcut_short_side=120,
    )
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)
    maps = {"bottom": (0.9, heatmap), "footwear": (0.9, heatmap), "dress": (0.9, heatmap)}

    detections = detector.detections_from_maps(maps, (120, 160), photo=photo)
    found = {d.class_name: d.box for d in detections}
    searched = {d.class_name: d.query_box for d in detections}
    map_boxes = {d.class_name: d.box for d in detector.detections_from_maps(maps, (120, 160))}

    assert map_boxes["bottom"] == map_boxes["footwear"]  # without the photo: the map's region
    assert found["footwear"] == map_boxes["footwear"]  # not a GrabCut class
    assert iou(found["bottom"], trousers) >= 0.8
    assert iou(found["bottom"], trousers) > iou(map_boxes["bottom"], trousers) + 0.1
    assert found["dress"] == found["bottom"]  # two cuts, run side by side, as one alone
    # The cut box is shown; search crops its union with the map's box.
    assert searched["bottom"] == union_box(found["bottom"], map_boxes["bottom"])
    assert searched["bottom"] != found["bottom"]
    assert searched["footwear"] == found["footwear"]
    restored = DetectorConfig.from_dict(config.to_dict())
    assert restored.class_grabcut == {"bottom": (0.2, 0.5, 0.8), "dress": (0.2, 0.5, 0.8)}


def test_a_cut_that_collapses_onto_a_print_leaves_the_map_box(pretrained_backbone) -> None:
    from recommender.detect import zero_shot_detector
    from recommender.detection.boxes import box_area
    from recommender.detection.detector import BASELINE_CONFIG
    from recommender.detection.refine import MIN_AREA_SHARE

    # A grey top on a grey wall: only its small red print stands out in colour, so the cut
    # keeps the print alone, a crop that would find nothing in search.
    photo = np.full((160, 120, 3), 128, np.uint8)
    photo[70:86, 52:68] = (200, 30, 30)  # the print
    rows, columns = np.mgrid[0:160, 0:120]
    blob = np.exp(-(((columns - 60) / 30.0) ** 2) - ((rows - 78) / 45.0) ** 2)  # (H, W)
    peak = np.exp(-(((columns - 60) / 6.0) ** 2) - ((rows - 78) / 6.0) ** 2)  # on the print
    heatmap = (0.7 * blob + 0.3 * peak).astype(np.float32)
    config = replace(
        BASELINE_CONFIG,
        box_rule="mass",
        class_grabcut={"top": SEEDS.as_tuple()},
        grabcut_short_side=120,
    )
    detector = zero_shot_detector(backbone=pretrained_backbone, config=config)
    maps = {"top": (0.9, heatmap)}
    map_box = detector.detections_from_maps(maps, (120, 160))[0].box

    guarded = detector.detections_from_maps(maps, (120, 160), photo=photo)[0].box
    unguarded = detector.with_config(grabcut_min_area=0.0)
    collapsed = unguarded.detections_from_maps(maps, (120, 160), photo=photo)[0].box

    assert box_area(collapsed) < MIN_AREA_SHARE * box_area(map_box)
    assert iou(collapsed, (52, 70, 68, 86)) >= 0.5
    assert guarded == map_box
    assert detector.detections_from_maps(maps, (120, 160), photo=photo)[0].search_box is None
    assert config.grabcut_min_area == MIN_AREA_SHARE
