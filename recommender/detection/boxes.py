"""Box geometry and heatmap post-processing: windows, accumulation, contours, merging.

Boxes are (x1, y1, x2, y2) integer pixels with x2/y2 exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.nn import functional as F

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ScoredBox:
    box: Box
    score: float


def iou(first: Box, second: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    intersection = max(width, 0) * max(height, 0)
    union = box_area(first) + box_area(second) - intersection
    return intersection / union if union > 0 else 0.0


def containment(inner: Box, outer: Box) -> float:
    """Share of `inner`'s area that lies inside `outer`."""
    width = min(inner[2], outer[2]) - max(inner[0], outer[0])
    height = min(inner[3], outer[3]) - max(inner[1], outer[1])
    area = box_area(inner)
    return max(width, 0) * max(height, 0) / area if area > 0 else 0.0


def box_area(box: Box) -> int:
    """Pixels inside `box` (0 when it is empty)."""
    return max(box[2] - box[0], 0) * max(box[3] - box[1], 0)


def union_box(first: Box, second: Box) -> Box:
    """The smallest box holding both boxes."""
    return (
        min(first[0], second[0]),
        min(first[1], second[1]),
        max(first[2], second[2]),
        max(first[3], second[3]),
    )


WINDOW_LAYOUTS = ("spread", "pushed")


def sliding_windows(
    width: int, height: int, sizes: Sequence[float], overlap: float, layout: str = "spread"
) -> list[Box]:
    """Square windows covering the image; each size is a fraction of the short side.

    `spread`: along each side, the number of windows that steps of `size * (1 - overlap)`
    take, rounded to the nearest, spread evenly from edge to edge (overlap about
    `overlap`). `pushed` (older checkpoints): windows step by exactly that from the top
    left and the last row/column is pushed back inside the image, a near-duplicate of the
    one before when the steps almost fit (a 550x832 photo took 12 windows, 6 spread).
    Either way every pixel is covered by every size.
    """
    if layout not in WINDOW_LAYOUTS:
        raise ValueError(f"window layout {layout!r}: expected one of {WINDOW_LAYOUTS}")
    starts = _spread_starts if layout == "spread" else _pushed_starts
    short_side = min(width, height)
    windows: list[Box] = []
    for fraction in sizes:
        side = max(int(round(short_side * fraction)), 1)
        step = max(int(round(side * (1.0 - overlap))), 1)
        for top in starts(height, side, step):
            for left in starts(width, side, step):
                windows.append((left, top, left + side, top + side))
    return windows


def _pushed_starts(length: int, side: int, step: int) -> list[int]:
    if side >= length:
        return [0]
    starts = list(range(0, length - side, step))
    return starts + [length - side]


def _spread_starts(length: int, side: int, step: int) -> list[int]:
    if side >= length:
        return [0]
    steps = max(round((length - side) / step), 1)
    return [round(index * (length - side) / steps) for index in range(steps + 1)]


def accumulate_windows(
    window_maps: torch.Tensor, windows: Sequence[Box], height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum the positive part of each window's maps into an image-sized map, with coverage.

    (W, K, h, w) maps of W windows -> (K, height, width) summed activations and
    (height, width) number of windows covering each pixel. Divide the first by the second
    (where > 0) for the coverage-normalised map.
    """
    num_classes = window_maps.shape[1]
    total = window_maps.new_zeros((num_classes, height, width))  # (K, H, W)
    coverage = window_maps.new_zeros((height, width))  # (H, W)
    for window_map, (x1, y1, x2, y2) in zip(window_maps, windows, strict=True):
        x2, y2 = min(x2, width), min(y2, height)
        resized = F.interpolate(
            window_map[None].clamp_min(0), size=(y2 - y1, x2 - x1), mode="bilinear"
        )[0]  # (K, y2-y1, x2-x1)
        total[:, y1:y2, x1:x2] += resized
        coverage[y1:y2, x1:x2] += 1
    return total, coverage


def heatmap_boxes(heatmap: np.ndarray, threshold: float) -> list[ScoredBox]:
    """Boxes around the regions of `heatmap` (H, W) at or above `threshold`.

    Each box is scored by its region's share of the map's total positive mass, so the
    region holding most of the evidence for a class ranks first.
    """
    mask = (heatmap >= threshold).astype(np.uint8)  # (H, W)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    positive = np.clip(heatmap, 0, None)  # (H, W)
    total = float(positive.sum()) or 1.0
    scored = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        region = np.zeros_like(mask)
        cv2.drawContours(region, [contour], -1, 1, thickness=cv2.FILLED)
        mass = float(positive[region.astype(bool)].sum()) / total
        scored.append(ScoredBox((x, y, x + w, y + h), mass))
    return sorted(scored, key=lambda item: item.score, reverse=True)


def largest_contour_box(heatmap: np.ndarray, threshold: float) -> Box | None:
    """The box of the largest-area region at or above `threshold` (the BASELINES.md rule)."""
    mask = (heatmap >= threshold).astype(np.uint8)  # (H, W)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
    return (x, y, x + w, y + h)


def merge_boxes(
    boxes: Sequence[ScoredBox], *, iou_threshold: float = 0.5, containment_threshold: float = 0.9
) -> list[ScoredBox]:
    """Greedy NMS: drop a box overlapping, or mostly inside, a higher-scored kept box."""
    kept: list[ScoredBox] = []
    for candidate in sorted(boxes, key=lambda item: item.score, reverse=True):
        if all(
            iou(candidate.box, other.box) < iou_threshold
            and containment(candidate.box, other.box) < containment_threshold
            for other in kept
        ):
            kept.append(candidate)
    return kept


def scale_box(box: Box, scale_x: float, scale_y: float, offset: tuple[int, int] = (0, 0)) -> Box:
    """Map a box to another resolution (and shift it), rounding outwards."""
    x1, y1, x2, y2 = box
    return (
        int(np.floor(x1 * scale_x)) + offset[0],
        int(np.floor(y1 * scale_y)) + offset[1],
        int(np.ceil(x2 * scale_x)) + offset[0],
        int(np.ceil(y2 * scale_y)) + offset[1],
    )


def resize_box(box: Box, factor_x: float, factor_y: float) -> Box:
    """The box widened by `factor_x` and heightened by `factor_y` about its centre (not
    clipped); factors of 1 return it unchanged."""
    if factor_x == 1 and factor_y == 1:
        return box
    x1, y1, x2, y2 = box
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    half_width, half_height = (x2 - x1) * factor_x / 2, (y2 - y1) * factor_y / 2
    return (
        int(np.floor(centre_x - half_width)),
        int(np.floor(centre_y - half_height)),
        int(np.ceil(centre_x + half_width)),
        int(np.ceil(centre_y + half_height)),
    )


def zoom_window(box: Box, width: int, height: int, *, scale: float, min_side: float) -> Box:
    """A square around `box` for a closer second look, inside a width x height image.

    Side: `scale` times the box's long side, at least `min_side` of the image's short side
    and at most the short side; centred on the box, shifted back inside the image.
    """
    x1, y1, x2, y2 = box
    short_side = min(width, height)
    side = int(min(max(scale * max(x2 - x1, y2 - y1), min_side * short_side), short_side))
    side = max(side, 1)
    left = min(max((x1 + x2) // 2 - side // 2, 0), width - side)
    top = min(max((y1 + y2) // 2 - side // 2, 0), height - side)
    return (left, top, left + side, top + side)
