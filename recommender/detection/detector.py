"""CAM fashion detector: class activation maps -> thresholded regions -> scored boxes.

One forward pass over the whole photo gives image-level class probabilities (which classes
are present) and coarse maps; a batch of sliding windows, cropped from the original photo
and enlarged, adds finer evidence for small items (shoes, sunglasses). The positive
activations of all passes are averaged per pixel over the passes that cover it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F
from torchvision.transforms import functional as TF

from recommender.detection import faces, refine
from recommender.detection.boxes import (
    Box,
    ScoredBox,
    accumulate_windows,
    box_area,
    heatmap_boxes,
    largest_contour_box,
    merge_boxes,
    resize_box,
    scale_box,
    sliding_windows,
    union_box,
    zoom_window,
)
from recommender.detection.faces import HEAD_CLASS, FaceAnchor, FaceBand, find_face
from recommender.detection.int8 import Int8GraphError, QuantizedGraph
from recommender.detection.refine import GrabCutSetting, grabcut_box
from recommender.devices import native_bfloat16, resolve_device, resolve_precision
from recommender.models.backbones import Backbone
from recommender.models.cam import CamHead
from recommender.models.fuse import fuse_batchnorm
from recommender.runtimes import OpenVinoModel, module_key, resolve_runtime

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Detection:
    """One detected item: class, score, box in original pixels (x2/y2 exclusive), and the
    region to crop for search when it is not the box (`search_box`, see `query_box`)."""

    class_name: str
    score: float
    box: tuple[int, int, int, int]
    heatmap: np.ndarray | None = field(default=None, repr=False)  # (H, W) float32 in [0, 1]
    # A GrabCut box follows the item's colour edges, which is what a shopper should see;
    # search does better on the union of that box and the map's (see `detections_from_maps`).
    search_box: tuple[int, int, int, int] | None = None

    @property
    def query_box(self) -> tuple[int, int, int, int]:
        """The region whose crop is searched for: `search_box`, else the box itself."""
        return self.box if self.search_box is None else self.search_box


@dataclass(frozen=True)
class DetectorConfig:
    """How maps become boxes. The thresholds are tuned on the street val split."""

    short_side: int = 448
    window_sizes: tuple[float, ...] = (0.6,)  # fractions of the photo's short side
    window_overlap: float = 0.35
    # How the windows of one size tile the photo (`boxes.sliding_windows`): "spread" evenly
    # from edge to edge, or "pushed" (checkpoints saved without this key), whose last
    # window is pushed back inside the photo, often a near-duplicate of the one before.
    window_layout: str = "spread"
    window_input_size: int = 288
    relative_threshold: float = 0.5  # of each class map's max
    # Per-class overrides of `relative_threshold`: a dress fills a large, even region of
    # its map, sunglasses a small peak, so one cut-off does not fit every class.
    class_thresholds: Mapping[str, float] = field(default_factory=dict)
    # Per-class (width, height) factors applied to each final box about its centre: the
    # region above a map's threshold can be off in one direction for a whole class (on the
    # val split: bag boxes too wide, trouser boxes too short). Tuned there like thresholds.
    class_box_scales: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    absolute_threshold: float = 0.0
    presence_threshold: float = 0.5
    # Localise at least this many of the most probable classes (each at least
    # `min_class_probability`) even below the presence threshold: a shopper's photo
    # always shows something to wear, and zero-shot probabilities are small.
    min_classes: int = 0
    min_class_probability: float = 0.0
    # A closer look: a window around each class's first box (`zoom_scale` x its long side,
    # at least `zoom_min_side` of the short side) is run again at `window_input_size`, and
    # its map is averaged with the photo's inside the window. Off in older checkpoints.
    zoom: bool = False
    zoom_scale: float = 2.0
    zoom_min_side: float = 0.25
    # Where each class's closer look goes: its first box at these relative thresholds and
    # this box rule (empty / None: the class's own box threshold and rule). Training fixes
    # them before tuning the final thresholds on zoomed maps, so that the maps it tunes on
    # are the maps inference computes.
    zoom_thresholds: Mapping[str, float] = field(default_factory=dict)
    zoom_box_rule: str | None = None
    box_rule: str = "mass"  # "mass": regions ranked by activation mass; "largest": one box
    # Per-class GrabCut seeds (background, probable, certain: fractions of the map's peak):
    # the class's first box is cut out of the photo along its colour edges
    # (`detection.refine`) instead of drawn around the map's region; its class's box
    # factors do not apply. Tuned like the thresholds; empty in older checkpoints.
    class_grabcut: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)
    # The cut's resolution and iterations: 128 px and 2 iterations took a street photo's
    # detection from 262 to 313 ms (2 threads, four classes cut) against 375 ms at 160 px
    # and 3, for held-out CorLoc 0.524 against 0.530 (the same four classes cut). One
    # iteration (the default since 2026-12-07; checkpoints keep the number they were tuned
    # with) takes the four cuts about 0.74 of the time for the same CorLoc, its seeds
    # tuned at one: held-out 0.575 against 0.567, train+val 0.570 against 0.576.
    grabcut_short_side: int = refine.SHORT_SIDE
    grabcut_iterations: int = refine.ITERATIONS
    # A cut box smaller than this share of the map's box is a collapse onto a colour island
    # (a print, a stripe, a shadow) and the map's box stands (`refine.MIN_AREA_SHARE`).
    grabcut_min_area: float = refine.MIN_AREA_SHARE
    # Per-class face bands (inset, top, bottom: fractions of the face box): the class's
    # first box is that band of the face its map points at (`detection.faces`), found by
    # OpenCV's face cascade around the map's peak; without such a face the box stays the
    # map's (or the cut's). Sunglasses: their map is a blob around the head. Tuned like the
    # GrabCut seeds; empty in older checkpoints.
    class_face_band: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)
    # Per-class face anchors (`faces.FaceAnchor`: weights, width, top, bottom): the class's
    # first box (the map's, the cut's) is pulled toward where the class sits relative to
    # the face that the `faces.HEAD_CLASS` map points at; without such a face it stays.
    # Tuned on the street photos like the bands; empty in older checkpoints.
    class_face_anchor: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    # Boxes per class: its map's regions after the first are mostly a second look at the
    # same item or at its context. On the 646 train+val street photos, one box a class
    # found 0.559 of the items with precision 0.524 (6.2 boxes a photo), three 0.574 at
    # 0.289 (11.8), crowding a look's six places with second boxes of one class.
    max_boxes_per_class: int = 1
    iou_threshold: float = 0.5
    containment_threshold: float = 0.9

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["class_thresholds"] = dict(self.class_thresholds)
        values["zoom_thresholds"] = dict(self.zoom_thresholds)
        for key in ("class_box_scales", "class_grabcut", "class_face_band", "class_face_anchor"):
            values[key] = {name: list(numbers) for name, numbers in getattr(self, key).items()}
        return values

    def threshold_for(self, class_name: str) -> float:
        """The relative threshold of one class's map."""
        return self.class_thresholds.get(class_name, self.relative_threshold)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DetectorConfig:
        known = {key: value for key, value in values.items() if key in cls.__dataclass_fields__}
        known.setdefault("window_layout", "pushed")  # saved before layouts were named
        if "window_sizes" in known:
            known["window_sizes"] = tuple(known["window_sizes"])
        for key in ("class_thresholds", "zoom_thresholds"):
            if key in known:
                known[key] = {str(name): float(value) for name, value in known[key].items()}
        if "class_box_scales" in known:
            known["class_box_scales"] = {
                str(name): (float(factors[0]), float(factors[1]))
                for name, factors in known["class_box_scales"].items()
            }
        if "class_grabcut" in known:
            known["class_grabcut"] = {
                str(name): GrabCutSetting.from_values(seeds).as_tuple()
                for name, seeds in known["class_grabcut"].items()
            }
        if "class_face_band" in known:
            known["class_face_band"] = {
                str(name): FaceBand.from_values(band).as_tuple()
                for name, band in known["class_face_band"].items()
            }
        if "class_face_anchor" in known:
            known["class_face_anchor"] = {
                str(name): FaceAnchor.from_values(anchor).as_tuple()
                for name, anchor in known["class_face_anchor"].items()
            }
        return cls(**known)


# The zero-shot baseline of BASELINES.md: one whole-photo pass, 50% of max, largest contour.
BASELINE_CONFIG = DetectorConfig(
    window_sizes=(), box_rule="largest", max_boxes_per_class=1, presence_threshold=0.05
)


class FashionDetector:
    """Finds fashion items in a photo with a backbone and a CAM head."""

    def __init__(
        self,
        backbone: Backbone,
        head: CamHead,
        config: DetectorConfig | None = None,
        *,
        fold_batchnorm: bool = True,
        device: str | torch.device = "cpu",
        precision: str = "float32",
        runtime: str = "torch",
        openvino_cache_dir: Path | str | None = None,
        quantized_graph: QuantizedGraph | None = None,
    ) -> None:
        self.backbone = backbone.eval().to(memory_format=torch.channels_last)
        # BN folded into the convs: the same maps, less time (BN was 186 of 759 ms/photo).
        # `self.backbone` stays unfused so it can be shared with (or trained by) others;
        # `fold_batchnorm=False` keeps the plain network (the latency benchmark's baseline).
        self.device = resolve_device(device)
        # The same network compiled by OpenVINO (`recommender.runtimes`): the same boxes in
        # about 0.95 of PyTorch's float32 time on a 2-core CPU, the same CorLoc in 0.90-0.98
        # of its bfloat16 time; "torch" keeps PyTorch, which training and tuning use.
        self.runtime = resolve_runtime(runtime, self.device)
        # bfloat16 runs the backbone under autocast (maps and boxes stay float32): on a CPU
        # with AVX-512 BF16 a photo took two thirds of the float32 time (`resolve_precision`).
        # int8 runs the 8-bit graph `recommender.quantize` made (`quantized_graph`); "auto"
        # picks it on CPUs without native bfloat16 (recommender/README.md, **Performance
        # notes**: held-out CorLoc 0.598 against float32's 0.575, 1.12-1.17 times faster
        # on an AVX2 CPU).
        if (
            precision == "auto"
            and quantized_graph is not None
            and self.runtime == "openvino"
            and not native_bfloat16(self.device)
        ):
            precision = "int8"
        self.precision = resolve_precision(precision, self.device)
        self._inference_backbone = (
            fuse_batchnorm(self.backbone) if fold_batchnorm else self.backbone
        ).to(self.device)
        graph = self._graph_for_int8(quantized_graph) if self.precision == torch.int8 else None
        self._compiled_features = (
            OpenVinoModel(
                self._inference_backbone,
                method="forward_features",
                precision=self.precision,
                cache_dir=openvino_cache_dir,
                graph=graph,
            )
            if self.runtime == "openvino"
            else None
        )
        if self._compiled_features is not None:
            self.precision = self._compiled_features.precision  # what the CPU computes
        # PyTorch's CPU kernels run faster on channels_last inputs; OpenVINO reads plain
        # (B, 3, H, W) arrays, so a channels_last batch would only be copied back.
        self._input_format = (
            torch.contiguous_format if self._compiled_features is not None else torch.channels_last
        )
        self.head = head.eval().to(self.device)
        self._recorded: list[torch.Tensor] | None = None  # `recording_inputs`
        self.config = config or DetectorConfig()
        self.class_names = head.class_names
        transform = backbone.transforms()  # the weights' normalisation (or ImageNet's)
        self._mean = list(transform.mean)
        self._std = list(transform.std)
        self._interpolation = transform.interpolation

    def _graph_for_int8(self, quantized: QuantizedGraph | None) -> Path:
        """The 8-bit graph's file, once it is known to fit: made from this very network."""
        if quantized is None:
            raise Int8GraphError(
                "int8 runs a trained detector's 8-bit graph, and this detector has none: "
                "make it with python -m recommender.quantize --checkpoint CHECKPOINT "
                "--data-dir DIR, or use float32"
            )
        if self.runtime != "openvino":
            raise Int8GraphError("int8 runs on the openvino runtime, not on torch")
        if module_key(self._inference_backbone, "forward_features") != quantized.module_key:
            raise Int8GraphError(
                f"the 8-bit graph {quantized.xml} was made from another network than this "
                "detector's (other weights or layers); run python -m recommender.quantize again"
            )
        return quantized.xml

    def with_config(self, **changes: Any) -> FashionDetector:
        """The same networks with some config values changed (for threshold tuning)."""
        changed = copy.copy(self)  # shares the networks: no second BN fold
        changed.config = replace(self.config, **changes)
        return changed

    def detect(
        self,
        image: Image.Image,
        *,
        region: Box | None = None,
        classes: Sequence[str] | None = None,
        return_heatmaps: bool = False,
    ) -> list[Detection]:
        """Detect items, best first. `region` limits the search to a box of the photo;
        `classes` localises those classes whether or not they look present (GT-known)."""
        offset = (0, 0)
        if region is not None:
            image, offset = image.crop(region), (region[0], region[1])
        guides = (HEAD_CLASS,) if self.config.class_face_anchor else ()
        maps, guide_maps = self._maps(image, classes, guides)
        refined = (
            self.config.class_grabcut
            or self.config.class_face_band
            or self.config.class_face_anchor
        )
        photo = self.photo_pixels(image) if refined else None  # (h, w, 3) RGB
        head = {**guide_maps, **maps}.get(HEAD_CLASS)
        return self.detections_from_maps(
            maps,
            image.size,
            offset=offset,
            return_heatmaps=return_heatmaps,
            photo=photo,
            head_map=None if head is None else head[1],
        )

    def photo_pixels(self, image: Image.Image) -> np.ndarray:
        """The photo (h, w, 3 uint8 RGB) that GrabCut and the face search refine boxes on:
        its short side at most the larger of their working sizes (each resizes it to its
        own). Tuning and evaluation keep this copy of each photo, so they see the pixels
        inference sees, and a few hundred photos fit in memory."""
        short_side = max(self.config.grabcut_short_side, faces.SHORT_SIDE)
        scale = min(short_side / min(image.size), 1.0)
        if scale == 1.0:
            return np.asarray(image)
        size = (max(round(image.width * scale), 1), max(round(image.height * scale), 1))
        return np.asarray(image.resize(size, Image.Resampling.BOX))

    def detections_from_maps(
        self,
        maps: dict[str, tuple[float, np.ndarray]],
        image_size: tuple[int, int],
        *,
        offset: tuple[int, int] = (0, 0),
        return_heatmaps: bool = False,
        photo: np.ndarray | None = None,
        head_map: np.ndarray | None = None,
    ) -> list[Detection]:
        """Boxes from `class_maps()` output, best first (cheap: lets thresholds be tuned).

        `photo` (h, w, 3 uint8 RGB, any size) lets the classes of `class_grabcut` cut their
        first box out of it and those of `class_face_band` take a band of a face in it;
        without it every box comes from the maps alone. The classes of `class_face_anchor`
        move their first box by the face that `head_map` (the `HEAD_CLASS` map, default:
        the one in `maps`) points at in `photo`."""
        detections = []
        cuts = self._grabcuts(maps, photo)
        faces_of = _FaceSearch(photo)  # the sunglasses band and the anchors share the head map
        bands = self._face_bands(maps, faces_of)
        face = self._anchor_face(maps, faces_of, head_map, image_size, offset)
        for class_name, (probability, heatmap) in maps.items():
            normalised = _normalise(heatmap, image_size) if return_heatmaps else None
            factors = self.config.class_box_scales.get(class_name, (1.0, 1.0))
            for rank, scored in enumerate(self.map_boxes(heatmap, class_name)):
                box = photo_box(scored.box, factors, heatmap.shape, image_size, offset)
                search = None
                cut = cuts.get(class_name) if rank == 0 else None
                if cut is not None:
                    cut_box = photo_box(cut, (1.0, 1.0), heatmap.shape, image_size, offset)
                    if box_area(cut_box) >= self.config.grabcut_min_area * box_area(box):
                        # The cut is the item's extent as shown; search crops the union
                        # with the map's box: a cut that stops at a fold or a print edge
                        # loses part of the garment (held-out pairs, tops: R@1 / R@5 /
                        # R@20 0.441 / 0.746 / 0.901 with cut crops, 0.473 / 0.784 /
                        # 0.922 with the union).
                        box, search = cut_box, union_box(box, cut_box)
                band = bands.get(class_name) if rank == 0 else None
                if band is not None:
                    box = photo_box(band, (1.0, 1.0), heatmap.shape, image_size, offset)
                    search = None
                anchor = self.config.class_face_anchor.get(class_name) if rank == 0 else None
                if anchor is not None and face is not None:
                    box = anchored_box(box, face, FaceAnchor(*anchor), image_size, offset)
                detections.append(
                    Detection(class_name, probability * scored.score, box, normalised, search)
                )
        return sorted(detections, key=lambda detection: detection.score, reverse=True)

    def class_maps(
        self, image: Image.Image, *, classes: Sequence[str] | None = None
    ) -> dict[str, tuple[float, np.ndarray]]:
        """Class -> (presence probability, coverage-normalised map at the working size)."""
        return self._maps(image, classes)[0]

    @torch.inference_mode()
    def _maps(
        self, image: Image.Image, classes: Sequence[str] | None, guides: Sequence[str] = ()
    ) -> tuple[dict[str, tuple[float, np.ndarray]], dict[str, tuple[float, np.ndarray]]]:
        """`class_maps`, and apart the maps of the `guides` classes not selected with them
        (computed in the same passes: a guide only steers other classes' boxes)."""
        if image.mode != "RGB":
            raise ValueError(f"expected an RGB image, got mode {image.mode!r}; use load_image()")
        full = self._full_tensor(image).to(self.device)  # (1, 3, H, W)
        features = self._features(full)  # (1, C, h, w)
        pooled = self._inference_backbone.pool(features)  # (1, C)
        probabilities = self.head.probabilities(pooled)[0]  # (K,)
        selected = self._select_classes(probabilities, classes)
        if not selected:
            return {}, {}
        chosen = len(selected)
        indexes = (self.class_names.index(name) for name in guides if name in self.class_names)
        selected += [index for index in indexes if index not in selected]
        height, width = full.shape[2], full.shape[3]
        cams = self.head.cams(features)[0, selected]  # (k, h, w)
        total = F.interpolate(cams[None].clamp_min(0), size=(height, width), mode="bilinear")[0]
        coverage = torch.ones((height, width), device=self.device)  # (H, W)
        windows = sliding_windows(
            image.width,
            image.height,
            self.config.window_sizes,
            self.config.window_overlap,
            self.config.window_layout,
        )
        if windows:
            window_total, window_coverage = self._window_maps(image, windows, selected, full.shape)
            total, coverage = total + window_total, coverage + window_coverage
        averaged = (total / coverage).cpu().numpy()  # (k, H, W)
        if self.config.zoom:
            self._zoom(image, averaged, selected)
        maps = {
            self.class_names[index]: (float(probabilities[index]), averaged[position])
            for position, index in enumerate(selected)
        }
        names = [self.class_names[index] for index in selected]
        return {name: maps[name] for name in names[:chosen]}, {
            name: maps[name] for name in names[chosen:]
        }

    def _select_classes(
        self, probabilities: torch.Tensor, classes: Sequence[str] | None
    ) -> list[int]:
        if classes is not None:
            return [self.class_names.index(name) for name in classes]
        present = probabilities >= self.config.presence_threshold  # (K,)
        selected = [int(index) for index in torch.nonzero(present).flatten()]
        if len(selected) < self.config.min_classes:
            ranked = torch.argsort(probabilities, descending=True)[: self.config.min_classes]
            extra = [
                int(index)
                for index in ranked
                if probabilities[index] >= self.config.min_class_probability
                and int(index) not in selected
            ]
            selected += extra[: self.config.min_classes - len(selected)]
        return selected

    @property
    def precision_name(self) -> str:
        """The compute dtype as reports write it: "float32", "bfloat16" or "int8"."""
        return str(self.precision).removeprefix("torch.")

    @property
    def feature_network(self) -> nn.Module:
        """The network whose `forward_features` computes the maps (BN folded where asked):
        what an 8-bit graph is made from (`recommender.quantize`)."""
        return self._inference_backbone

    @contextlib.contextmanager
    def recording_inputs(self) -> Iterator[list[torch.Tensor]]:
        """While active, each batch given to the network (the whole photo, the windows, the
        closer looks) is appended to the list yielded: the inputs a detection really
        computes, on which `recommender.quantize` calibrates. Not for concurrent use."""
        recorded: list[torch.Tensor] = []
        self._recorded = recorded
        try:
            yield recorded
        finally:
            self._recorded = None

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        """The backbone's last feature maps (B, C, h, w) in float32, computed in `precision`."""
        if self._recorded is not None:
            self._recorded.append(batch.detach().to("cpu", torch.float32, copy=True))
        if self._compiled_features is not None:
            return self._compiled_features(batch)
        low = self.precision != torch.float32
        with torch.autocast(self.device.type, dtype=self.precision, enabled=low):
            return self._inference_backbone.forward_features(batch).float()

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """The whole-photo input: short side resized to `config.short_side`, normalised."""
        return self._full_tensor(image)  # (1, 3, H, W)

    def _full_tensor(self, image: Image.Image) -> torch.Tensor:
        scale = self.config.short_side / min(image.size)
        size = [max(round(image.height * scale), 32), max(round(image.width * scale), 32)]
        return self._to_tensor(image, size)[None].contiguous(memory_format=self._input_format)

    def _to_tensor(self, image: Image.Image, size: list[int]) -> torch.Tensor:
        return self._normalised(TF.pil_to_tensor(self._resized(image, size)))  # (3, h, w)

    def _resized(self, image: Image.Image, size: list[int]) -> Image.Image:
        return TF.resize(image, size, interpolation=self._interpolation, antialias=True)

    def _normalised(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 pixels (..., 3, h, w) -> the network's float32 input."""
        tensor = TF.convert_image_dtype(pixels, torch.float32)
        return TF.normalize(tensor, mean=self._mean, std=self._std)

    def _crop_tensors(self, image: Image.Image, boxes: Sequence[Box]) -> torch.Tensor:
        """The `boxes` of `image`, each resized to the windows' input size and normalised
        (N, 3, S, S), the same values as `_to_tensor` gives each crop. The crops are resized
        in threads, as many as torch's: PIL releases the GIL while it resamples, and the
        network is idle then."""
        side = [self.config.window_input_size] * 2

        def resized(box: Box) -> torch.Tensor:
            return TF.pil_to_tensor(self._resized(image.crop(box), side))  # (3, S, S) uint8

        image.load()  # decoded once, before any thread reads it
        return self._normalised(torch.stack(_map_in_threads(resized, boxes)))  # (N, 3, S, S)

    def _window_maps(
        self, image: Image.Image, windows: list[Box], selected: list[int], full_shape: torch.Size
    ) -> tuple[torch.Tensor, torch.Tensor]:
        crops = self._crop_tensors(image, windows)
        crops = crops.to(self.device, memory_format=self._input_format)  # (W, 3, S, S)
        features = self._features(crops)  # (W, C, s, s)
        window_cams = self.head.cams(features)[:, selected]  # (W, k, s, s)
        height, width = full_shape[2], full_shape[3]
        scale_x, scale_y = width / image.width, height / image.height
        scaled = [_clip(scale_box(box, scale_x, scale_y), width, height) for box in windows]
        return accumulate_windows(window_cams, scaled, height, width)  # (k, H, W), (H, W)

    def _zoom(self, image: Image.Image, maps: np.ndarray, selected: list[int]) -> None:
        """Average each class's map (k, H, W), in place, with a closer look around its
        first box: one batched forward over the windows of all classes that have a box."""
        height, width = maps.shape[1:]
        scale_x, scale_y = image.width / width, image.height / height
        placer = self.with_config(
            class_thresholds={**self.config.class_thresholds, **self.config.zoom_thresholds},
            box_rule=self.config.zoom_box_rule or self.config.box_rule,
        )
        windows: dict[int, Box] = {}  # position in `selected` -> window in photo pixels
        for position, index in enumerate(selected):
            boxes = placer.map_boxes(maps[position], self.class_names[index])
            if boxes:
                box = scale_box(boxes[0].box, scale_x, scale_y)
                windows[position] = zoom_window(
                    _clip(box, image.width, image.height),
                    image.width,
                    image.height,
                    scale=self.config.zoom_scale,
                    min_side=self.config.zoom_min_side,
                )
        if not windows:
            return
        crops = self._crop_tensors(image, list(windows.values())).to(
            self.device, memory_format=self._input_format
        )  # (Z, 3, S, S)
        features = self._features(crops)  # (Z, C, s, s)
        cams = self.head.cams(features)  # (Z, K, s, s)
        for cam, (position, box) in zip(cams, windows.items(), strict=True):
            x1, y1, x2, y2 = _clip(scale_box(box, 1 / scale_x, 1 / scale_y), width, height)
            if x2 <= x1 or y2 <= y1:
                continue
            closer = (
                F.interpolate(
                    cam[selected[position]][None, None].clamp_min(0),
                    size=(y2 - y1, x2 - x1),
                    mode="bilinear",
                )[0, 0]
                .cpu()
                .numpy()
            )  # (y2 - y1, x2 - x1)
            maps[position, y1:y2, x1:x2] = (maps[position, y1:y2, x1:x2] + closer) / 2

    def _grabcuts(
        self, maps: dict[str, tuple[float, np.ndarray]], photo: np.ndarray | None
    ) -> dict[str, Box | None]:
        """Class -> its first box cut out of `photo` by GrabCut, in map pixels (None: the
        cut found nothing), for the classes of `class_grabcut` among `maps`. The cuts run
        in threads (OpenCV releases the GIL), as many as torch's: the network is idle then."""
        names = [name for name in maps if name in self.config.class_grabcut]
        if photo is None or not names:
            return {}
        cuts = _map_in_threads(lambda name: self._grabcut(photo, maps[name][1], name), names)
        return dict(zip(names, cuts, strict=True))

    def _face_bands(
        self, maps: dict[str, tuple[float, np.ndarray]], faces_of: _FaceSearch
    ) -> dict[str, Box]:
        """Class -> its first box as the tuned band of the face its map points at, in map
        pixels, for the classes of `class_face_band` among `maps` whose face is found."""
        if faces_of.photo is None:
            return {}
        bands = {}
        for name, values in self.config.class_face_band.items():
            if name not in maps:
                continue
            heatmap = maps[name][1]
            band = band_in_map(faces_of(heatmap), FaceBand(*values), heatmap.shape)
            if band is not None:
                bands[name] = band
        return bands

    def _anchor_face(
        self,
        maps: dict[str, tuple[float, np.ndarray]],
        faces_of: _FaceSearch,
        head_map: np.ndarray | None,
        image_size: tuple[int, int],
        offset: tuple[int, int],
    ) -> Box | None:
        """The face the head map points at, in photo pixels, when a class of `maps` is
        anchored to it (`class_face_anchor`); else None."""
        if faces_of.photo is None or not any(
            name in self.config.class_face_anchor for name in maps
        ):
            return None
        if head_map is None and HEAD_CLASS in maps:
            head_map = maps[HEAD_CLASS][1]
        face = None if head_map is None else faces_of(head_map)
        if face is None:
            return None
        return photo_box(face, (1.0, 1.0), head_map.shape, image_size, offset)

    def _grabcut(self, photo: np.ndarray, heatmap: np.ndarray, class_name: str) -> Box | None:
        seeds = self.config.class_grabcut[class_name]
        return grabcut_box(
            photo,
            heatmap,
            GrabCutSetting(*seeds),
            short_side=self.config.grabcut_short_side,
            iterations=self.config.grabcut_iterations,
        )

    def map_boxes(self, heatmap: np.ndarray, class_name: str) -> list[ScoredBox]:
        """Scored boxes of one class's map (H, W), in map pixels, best first: regions at or
        above the class's threshold, merged (before `class_box_scales`)."""
        peak = float(heatmap.max())
        if peak <= 0:
            return []
        relative = self.config.threshold_for(class_name)
        threshold = max(relative * peak, self.config.absolute_threshold)
        if self.config.box_rule == "largest":
            box = largest_contour_box(heatmap, threshold)
            return [] if box is None else [ScoredBox(box, 1.0)]
        merged = merge_boxes(
            heatmap_boxes(heatmap, threshold),
            iou_threshold=self.config.iou_threshold,
            containment_threshold=self.config.containment_threshold,
        )
        return merged[: self.config.max_boxes_per_class]


def photo_box(
    map_box: Box,
    factors: tuple[float, float],
    map_shape: tuple[int, ...],
    image_size: tuple[int, int],
    offset: tuple[int, int] = (0, 0),
) -> Box:
    """A box in map pixels, resized by its class's (width, height) factors inside the map,
    in photo pixels (shifted by `offset`, clipped to the photo)."""
    width, height = image_size
    scale_x, scale_y = width / map_shape[1], height / map_shape[0]
    resized = _clip(resize_box(map_box, *factors), map_shape[1], map_shape[0])
    return _clip(
        scale_box(resized, scale_x, scale_y, offset), width + offset[0], height + offset[1]
    )


def anchored_box(
    box: Box,
    face: Box,
    anchor: FaceAnchor,
    image_size: tuple[int, int],
    offset: tuple[int, int] = (0, 0),
) -> Box:
    """`box` moved by `anchor` toward the prior of `face` (photo pixels), inside the photo;
    `box` itself when that leaves nothing."""
    width, height = image_size
    moved = _clip(anchor.apply(box, face), width + offset[0], height + offset[1])
    moved = (max(moved[0], offset[0]), max(moved[1], offset[1]), moved[2], moved[3])
    return moved if box_area(moved) > 0 else box


class _FaceSearch:
    """`find_face` on one photo, once per map: a photo's sunglasses band and its anchors
    search around the same head map (about 8 ms a search on 2 cores)."""

    def __init__(self, photo: np.ndarray | None) -> None:
        self.photo = photo
        self._found: dict[int, tuple[np.ndarray, Box | None]] = {}

    def __call__(self, heatmap: np.ndarray) -> Box | None:
        if self.photo is None:
            return None
        known = self._found.get(id(heatmap))
        if known is None or known[0] is not heatmap:  # the map is kept: its id stays its own
            known = (heatmap, find_face(self.photo, heatmap))
            self._found[id(heatmap)] = known
        return known[1]


def band_in_map(face: Box | None, band: FaceBand, map_shape: tuple[int, ...]) -> Box | None:
    """`band` of `face` (map pixels), clipped to the map; None when nothing of it is left."""
    if face is None:
        return None
    boxed = _clip(band.box(face), map_shape[1], map_shape[0])
    return boxed if box_area(boxed) > 0 else None


def _map_in_threads(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`function` of each item, in order, computed in threads, as many as torch's (one
    item, or one thread: in this thread). For work that releases the GIL (OpenCV, PIL's
    resampling) while the network is idle."""
    workers = min(len(items), max(torch.get_num_threads(), 1))
    if workers < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


def _clip(box: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    return (max(x1, 0), max(y1, 0), min(x2, width), min(y2, height))


def _normalise(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    resized = cv2.resize(heatmap.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    peak = float(resized.max())
    return resized / peak if peak > 0 else resized
