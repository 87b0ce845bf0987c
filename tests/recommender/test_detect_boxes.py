from __future__ import annotations

import numpy as np
import pytest
import torch

from recommender.detection.boxes import (
    ScoredBox,
    accumulate_windows,
    heatmap_boxes,
    iou,
    largest_contour_box,
    merge_boxes,
    resize_box,
    sliding_windows,
)


def test_resize_box_scales_width_and_height_about_the_centre() -> None:
    assert resize_box((10, 20, 30, 60), 1.0, 1.0) == (10, 20, 30, 60)
    assert resize_box((10, 20, 30, 60), 0.8, 1.2) == (12, 16, 28, 64)


def test_sliding_windows_cover_the_whole_image_inside_its_bounds() -> None:
    windows = sliding_windows(100, 160, sizes=(0.5, 0.8), overlap=0.5)
    coverage = np.zeros((160, 100), int)
    for x1, y1, x2, y2 in windows:
        assert 0 <= x1 < x2 <= 100 and 0 <= y1 < y2 <= 160
        coverage[y1:y2, x1:x2] += 1

    assert coverage.min() >= 2  # every pixel seen by each of the two sizes


@pytest.mark.parametrize("layout", ["spread", "pushed"])
def test_each_window_layout_covers_the_whole_image(layout: str) -> None:
    for width, height in [(550, 832), (832, 550), (300, 300), (100, 1000)]:
        windows = sliding_windows(width, height, sizes=(0.6,), overlap=0.35, layout=layout)
        coverage = np.zeros((height, width), int)
        for x1, y1, x2, y2 in windows:
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            coverage[y1:y2, x1:x2] += 1
        assert coverage.min() >= 1, (layout, width, height)


def test_spread_windows_step_evenly_without_near_duplicates() -> None:
    spread = sliding_windows(550, 832, sizes=(0.6,), overlap=0.35)  # 330-px windows
    pushed = sliding_windows(550, 832, sizes=(0.6,), overlap=0.35, layout="pushed")

    lefts = sorted({box[0] for box in spread})
    tops = sorted({box[1] for box in spread})
    assert lefts == [0, 220] and tops == [0, 251, 502]  # edge to edge, even steps
    assert len(spread) == 6
    # The pushed layout steps 214 px and pushes its last window back inside: 6 px from
    # the one before it, which the photo's maps then count twice.
    assert sorted({box[0] for box in pushed}) == [0, 214, 220]
    assert len(pushed) == 12


def test_an_unknown_window_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="window layout 'grid'"):
        sliding_windows(100, 100, sizes=(0.5,), overlap=0.5, layout="grid")


def test_accumulate_windows_normalised_by_coverage_keeps_positive_constant_maps() -> None:
    windows = [(0, 0, 6, 6), (4, 0, 10, 6)]
    maps = torch.stack([torch.full((1, 3, 3), 2.0), torch.full((1, 3, 3), 4.0)])  # (W, K, h, w)
    maps[0, 0, 0, 0] = -5.0  # negative evidence is clipped, not subtracted

    total, coverage = accumulate_windows(maps, windows, height=6, width=10)
    averaged = total / coverage.clamp_min(1)

    assert total.shape == (1, 6, 10)
    assert coverage[0, 5] == 2 and coverage[0, 0] == 1
    torch.testing.assert_close(averaged[0, 3, 7:], torch.full((3,), 4.0))
    torch.testing.assert_close(averaged[0, 3, 4:6], torch.full((2,), 3.0))
    assert averaged[0, 0, 0] == 0.0


def _two_blob_heatmap() -> np.ndarray:
    heatmap = np.zeros((50, 80), np.float32)
    heatmap[10:20, 5:15] = 1.0  # small strong blob
    heatmap[25:45, 40:75] = 0.8  # large blob with more mass
    return heatmap


def test_heatmap_boxes_find_each_region_with_exclusive_corners_ranked_by_mass() -> None:
    boxes = heatmap_boxes(_two_blob_heatmap(), threshold=0.5)

    assert [box.box for box in boxes] == [(40, 25, 75, 45), (5, 10, 15, 20)]
    assert boxes[0].score > boxes[1].score
    assert largest_contour_box(_two_blob_heatmap(), 0.5) == (40, 25, 75, 45)
    assert largest_contour_box(np.zeros((5, 5)), 0.5) is None


def test_merge_boxes_drops_overlapping_and_contained_duplicates() -> None:
    kept = merge_boxes(
        [
            ScoredBox((0, 0, 10, 10), 0.9),
            ScoredBox((1, 1, 10, 10), 0.5),  # IoU 0.81 with the first
            ScoredBox((2, 2, 5, 5), 0.4),  # inside the first
            ScoredBox((20, 20, 30, 30), 0.3),
        ]
    )

    assert [box.box for box in kept] == [(0, 0, 10, 10), (20, 20, 30, 30)]


def test_iou_of_exclusive_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == 50 / 150
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0


def test_union_box_holds_both_boxes() -> None:
    from recommender.detection.boxes import union_box

    assert union_box((10, 20, 30, 40), (15, 5, 50, 35)) == (10, 5, 50, 40)
    assert union_box((10, 20, 30, 40), (12, 22, 28, 38)) == (10, 20, 30, 40)


def test_zoom_window_is_a_square_around_the_box_inside_the_image() -> None:
    from recommender.detection.boxes import zoom_window

    # 20x10 box: side 2 x 20 = 40, centred on (60, 45)
    assert zoom_window((50, 40, 70, 50), 200, 100, scale=2.0, min_side=0.1) == (40, 25, 80, 65)
    # at least min_side of the short side (0.5 x 100 = 50), shifted back inside at the corner
    assert zoom_window((0, 0, 4, 4), 200, 100, scale=2.0, min_side=0.5) == (0, 0, 50, 50)
    # never larger than the short side
    assert zoom_window((0, 0, 200, 100), 200, 100, scale=2.0, min_side=0.1) == (50, 0, 150, 100)
