"""Box refinement by colour: GrabCut seeded by a class activation map.

A CAM is coarse (one cell per 32 pixels of the network's input) and spills over onto
neighbouring garments: a trouser map runs into the shoes and the top. The photo's colours
know where the trousers end. GrabCut (Rother et al., 2004) fits a colour model to the
map's confident pixels and one to the pixels the map rules out, and cuts the photo along
the colour edges between them; the box is drawn around the cut region holding most of the
map's mass. Seeds come from the map alone, so no box label is ever needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from recommender.detection.boxes import Box

# The cut's default resolution and iterations (`DetectorConfig` measures why these).
SHORT_SIDE = 128
ITERATIONS = 1
# A cut whose box keeps less than this share of the map's box area is not used: on the
# pairs' studio photos (train split, tops) one cut in ten kept under 12% of it, a print
# or a fold, and such a crop finds nothing in search. On street photos (train split)
# CorLoc moved by a point or less per class at 0.25 (0.5 cost tops and accessories 1-2
# points); the pairs' top boxes at IoU >= 0.5: 0.672 cut, 0.680 at 0.25, 0.688 at 0.5.
MIN_AREA_SHARE = 0.25


@dataclass(frozen=True)
class GrabCutSetting:
    """How a map (as fractions of its peak) seeds GrabCut."""

    background: float  # below: certainly background
    probable: float  # at or above: probably the item (between: probably background)
    certain: float  # at or above: certainly the item

    def __post_init__(self) -> None:
        if not 0 <= self.background <= self.probable <= self.certain <= 1:
            raise ValueError(
                "GrabCut seeds need 0 <= background <= probable <= certain <= 1, got "
                f"{self.background}, {self.probable}, {self.certain}"
            )

    @classmethod
    def from_values(cls, values: Sequence[float]) -> GrabCutSetting:
        background, probable, certain = (float(value) for value in values)
        return cls(background, probable, certain)

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.background, self.probable, self.certain)


def grabcut_box(
    photo: np.ndarray,
    heatmap: np.ndarray,
    setting: GrabCutSetting,
    *,
    short_side: int = SHORT_SIDE,
    iterations: int = ITERATIONS,
) -> Box | None:
    """The box, in `heatmap` pixels, of the item GrabCut cuts out of `photo` (h, w, 3 uint8
    RGB, any size) when seeded by `heatmap` (H, W) of the same photo; None when the map
    has no certain pixels or the cut keeps nothing.

    Both are resized to `short_side` first: the cut's cost grows with the pixel count, and
    garments keep their colour edges at that size.
    """
    peak = float(heatmap.max())
    if peak <= 0 or photo.ndim != 3 or photo.shape[2] != 3:
        return None
    height, width = heatmap.shape
    scale = min(short_side / min(height, width), 1.0)
    size = (max(round(width * scale), 8), max(round(height * scale), 8))  # (w, h) for cv2
    small_map = cv2.resize(heatmap.astype(np.float32), size, interpolation=cv2.INTER_AREA) / peak
    small_photo = np.ascontiguousarray(
        cv2.resize(photo, size, interpolation=cv2.INTER_AREA)[:, :, ::-1]
    )  # (h, w, 3) BGR, as OpenCV's colour models expect
    mask = _seed_mask(small_map, setting)  # (h, w)
    if not (mask == cv2.GC_FGD).any() or not (mask == cv2.GC_BGD).any():
        return None
    cv2.setRNGSeed(0)  # its colour models start from k-means: the same photo, the same box
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    cv2.grabCut(
        small_photo,
        mask,
        None,
        background_model,
        foreground_model,
        iterations,
        cv2.GC_INIT_WITH_MASK,
    )
    kept = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)  # (h, w)
    box = _heaviest_region_box(kept, small_map)
    if box is None:
        return None
    scale_x, scale_y = width / size[0], height / size[1]
    x1, y1, x2, y2 = box
    return (
        int(np.floor(x1 * scale_x)),
        int(np.floor(y1 * scale_y)),
        min(int(np.ceil(x2 * scale_x)), width),
        min(int(np.ceil(y2 * scale_y)), height),
    )


def _seed_mask(normalised: np.ndarray, setting: GrabCutSetting) -> np.ndarray:
    """GrabCut's initial labels from a peak-normalised map (h, w)."""
    mask = np.full(normalised.shape, cv2.GC_PR_BGD, np.uint8)  # (h, w)
    mask[normalised < setting.background] = cv2.GC_BGD
    mask[normalised >= setting.probable] = cv2.GC_PR_FGD
    mask[normalised >= setting.certain] = cv2.GC_FGD
    return mask


def _heaviest_region_box(kept: np.ndarray, weights: np.ndarray) -> Box | None:
    """The box of the connected region of `kept` holding the most of `weights`."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(kept, connectivity=4)
    if count <= 1:
        return None
    mass = np.bincount(labels.ravel(), weights=np.clip(weights, 0, None).ravel(), minlength=count)
    mass[0] = -1.0  # label 0 is what the cut left out
    x, y, w, h = (int(value) for value in stats[int(mass.argmax()), :4])
    return (x, y, x + w, y + h)
