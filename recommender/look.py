"""A photo -> the fashion items in it, each with a box, a search vector and a predicted tagset.

The shopper's path in one object: detect (CAM) -> crop each item with a margin -> embed all
crops in one batch, reading the predicted tags off the same forward pass. When the shopper
drew a region, that region is the item: the detector only names its class.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from recommender.data.pairs import crop_box
from recommender.detection.boxes import Box, iou
from recommender.detection.detector import Detection, FashionDetector
from recommender.embed import ImageEmbedder
from recommender.tags import Tagset

logger = logging.getLogger(__name__)

DETECTED = "detected"
REGION = "region"


@dataclass(frozen=True)
class LookConfig:
    max_items: int = 6
    crop_margin: float = 0.05  # of the box size, each side: a little context helps the embedder
    min_box_side: int = 16  # pixels of the photo; smaller boxes are heatmap specks
    # Two classes lighting up the same area (a top that may be a dress) are one item to a
    # shopper: keep the more confident one.
    cross_class_iou: float = 0.8
    # A shopper's photo shows something to wear: localise the most probable classes even
    # when none passes the detector's presence threshold (see DetectorConfig.min_classes).
    min_classes: int = 2
    min_class_probability: float = 0.01


@dataclass(frozen=True)
class LookItem:
    """One item: class (None when unknown), score, box (x1, y1, x2, y2; x2/y2 exclusive)."""

    class_name: str | None
    score: float
    box: Box
    source: str  # DETECTED, or REGION when the shopper drew it
    vector: np.ndarray = field(repr=False)  # (D,) float32, unit L2 norm
    tags: Tagset = field(default_factory=dict)  # group -> (value, probability)


class LookAnalyzer:
    """Finds the items of a photo and embeds them; both models stay loaded between photos."""

    def __init__(
        self,
        detector: FashionDetector,
        embedder: ImageEmbedder,
        config: LookConfig | None = None,
    ) -> None:
        self.config = config or LookConfig()
        self.detector = detector.with_config(
            min_classes=self.config.min_classes,
            min_class_probability=self.config.min_class_probability,
        )
        self.embedder = embedder

    def analyse(
        self,
        image: Image.Image,
        *,
        region: Box | None = None,
        tags_by_class: Mapping[str, Mapping[str, Collection[str]]] | None = None,
    ) -> list[LookItem]:
        """Items best first; an empty list when no fashion item is found.

        ``tags_by_class`` (fashion class -> tag group -> values, e.g. footwear -> the
        article types of shoes) keeps each item's predicted tags within its detected
        class, so a box the detector calls shoes is not searched among shirts.
        """
        if region is not None:
            region = clip_region(region, image.width, image.height)
            boxes = [self._region_item(image, region)]
        else:
            boxes = self._detected_items(self.detector.detect(image))
        if not boxes:
            return []
        crops = [
            crop_box(image, searched, margin=self.config.crop_margin) for *_, searched in boxes
        ]
        allowed = [(tags_by_class or {}).get(class_name or "") for class_name, *_ in boxes]
        vectors, tagsets = self.embedder.embed_with_tags(crops, allowed)  # (N, D), N tagsets
        return [
            LookItem(class_name, score, box, source, vector, tags)
            for (class_name, score, box, source, _), vector, tags in zip(
                boxes, vectors, tagsets, strict=True
            )
        ]

    def _region_item(self, image: Image.Image, region: Box) -> tuple:
        detections = self.detector.detect(image, region=region)
        best = detections[0] if detections else None
        if best is None:
            return (None, 0.0, region, REGION, region)
        return (best.class_name, best.score, region, REGION, region)

    def _detected_items(self, detections: Sequence[Detection]) -> list[tuple]:
        kept: list[Detection] = []
        for detection in detections:  # best first
            x1, y1, x2, y2 = detection.box
            if min(x2 - x1, y2 - y1) < self.config.min_box_side:
                continue
            if any(iou(detection.box, other.box) >= self.config.cross_class_iou for other in kept):
                continue
            kept.append(detection)
            if len(kept) == self.config.max_items:
                break
        # Each item: class, score, the box shown, where it came from, the region searched.
        return [(d.class_name, d.score, d.box, DETECTED, d.query_box) for d in kept]


def clip_region(region: Box, width: int, height: int) -> Box:
    """The part of `region` inside the photo; ValueError when nothing of it is."""
    x1, y1, x2, y2 = region
    clipped = (max(0, x1), max(0, y1), min(width, x2), min(height, y2))
    if clipped[2] - clipped[0] < 1 or clipped[3] - clipped[1] < 1:
        raise ValueError(f"region {region} lies outside the {width}x{height} photo")
    return clipped
