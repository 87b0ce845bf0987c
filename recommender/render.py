"""Heatmap overlay of a photo with its detections, as PNG bytes (for demos and debugging)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from recommender.detection.detector import Detection

_BOX_COLOUR = (255, 255, 255)  # BGR
_TEXT_BACKGROUND = (0, 0, 0)


def render_detections(
    image: Image.Image,
    detections: Sequence[Detection],
    *,
    heatmap: np.ndarray | None = None,
    alpha: float = 0.45,
) -> bytes:
    """PNG of `image` blended with a JET heatmap, with a labelled box per detection.

    `heatmap` (H, W) in [0, 1] defaults to the per-pixel max of the detections' heatmaps
    (detect with `return_heatmaps=True`); without any, only boxes are drawn.
    """
    canvas = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)  # (H, W, 3)
    combined = heatmap if heatmap is not None else _combined_heatmap(detections, canvas.shape[:2])
    if combined is not None:
        scaled = np.clip(combined, 0.0, 1.0)
        scaled = cv2.resize(scaled.astype(np.float32), (canvas.shape[1], canvas.shape[0]))
        colours = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET)
        canvas = cv2.addWeighted(colours, alpha, canvas, 1.0 - alpha, 0.0)
    for detection in detections:
        _draw_box(canvas, detection)
    ok, encoded = cv2.imencode(".png", canvas)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()


def _combined_heatmap(detections: Sequence[Detection], shape: tuple[int, int]) -> np.ndarray | None:
    maps = [d.heatmap for d in detections if d.heatmap is not None and d.heatmap.shape == shape]
    return np.max(np.stack(maps), axis=0) if maps else None


def _draw_box(canvas: np.ndarray, detection: Detection) -> None:
    x1, y1, x2, y2 = detection.box
    cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), _BOX_COLOUR, 2)
    label = f"{detection.class_name} {detection.score:.2f}"
    (width, height), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    top = max(y1 - height - baseline - 2, 0)
    cv2.rectangle(
        canvas, (x1, top), (x1 + width + 4, top + height + baseline + 2), _TEXT_BACKGROUND, -1
    )
    cv2.putText(
        canvas, label, (x1 + 2, top + height + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _BOX_COLOUR, 1
    )
