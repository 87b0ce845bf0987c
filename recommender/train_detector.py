"""Train the CAM detector's fashion head from image-level labels only (never boxes).

    python -m recommender.train_detector --data-dir ../shared/data --out DIR [--quick]

Training images: catalog photos (one class each, from their categories) and the street
photos of the train split (all classes tagged on the photo). `--quick` freezes the backbone,
caches pooled features on disk (keyed by weights sha256 + image hash) and trains the linear
head only; `--catalog-sizes 224 112` pools each catalog photo at several sides, one training
row each. Without it, the backbone's last stage and final conv are fine-tuned first on the
same labels, over cached outputs of the frozen stages (`recommender.detection.finetune`; bf16
autocast on GPU), and the heads are trained on the fine-tuned features. `--architecture
seed_vgg16` (or `seed_vgg16_narrow`) trains the seed design's VGG16-style network from
scratch instead (`recommender.detection.scratch`), every layer on the same labels, for
comparison with the pretrained backbone; the heads are then trained on its features the
same way. Each class's recipe is chosen on the street val split, the detection thresholds
on `--tune-split` (val, or train+val: the boxes choose a few numbers and never train); the
test split stays unseen. `--quantize` then makes the checkpoint's 8-bit graph for CPUs
without native bfloat16 (`recommender.quantize`; about a minute and a half on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import subprocess
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from recommender.data.street import StreetPhoto, parse_splits, read_street_photos
from recommender.detect import FashionDetector
from recommender.detection.checkpoint import DetectorCheckpoint, save_checkpoint
from recommender.detection.features import FeatureCache, extract_pooled_features
from recommender.detection.finetune import TailExample, TrunkCache, finetune_tail, tail_pooled
from recommender.detection.scratch import ScratchExample, train_from_scratch
from recommender.detection.training_data import CatalogPhoto, read_catalog_photos
from recommender.evaluate.detection import tune_detector_config
from recommender.fashion_classes import FASHION_CLASSES
from recommender.models.backbones import ARCHITECTURES, OUTPUT_STRIDES, Backbone, build_backbone
from recommender.models.cam import CamHead
from recommender.quantize import (
    QuantizationError,
    nncf_available,
    quantize_checkpoint,
    street_photos,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadRecipe:
    """One way to weigh the training photos of the head."""

    catalog_per_class: int | None  # cap per class (a seeded sample); None: every photo
    street_weight: float  # weight of a street photo's labels (catalog photos weigh 1)


# Street photos name what is worn, not where: where a class is in nearly every photo
# (footwear, tops) its street labels teach the context (a person) rather than the item,
# and product shots alone localise it better; rare classes (dresses, bags) need the street
# photos. Each class's head row is trained by each recipe and the row with the best val
# CorLoc is kept (rows are independent: one sigmoid per class).
DEFAULT_RECIPES = (
    HeadRecipe(catalog_per_class=60, street_weight=3.0),
    HeadRecipe(catalog_per_class=None, street_weight=3.0),
    HeadRecipe(catalog_per_class=None, street_weight=0.0),
)


@dataclass(frozen=True)
class TrainConfig:
    quick: bool = True
    epochs: int = 300  # full-batch steps of the linear head
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    recipes: tuple[HeadRecipe, ...] = DEFAULT_RECIPES
    zoom: bool = True  # the trained detector takes a closer look around each first box
    grabcut: bool = True  # classes whose first boxes GrabCut cuts better keep its seeds
    face_bands: bool = True  # classes whose first boxes a band of a face fits better keep it
    face_anchors: bool = True  # classes whose first boxes gain from a face prior keep it
    finetune_epochs: int = 4  # full mode: epochs of the backbone's tail
    tail_stages: int = 1  # full mode: the last stages (+ final conv) that are fine-tuned
    finetune_street_weight: float = 3.0
    # Street split(s) whose boxes choose the thresholds, box factors and presence cut-off
    # (never train): "val" (69 of the sample's photos, fast) or "train+val" (646: less
    # noisy choices, a few more minutes). The recipe of each class is chosen on val.
    tune_split: str = "val"
    # Input pixels per map cell (`build_backbone`): 16 dilates the last stage, for maps
    # with four times the cells at about 1.3 times the detection time (no better CorLoc
    # on the sample: recommender/README.md, "Output stride 16").
    output_stride: int = 32
    # `backbones.ARCHITECTURES`: pretrained ones start from their ImageNet weights; one
    # without weights (the seed design's `seed_vgg16`) trains from scratch.
    architecture: str = "efficientnet_lite0"
    scratch_epochs: int = 30  # from scratch: epochs over every catalog and street photo
    scratch_input_size: int = 224  # from scratch: product squares, street photos' short side
    # Quick mode: the sides (px) at which each catalog photo's square is pooled, each a
    # training row with the photo's labels (weights split between them), for products
    # nearer the size they have in a street photo. (224, 112) localised worse: held-out
    # CorLoc 0.536 against 0.575 (recommender/README.md), so one side is the default.
    catalog_sizes: tuple[int, ...] = (224,)
    seed: int = 0


def code_version() -> str:
    """`git describe` of the checkout when available, else the package version (CLI only)."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
        return described.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("shopalook")
        except PackageNotFoundError:
            return "unknown"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def label_matrix(class_sets: list[frozenset[str]]) -> torch.Tensor:
    """Multi-hot labels: (N, K) in vocabulary order."""
    labels = torch.zeros((len(class_sets), len(FASHION_CLASSES)))  # (N, K)
    for row, classes in enumerate(class_sets):
        for name in classes:
            labels[row, FASHION_CLASSES.index(name)] = 1.0
    return labels


def catalog_loss_mask(photos: list[CatalogPhoto]) -> torch.Tensor:
    """Which labels of a catalog photo are known: worn apparel shows other garments too.

    A product shot on a model shows its bottom/shoes as well, so for apparel the other
    garment classes are unknown (masked out), not negatives.
    """
    worn = {"top", "bottom", "dress", "outerwear", "legwear", "footwear"}
    mask = torch.ones((len(photos), len(FASHION_CLASSES)))  # (N, K)
    for row, photo in enumerate(photos):
        if photo.class_name in worn - {"footwear"}:
            for name in worn - {photo.class_name}:
                mask[row, FASHION_CLASSES.index(name)] = 0.0
    return mask


def train_head(
    features: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    config: TrainConfig,
    *,
    head: CamHead | None = None,
) -> CamHead:
    """Full-batch Adam on weighted, masked BCE: (N, C), (N, K), (N, K) -> trained head."""
    head = head or CamHead(features.shape[1], FASHION_CLASSES)
    head.train()
    optimiser = torch.optim.Adam(
        head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    for step in range(config.epochs):
        logits = head(features)  # (N, K)
        loss = (
            F.binary_cross_entropy_with_logits(logits, labels, reduction="none") * weights
        ).sum()
        loss = loss / weights.sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % 100 == 0 or step == config.epochs - 1:
            logger.info("head step %d/%d loss %.4f", step + 1, config.epochs, loss.item())
    return head.eval()


def combine_heads(
    candidates: list[tuple[HeadRecipe, CamHead, dict[str, object]]],
) -> tuple[CamHead, dict[str, HeadRecipe]]:
    """One head whose row for each class comes from the candidate with the best val CorLoc
    of that class (the first candidate where the split has no box of the class)."""
    first_head = candidates[0][1]
    combined = CamHead(first_head.linear.in_features, first_head.class_names)
    chosen: dict[str, HeadRecipe] = {}
    with torch.no_grad():
        for row, name in enumerate(first_head.class_names):
            recipe, head, _ = max(
                candidates, key=lambda candidate: candidate[2]["corloc"].get(name, -1.0)
            )
            combined.linear.weight[row] = head.linear.weight[row]
            combined.linear.bias[row] = head.linear.bias[row]
            chosen[name] = recipe
    return combined.eval(), chosen


def train(data_dir: Path, out_dir: Path, config: TrainConfig, *, version: str) -> Path:
    """Train, tune on street val (or `config.tune_split`), save `out_dir/detector.pt`;
    returns its path."""
    if "test" in parse_splits(config.tune_split):
        raise ValueError(f"tune_split {config.tune_split!r}: the test split stays unseen")
    scratch = not ARCHITECTURES[config.architecture].pretrained
    if not config.catalog_sizes or min(config.catalog_sizes) < 32:
        raise ValueError(f"catalog_sizes {config.catalog_sizes}: give sides of 32 px or more")
    if config.catalog_sizes != (224,) and not config.quick:
        raise ValueError("catalog_sizes other than (224,) are a quick-mode option (--quick)")
    if scratch and config.quick:
        raise ValueError(
            f"{config.architecture} has no ImageNet weights to freeze: train it without "
            "--quick (from scratch)"
        )
    seed_everything(config.seed)
    started = time.perf_counter()
    backbone = build_backbone(
        config.architecture, pretrained=not scratch, output_stride=config.output_stride
    )
    street = read_street_photos(data_dir / "street", split="train")
    catalog = read_catalog_photos(data_dir / "catalog", per_class=None, seed=config.seed)
    detector = FashionDetector(backbone, CamHead(backbone.feature_dim, FASHION_CLASSES))
    if config.quick:
        cache = FeatureCache(out_dir / "feature_cache", _cache_key(backbone))
        street_features = extract_pooled_features(
            [photo.path for photo in street], backbone, cache, detector=detector, desc="street"
        )
        catalog_features = torch.stack(  # (S, N, C): one row per photo at each side
            [
                extract_pooled_features(
                    [photo.path for photo in catalog],
                    backbone,
                    # 224 keeps the cache it always had; other sides have their own.
                    cache
                    if size == 224
                    else FeatureCache(out_dir / "feature_cache", f"{_cache_key(backbone)}-{size}"),
                    square_size=size,
                    desc=f"catalog {size} px",
                )
                for size in config.catalog_sizes
            ]
        )
    elif scratch:
        catalog_features, street_features = _scratch_features(
            backbone, detector, catalog, street, out_dir, config
        )
    else:
        catalog_features, street_features = _finetuned_features(
            backbone, detector, catalog, street, out_dir, config
        )
    if catalog_features.dim() == 2:  # full mode and from scratch: one size
        catalog_features = catalog_features.unsqueeze(0)  # (1, N, C)
    row_of = {photo.path: row for row, photo in enumerate(catalog)}
    candidates: list[tuple[HeadRecipe, CamHead, dict[str, object]]] = []
    for recipe in config.recipes:
        chosen_photos = read_catalog_photos(
            data_dir / "catalog", per_class=recipe.catalog_per_class, seed=config.seed
        )
        rows = torch.tensor([row_of[photo.path] for photo in chosen_photos], dtype=torch.long)
        features = torch.cat([*catalog_features[:, rows], street_features])  # (S * N + M, C)
        labels, weights = training_targets(
            chosen_photos, street, recipe.street_weight, copies=len(catalog_features)
        )
        head = train_head(features, labels, weights, config)
        _, metrics = tune_detector_config(FashionDetector(backbone, head), data_dir / "street")
        logger.info("%s: val CorLoc %s", recipe, metrics["corloc"])
        candidates.append((recipe, head, metrics))
    head, chosen = combine_heads(candidates)
    trained_seconds = time.perf_counter() - started
    street_dir, tune_split = data_dir / "street", config.tune_split
    tuned, tuning_metrics = tune_detector_config(
        FashionDetector(backbone, head),
        street_dir,
        split=tune_split,
        grabcut=config.grabcut and not config.zoom,
        face_bands=config.face_bands and not config.zoom,
        face_anchors=config.face_anchors and not config.zoom,
    )
    if config.zoom:  # the closer look starts from the boxes of the tuned thresholds ...
        placement = {name: tuned.threshold_for(name) for name in FASHION_CLASSES}
        zoomed = FashionDetector(  # ... which stay its placement when the final ones change
            backbone,
            head,
            replace(tuned, zoom=True, zoom_thresholds=placement, zoom_box_rule=tuned.box_rule),
        )
        tuned, tuning_metrics = tune_detector_config(
            zoomed,
            street_dir,
            split=tune_split,
            grabcut=config.grabcut,
            face_bands=config.face_bands,
            face_anchors=config.face_anchors,
        )
    checkpoint = DetectorCheckpoint(
        class_names=FASHION_CLASSES,
        weights_name=None if scratch else backbone.weights.name,
        weights_sha256=None if scratch else backbone.weights.sha256,
        head_state={key: value.detach().clone() for key, value in head.linear.state_dict().items()},
        backbone_state=None if config.quick else backbone.network.state_dict(),
        architecture=config.architecture,
        output_stride=backbone.output_stride,
        code_version=version,
        config={"detector": tuned.to_dict(), "train": vars_of(config)},
        metrics={
            tune_split: tuning_metrics,
            "train_seconds": trained_seconds,
            "recipes": {name: vars_of(recipe) for name, recipe in chosen.items()},
            "street_train_photos": len(street),
        },
    )
    path = out_dir / "detector.pt"
    save_checkpoint(checkpoint, path)
    (out_dir / "train_summary.json").write_text(
        json.dumps(
            {"checkpoint": str(path), **checkpoint.metrics, "config": checkpoint.config}, indent=2
        )
    )
    return path


def vars_of(config: TrainConfig | HeadRecipe) -> dict[str, object]:
    """Plain values (nested recipes as dicts, tuples as lists) for the checkpoint."""
    return json.loads(json.dumps(asdict(config)))


def _cache_key(backbone: Backbone) -> str:
    return f"{backbone.feature_key}-frozen"


def training_targets(
    catalog: list[CatalogPhoto],
    street: list[StreetPhoto],
    street_weight: float,
    *,
    copies: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and loss weights (copies * N + M, K) of the catalog photos, `copies` times
    over (one row each per pooled size, each at 1 / copies), then of the street photos
    (their labels at `street_weight`): what a head or a trained backbone learns."""
    catalog_labels = label_matrix([frozenset({photo.class_name}) for photo in catalog])
    labels = torch.cat(
        [catalog_labels.repeat(copies, 1), label_matrix([photo.classes for photo in street])]
    )
    weights = torch.cat(
        [
            catalog_loss_mask(catalog).repeat(copies, 1) / copies,
            torch.full((len(street), len(FASHION_CLASSES)), street_weight),
        ]
    )
    return labels, weights


def _finetuned_features(
    backbone, detector, catalog, street, out_dir: Path, config: TrainConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full mode: fine-tune the backbone's tail on every catalog photo and the street train
    photos (at `finetune_street_weight`), then the pooled features of both through it."""
    trunks = TrunkCache(out_dir / "trunk_cache", backbone, config.tail_stages)
    catalog_trunks = trunks.catalog([photo.path for photo in catalog])
    street_trunks = trunks.photos([photo.path for photo in street], detector)
    labels, weights = training_targets(catalog, street, config.finetune_street_weight)
    examples = [
        TailExample(trunk, *targets)
        for trunk, *targets in zip(catalog_trunks + street_trunks, labels, weights, strict=True)
    ]
    finetune_tail(
        backbone,
        examples,
        out_dir / "finetune",
        epochs=config.finetune_epochs,
        seed=config.seed,
        tail_stages=config.tail_stages,
    )
    return (
        tail_pooled(backbone, catalog_trunks, config.tail_stages),
        tail_pooled(backbone, street_trunks, config.tail_stages),
    )


def _scratch_features(
    backbone, detector, catalog, street, out_dir: Path, config: TrainConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """From scratch: train the whole backbone on every catalog photo and the street train
    photos (at `finetune_street_weight`), then the pooled features of both through it."""
    labels, weights = training_targets(catalog, street, config.finetune_street_weight)
    examples = [
        ScratchExample(photo.path, *targets, street=row >= len(catalog))
        for row, (photo, *targets) in enumerate(zip(catalog + street, labels, weights, strict=True))
    ]
    train_from_scratch(
        backbone,
        examples,
        out_dir / "scratch",
        epochs=config.scratch_epochs,
        seed=config.seed,
        input_size=config.scratch_input_size,
    )
    cache = FeatureCache(out_dir / "feature_cache", _cache_key(backbone))
    street_features = extract_pooled_features(
        [photo.path for photo in street], backbone, cache, detector=detector, desc="street"
    )
    catalog_features = extract_pooled_features(
        [photo.path for photo in catalog],
        backbone,
        cache,
        square_size=config.scratch_input_size,
        desc="catalog",
    )
    return catalog_features, street_features


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="frozen backbone, cached features")
    parser.add_argument("--epochs", type=int, default=None, help="full-batch steps of a head")
    parser.add_argument(
        "--finetune-epochs", type=int, default=None, help="full mode: epochs of the tail"
    )
    parser.add_argument(
        "--tail-stages", type=int, default=None, help="full mode: last stages fine-tuned"
    )
    parser.add_argument(
        "--tune-split",
        choices=("val", "train+val"),
        default="val",
        help="street photos whose boxes choose the box thresholds (train+val: steadier "
        "choices, several minutes more on a CPU)",
    )
    parser.add_argument(
        "--no-grabcut",
        action="store_true",
        help="boxes from the maps alone (no GrabCut refinement of any class's first box)",
    )
    parser.add_argument(
        "--no-face-bands",
        action="store_true",
        help="no face bands (sunglasses boxed from the face their map points at)",
    )
    parser.add_argument(
        "--no-face-anchors",
        action="store_true",
        help="no face anchors (boxes moved toward where their class sits below the face)",
    )
    parser.add_argument(
        "--output-stride",
        type=int,
        choices=OUTPUT_STRIDES,
        default=32,
        help="input pixels per map cell: 16 gives finer maps for more detection time",
    )
    parser.add_argument(
        "--architecture",
        choices=sorted(ARCHITECTURES),
        default="efficientnet_lite0",
        help="backbone: a pretrained one, or the seed design's seed_vgg16 (or its narrow "
        "variant, a quarter of the channels) trained from scratch without --quick",
    )
    parser.add_argument(
        "--scratch-epochs", type=int, default=None, help="from scratch: epochs of the network"
    )
    parser.add_argument(
        "--scratch-input-size",
        type=int,
        default=None,
        help="from scratch: side of the product squares and street photos' short side",
    )
    parser.add_argument(
        "--catalog-sizes",
        type=int,
        nargs="+",
        default=None,
        metavar="PX",
        help="quick mode: sides at which each catalog photo is pooled, one training row "
        "each (default 224; smaller sides show items at the sizes they have in street photos)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quantize",
        action="store_true",
        help="then make the checkpoint's 8-bit graph (python -m recommender.quantize), "
        "calibrated on the street train split, checked on val",
    )
    args = parser.parse_args(argv)
    if args.quantize and not nncf_available():
        parser.error("--quantize needs nncf: pip install 'shopalook[quantize]'")
    if args.catalog_sizes is not None and not args.quick:
        parser.error("--catalog-sizes is a quick-mode option: add --quick")
    if args.catalog_sizes is not None and min(args.catalog_sizes) < 32:
        parser.error(f"--catalog-sizes {args.catalog_sizes}: give sides of 32 px or more")
    if args.quick and not ARCHITECTURES[args.architecture].pretrained:
        parser.error(
            f"--architecture {args.architecture} has no ImageNet weights to freeze; "
            "leave out --quick to train it from scratch"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    given = {
        "epochs": args.epochs,
        "finetune_epochs": args.finetune_epochs,
        "tail_stages": args.tail_stages,
        "scratch_epochs": args.scratch_epochs,
        "scratch_input_size": args.scratch_input_size,
        "catalog_sizes": None if args.catalog_sizes is None else tuple(args.catalog_sizes),
    }
    config = TrainConfig(
        quick=args.quick,
        seed=args.seed,
        tune_split=args.tune_split,
        output_stride=args.output_stride,
        architecture=args.architecture,
        grabcut=not args.no_grabcut,
        face_bands=not args.no_face_bands,
        face_anchors=not args.no_face_anchors,
        **{name: value for name, value in given.items() if value is not None},
    )
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    path = train(args.data_dir, args.out, config, version=code_version())
    report = {"checkpoint": str(path), "wall_seconds": round(time.perf_counter() - started, 1)}
    if args.quantize:  # the checkpoint stands whatever happens here
        try:
            calibration, check = street_photos(args.data_dir)
            graph = quantize_checkpoint(path, calibration, check)
            report |= {"int8_graph": str(graph.xml), "feature_error": graph.info["feature_error"]}
        except (OSError, ValueError, QuantizationError) as error:
            logger.error("no 8-bit graph made: %s", error)
            report["int8_graph"] = None
    print(json.dumps(report))  # noqa: T201


if __name__ == "__main__":
    main()
