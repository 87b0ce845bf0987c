"""Full-pipeline exact-match retrieval: person photo -> detect -> crop the top -> embed.

    python -m recommender.evaluate.pipeline --data-dir ../shared/data \\
        --embedder var/models/embedder-quick/embedder.pt [--detector /tmp/det_quick/detector.pt] \\
        --out var/models/eval-pipeline [--limit 300] [--localise top]

Queries are the person photos of the held-out pairs (`pair_split`, the split the embedder
was evaluated on), gallery = their shop photos + the whole catalog, embedded once through
`recommender.evaluate.retrieval`'s feature cache. Three query conditions are ranked the
same way: the detected crop (full pipeline), the ground-truth top crop (reference, the
retrieval CLI's condition) and the whole photo. The detector is also scored on its own:
share of photos whose searched region has IoU >= 0.5 with the pair's ground-truth top box
(the chosen detection's `query_box`: its box, or for a GrabCut box its union with the
map's box).

Box rule (`choose_top_detection`): the highest-scoring "top"; if no top was detected, the
highest-scoring "dress" or "outerwear" (VITON's top box is the union of upper clothes, dress
and coat); if none of these, the whole photo is the query (a counted fallback, an IoU miss).
The searched region is grown by `CROP_MARGIN` of its size on each side before cropping.
`--localise top` localises tops even where the detector does not find one present (the
user says what to look for), so only a photo without any activation falls back.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from recommender.data.catalog import read_catalog
from recommender.data.pairs import Pair, crop_box, pairs_in_split, read_pairs
from recommender.detect import (
    Detection,
    FashionDetector,
    Int8GraphError,
    detector_from_checkpoint,
    iou,
    zero_shot_detector,
)
from recommender.devices import PRECISIONS, resolve_device
from recommender.embed import ImageEmbedder
from recommender.evaluate.retrieval import (
    CURVE_KS,
    FeatureRunner,
    exact_match_gallery_refs,
    exact_match_recall,
    load_models,
    plot_recall_curves,
    same_value_mask,
)
from recommender.images import load_image
from recommender.runtimes import RUNTIMES

logger = logging.getLogger(__name__)

PRIMARY_CLASSES = ("top",)
SECONDARY_CLASSES = ("dress", "outerwear")
CROP_MARGIN = 0.05
IOU_HIT = 0.5
TARGETS = {"R@1": 0.25, "R@20": 0.60}
# The shop searches among products of the crop's predicted sub-category by default
# (LOOK_SEARCH_TAG_KINDS); gallery rows take their predicted value too (shop photos of
# pairs/ carry no catalog tags).
FILTER_GROUP = "subCategory"
CONDITIONS = ("full pipeline", "ground-truth crop", "whole photo")

Embed = Callable[[Sequence[Image.Image]], np.ndarray]


@dataclass(frozen=True)
class QueryCrop:
    """The region a query was cropped to (None: the whole photo, a fallback), its class."""

    box: tuple[int, int, int, int] | None
    class_name: str | None


def choose_top_detection(detections: Sequence[Detection]) -> Detection | None:
    """The best "top", else the best dress/outerwear, else None (see the module docstring)."""
    for classes in (PRIMARY_CLASSES, SECONDARY_CLASSES):
        candidates = [detection for detection in detections if detection.class_name in classes]
        if candidates:
            return max(candidates, key=lambda detection: detection.score)
    return None


def detect_query_crops(
    detector: FashionDetector,
    photos: Sequence[Image.Image],
    *,
    classes: Sequence[str] | None = None,
    progress: bool = False,
) -> list[QueryCrop]:
    """One QueryCrop per photo: the chosen detection's `query_box`, or None for the whole
    photo.

    `classes` (e.g. ["top"], when the user says what to search for) are localised whether
    or not the detector finds them present; by default only present classes are.
    """
    crops = []
    for photo in tqdm(photos, desc="detect", disable=not progress, leave=False):
        chosen = choose_top_detection(detector.detect(photo, classes=classes))
        crops.append(
            QueryCrop(None, None)
            if chosen is None
            else QueryCrop(chosen.query_box, chosen.class_name)
        )
    return crops


def evaluate_pipeline(
    embed: Embed,
    detector: FashionDetector,
    pairs: Sequence[Pair],
    gallery_vectors: np.ndarray,
    *,
    margin: float = CROP_MARGIN,
    classes: Sequence[str] | None = None,
    ks: Sequence[int] = CURVE_KS,
    progress: bool = False,
    tag: Callable[[Sequence[Image.Image]], list[str]] | None = None,
    gallery_values: Sequence[str] | None = None,
    filter_name: str = "filter",
) -> dict:
    """Recall@k of the three query conditions and the detector's hit rate.

    Pair i's shop photo must be gallery row i (`exact_match_gallery_refs`). With `tag` (the
    predicted value of one tag group per query image) and `gallery_values` (the same group's
    value per gallery row), the crops are also ranked among the gallery rows of their
    predicted value only, as the shop's tagset search does.
    """
    photos = [load_image(pair.person_path) for pair in pairs]
    started = time.perf_counter()
    crops = detect_query_crops(detector, photos, classes=classes, progress=progress)
    detect_seconds = time.perf_counter() - started
    queries = {
        "full pipeline": [
            photo if crop.box is None else crop_box(photo, crop.box, margin=margin)
            for photo, crop in zip(photos, crops, strict=True)
        ],
        "ground-truth crop": [
            crop_box(photo, pair.box) for photo, pair in zip(photos, pairs, strict=True)
        ],
        "whole photo": photos,
    }
    targets = np.arange(len(pairs))
    recall = {
        name: exact_match_recall(embed, images, gallery_vectors, targets, ks=ks)
        for name, images in queries.items()
    }
    if tag is not None and gallery_values is not None:
        for name in ("full pipeline", "ground-truth crop"):
            allowed = same_value_mask(tag(queries[name]), gallery_values)  # (Q, G)
            recall[f"{name}, {filter_name}"] = exact_match_recall(
                embed, queries[name], gallery_vectors, targets, allowed=allowed, ks=ks
            )
    overlaps = [
        0.0 if crop.box is None else iou(crop.box, pair.box)
        for crop, pair in zip(crops, pairs, strict=True)
    ]
    fallbacks = sum(crop.box is None for crop in crops)
    detected = [overlap for crop, overlap in zip(crops, overlaps, strict=True) if crop.box]
    return {
        "evaluated_pairs": len(pairs),
        "gallery": len(gallery_vectors),
        "box_rule": "best top, else best dress/outerwear, else whole photo",
        "crop_margin": margin,
        "fallback_whole_photo": fallbacks,
        "fallback_rate": round(fallbacks / len(pairs), 4) if pairs else 0.0,
        "chosen_classes": dict(Counter(crop.class_name or "none" for crop in crops)),
        f"detector_iou{IOU_HIT}_hit_rate": _mean(np.array(overlaps) >= IOU_HIT),
        "detector_mean_iou": _mean(overlaps),
        f"detector_iou{IOU_HIT}_hit_rate_when_detected": _mean(np.array(detected) >= IOU_HIT),
        "forced_classes": list(classes) if classes else None,
        "detect_ms_per_photo": round(1000 * detect_seconds / max(len(pairs), 1), 1),
        "recall": recall,
    }


def _mean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return round(float(values.mean()), 4) if len(values) else 0.0


def evaluate(
    data_dir: Path,
    embedder_path: Path,
    detector_path: Path | None,
    cache_dir: Path,
    *,
    limit: int | None = None,
    classes: Sequence[str] | None = None,
    device: str = "cpu",
    precision: str = "float32",
    runtime: str = "torch",
) -> dict:
    """Held-out pairs (first `limit` in file order) through the pipeline, as one JSON dict."""
    # The detector first: a precision it cannot run is refused before the gallery's work.
    options = {"device": device, "precision": precision, "runtime": runtime}
    detector = (
        detector_from_checkpoint(detector_path, **options)
        if detector_path
        else zero_shot_detector(**options)
    )
    items = read_catalog(data_dir / "catalog")
    held_out = pairs_in_split(read_pairs(data_dir / "pairs"), "test")
    pairs = held_out[:limit] if limit is not None else held_out
    # The retrieval evaluation's gallery code and cache: the same vectors it ranked against.
    model = load_models(embedder_path)[-1]
    runner = FeatureRunner(cache_dir, resolve_device(device))
    # All held-out shop photos stay in the gallery under --limit; pair i is row i.
    gallery, gallery_scores = runner.vectors(model, exact_match_gallery_refs(held_out, items))
    embedder = ImageEmbedder.from_checkpoint(embedder_path, device=device, runtime=runtime)
    tag = gallery_values = None
    if gallery_scores is not None and FILTER_GROUP in model.vocabulary.group_names:
        decoded = model.vocabulary.decode(gallery_scores)
        gallery_values = [tags[FILTER_GROUP][0] for tags in decoded]

        def tag(images: Sequence[Image.Image]) -> list[str]:
            _, tagsets = embedder.embed_with_tags(images)
            return [tags[FILTER_GROUP][0] for tags in tagsets]

    results = {
        "embedder": embedder.model_name,
        "detector": str(detector_path) if detector_path else "zero-shot",
        "detector_config": detector.config.to_dict(),
        "detector_precision": detector.precision_name,
        "runtime": detector.runtime,
        "held_out_pairs": len(held_out),
        "limit": limit,
        "catalog_items": len(items),
    }
    results.update(
        evaluate_pipeline(
            embedder.embed,
            detector,
            pairs,
            gallery,
            classes=classes,
            progress=True,
            tag=tag,
            gallery_values=gallery_values,
            filter_name=f"filter {FILTER_GROUP}",
        )
    )
    pipeline = results["recall"]["full pipeline"]
    results["targets"] = {
        key: {"target": value, "value": pipeline[key], "met": pipeline[key] >= value}
        for key, value in TARGETS.items()
    }
    return results


def write_report(results: dict, out_dir: Path) -> None:
    """results.json and recall_at_k.png (one curve per query condition) in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    plot_recall_curves(
        results["recall"],
        out_dir / "recall_at_k.png",
        title=f"exact-match recall@k, {results['evaluated_pairs']} held-out pairs, "
        f"detector {results.get('detector', '?')}",
    )


def summary(results: dict) -> dict:
    short = {
        condition: {k: table[k] for k in ("R@1", "R@5", "R@20")}
        for condition, table in results["recall"].items()
    }
    keys = ("evaluated_pairs", "gallery", "fallback_whole_photo", "detector_iou0.5_hit_rate")
    return {**{key: results[key] for key in keys}, "recall": short, "targets": results["targets"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Full-pipeline exact-match retrieval")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--embedder", type=Path, required=True)
    parser.add_argument(
        "--detector",
        type=Path,
        default=None,
        help="detector checkpoint (default: the zero-shot detector)",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--limit", type=int, default=None, help="evaluate only the first N held-out pairs"
    )
    parser.add_argument(
        "--feature-cache",
        type=Path,
        default=None,
        help="pooled-feature cache (default: feature_cache beside the "
        "embedder checkpoint if present, else OUT/feature_cache)",
    )
    parser.add_argument(
        "--localise",
        nargs="+",
        default=None,
        metavar="CLASS",
        help="localise these classes even when not detected as present (e.g. top)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="the detector's compute dtype (auto: bfloat16 where the device has it natively, "
        "else the checkpoint's 8-bit graph where python -m recommender.quantize made one)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="torch",
        help="what runs the networks of the query side (auto: OpenVINO on a CPU)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    cache = args.feature_cache or _default_cache(args.embedder, args.out)
    try:
        results = evaluate(
            args.data_dir,
            args.embedder,
            args.detector,
            cache,
            limit=args.limit,
            classes=args.localise,
            device=args.device,
            precision=args.precision,
            runtime=args.runtime,
        )
    except Int8GraphError as error:
        parser.error(str(error))
    write_report(results, args.out)
    print(json.dumps(summary(results), indent=1))  # noqa: T201


def _default_cache(embedder_path: Path, out_dir: Path) -> Path:
    beside = embedder_path.parent / "feature_cache"
    return beside if beside.is_dir() else out_dir / "feature_cache"


if __name__ == "__main__":
    main()
