"""Box refinement by face: items worn on the face (sunglasses) boxed from the face itself.

An eyewear map is a blob around the head whose peak is the glasses: it knows which head
and roughly where, not where the frames end. A face does: glasses cover a band of it.
OpenCV's frontal-face Haar cascade (it ships inside OpenCV's wheels; nothing is
downloaded) looks for faces near the map's peak, the face holding the most of the map's
mass is taken, and the item's box is a band of that face: `FaceBand` (fractions of the
face box, tuned per class on the street photos like the thresholds). No fashion box
label is ever needed; the map says which face, the face says the extent.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from recommender.detection.boxes import Box

CASCADE = "haarcascade_frontalface_alt2.xml"
# Faces are looked for with the photo's short side at most this (faces in a full-length
# street photo are then 30-80 px; the cascade's cost grows with the pixel count).
SHORT_SIDE = 448
MIN_FACE = 16  # pixels at that size
# The map's region above this share of its peak, grown by `WINDOW_GROWTH` of its size on
# each side, is where faces are looked for (about 15 ms, against about 200 ms for a whole
# 448 x 676 photo), and a face counts only if the map reaches this share inside it.
PEAK_SHARE = 0.5
WINDOW_GROWTH = 0.5

# The class whose map guides the face search for face anchors (`FaceAnchor`): the
# sunglasses map is a blob around the wearer's head, also in photos without sunglasses.
HEAD_CLASS = "eyewear"

_local = threading.local()  # a CascadeClassifier is not shared between threads


@dataclass(frozen=True)
class FaceBand:
    """The item's box as a band of the face box (fractions of its width and height)."""

    inset: float  # cut off each side, of the face's width
    top: float  # the band's top edge below the face box's top, of its height (< 0: above)
    bottom: float  # the band's bottom edge below the face box's top, of its height

    def __post_init__(self) -> None:
        if not (0 <= self.inset < 0.5 and self.top < self.bottom):
            raise ValueError(
                "a face band needs 0 <= inset < 0.5 and top < bottom, got "
                f"{self.inset}, {self.top}, {self.bottom}"
            )

    @classmethod
    def from_values(cls, values: Sequence[float]) -> FaceBand:
        inset, top, bottom = (float(value) for value in values)
        return cls(inset, top, bottom)

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.inset, self.top, self.bottom)

    def box(self, face: Box) -> Box:
        """The band of `face` (x1, y1, x2, y2), in the face's pixels."""
        x1, y1, x2, y2 = face
        width, height = x2 - x1, y2 - y1
        return (
            int(round(x1 + self.inset * width)),
            int(round(y1 + self.top * height)),
            int(round(x2 - self.inset * width)),
            int(round(y1 + self.bottom * height)),
        )


@dataclass(frozen=True)
class FaceAnchor:
    """A class's box pulled toward where that class sits relative to the wearer's face.

    Bodies scale with faces: a top starts about one face height below the face's top and a
    skirt is about two face widths wide, while a map's region can stop at a fold or spill
    over the next garment. The prior box is centred on the box's own centre, `width` face
    widths wide, with its top and bottom edges `top` and `bottom` face heights below the
    face's top; the box's left and right edges move toward the prior's by `weight_x`, its
    top and bottom edges by `weight_y` (0: the box, 1: the prior)."""

    weight_x: float
    weight_y: float
    width: float
    top: float
    bottom: float

    def __post_init__(self) -> None:
        weights_ok = 0 <= self.weight_x <= 1 and 0 <= self.weight_y <= 1
        if not (weights_ok and self.width > 0 and self.top < self.bottom):
            raise ValueError(
                "a face anchor needs weights in [0, 1], width > 0 and top < bottom, got "
                f"{self.as_tuple()}"
            )

    @classmethod
    def from_values(cls, values: Sequence[float]) -> FaceAnchor:
        weight_x, weight_y, width, top, bottom = (float(value) for value in values)
        return cls(weight_x, weight_y, width, top, bottom)

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (self.weight_x, self.weight_y, self.width, self.top, self.bottom)

    def apply(self, box: Box, face: Box) -> Box:
        """`box` moved toward the prior of `face` (both in the same pixels)."""
        x1, y1, x2, y2 = box
        face_x1, face_y1, face_x2, face_y2 = face
        face_width, face_height = face_x2 - face_x1, face_y2 - face_y1
        centre, half = (x1 + x2) / 2, self.width * face_width / 2
        prior = (
            centre - half,
            face_y1 + self.top * face_height,
            centre + half,
            face_y1 + self.bottom * face_height,
        )
        weights = (self.weight_x, self.weight_y, self.weight_x, self.weight_y)
        return tuple(  # type: ignore[return-value]
            int(round((1 - weight) * edge + weight * target))
            for edge, target, weight in zip(box, prior, weights, strict=True)
        )


def _cascade() -> cv2.CascadeClassifier:
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        path = cv2.data.haarcascades + CASCADE
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(f"OpenCV's face cascade could not be read from {path}")
        _local.cascade = cascade
    return cascade


def find_face(photo: np.ndarray, heatmap: np.ndarray) -> Box | None:
    """The face, in `heatmap` pixels, that `heatmap` (H, W) of the same photo points at:
    among the faces found in `photo` (h, w, 3 uint8 RGB, any size) around the map's peak
    region, the one holding the most map mass; None when the map is empty or no face
    there reaches `PEAK_SHARE` of its peak."""
    peak = float(heatmap.max())
    if peak <= 0 or photo.ndim != 3 or photo.shape[2] != 3:
        return None
    scale = min(SHORT_SIDE / min(photo.shape[:2]), 1.0)
    size = (max(round(photo.shape[1] * scale), 1), max(round(photo.shape[0] * scale), 1))
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)  # (h, w, 3)
    weights = cv2.resize(heatmap.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    threshold = PEAK_SHARE * float(weights.max())
    rows, columns = np.nonzero(weights >= threshold)
    if rows.size == 0:
        return None
    window = _grown(
        (int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1),
        WINDOW_GROWTH,
        size,
    )
    x1, y1, x2, y2 = window
    grey = cv2.equalizeHist(cv2.cvtColor(small[y1:y2, x1:x2], cv2.COLOR_RGB2GRAY))
    faces = _cascade().detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=3, minSize=(MIN_FACE, MIN_FACE)
    )
    best: tuple[float, Box] | None = None
    for x, y, width, height in faces:
        face = (x1 + int(x), y1 + int(y), x1 + int(x + width), y1 + int(y + height))
        inside = weights[face[1] : face[3], face[0] : face[2]]
        if inside.size == 0 or float(inside.max()) < threshold:
            continue
        mass = float(inside.sum())
        if best is None or mass > best[0]:
            best = (mass, face)
    if best is None:
        return None
    map_height, map_width = heatmap.shape
    scale_x, scale_y = map_width / size[0], map_height / size[1]
    fx1, fy1, fx2, fy2 = best[1]
    return (
        int(np.floor(fx1 * scale_x)),
        int(np.floor(fy1 * scale_y)),
        min(int(np.ceil(fx2 * scale_x)), map_width),
        min(int(np.ceil(fy2 * scale_y)), map_height),
    )


def _grown(box: Box, growth: float, size: tuple[int, int]) -> Box:
    """`box` grown by `growth` of its width and height on each side, inside (w, h)."""
    x1, y1, x2, y2 = box
    dx, dy = growth * (x2 - x1), growth * (y2 - y1)
    return (
        max(int(x1 - dx), 0),
        max(int(y1 - dy), 0),
        min(int(np.ceil(x2 + dx)), size[0]),
        min(int(np.ceil(y2 + dy)), size[1]),
    )
