"""Retrieval and tagging evaluation of an embedder checkpoint beside the ImageNet baseline.

    python -m recommender.evaluate.retrieval --data-dir ../shared/data \\
        --checkpoint var/models/embedder-quick/embedder.pt --out var/models/eval-quick

Exact match (pairs/): query = ground-truth top crop of the person photo, gallery = the shop
photos of the evaluated pairs + the whole catalog; with and without a tag filter that keeps
only gallery items whose *predicted* group value (e.g. articleType) equals the query's.
Catalog recall: test-split queries, relevant = same articleType, baseColour and gender.
Tagging: top-1 per group and mAP on the catalog test split. Writes results.json and
recall_at_k.png to --out. With --tagging-only, the checkpoint's tagging alone (the test
split's photos only: about a minute on 2 cores), to tagging.json.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.nn import functional as F

from recommender.checkpoints import build_model, load_checkpoint
from recommender.data.catalog import CatalogItem, items_in_split, read_catalog
from recommender.data.feature_cache import ImageRef, ImageRefDataset, cached_pooled_features
from recommender.data.pairs import Pair, pairs_in_split, read_pairs
from recommender.devices import resolve_device
from recommender.evaluate.metrics import ndcg_at_k, precision_at_k, ranks_of_targets, recall_at_k
from recommender.evaluate.tagging import tagging_report
from recommender.models.backbones import Backbone, build_backbone
from recommender.models.embedder import EmbeddingHead
from recommender.models.transforms import EvalTransform
from recommender.tags import TagVocabulary
from recommender.weights import get_weight_entry

logger = logging.getLogger(__name__)

KS = (1, 5, 10, 20, 50)
CURVE_KS = tuple(range(1, 51))
SEED_RELEVANCE = ("articleType", "baseColour", "gender")
FILTER_GROUPS = ("articleType", "subCategory")


def exact_match_ranks(
    query_vectors: np.ndarray,
    gallery_vectors: np.ndarray,
    targets: np.ndarray,
    *,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """0-based rank of each query's true gallery item by cosine similarity (unit vectors)."""
    similarities = query_vectors @ gallery_vectors.T  # (Q, G)
    return ranks_of_targets(similarities, targets, allowed)


def exact_match_recall(
    embed: Callable[[Sequence[Image.Image]], np.ndarray],
    query_images: Sequence[Image.Image],
    gallery_vectors: np.ndarray,
    targets: np.ndarray,
    *,
    allowed: np.ndarray | None = None,
    ks: Sequence[int] = KS,
) -> dict[str, float]:
    """Recall@k of query images (e.g. detected crops) against an embedded gallery.

    `embed` is e.g. `ImageEmbedder.embed`; the detect -> crop pipeline plugs in here.
    """
    ranks = exact_match_ranks(embed(query_images), gallery_vectors, targets, allowed=allowed)
    return recall_table(ranks, ks)


def recall_table(ranks: np.ndarray, ks: Sequence[int] = KS) -> dict[str, float]:
    return {f"R@{k}": round(recall_at_k(ranks, k), 4) for k in ks}


def same_value_mask(query_values: Sequence[str], gallery_values: Sequence[str]) -> np.ndarray:
    """(Q, G) bool: gallery item g has the same (predicted) value as query q."""
    return np.asarray(query_values)[:, None] == np.asarray(gallery_values)[None, :]


def catalog_recall(
    vectors: np.ndarray, items: Sequence[CatalogItem], query_indices: np.ndarray, *, k: int = 10
) -> dict[str, float]:
    """Seed recall: share of the top k (query excluded) sharing articleType, colour, gender."""
    keys = np.array(["|".join(item.row[column] for column in SEED_RELEVANCE) for item in items])
    similarities = vectors[query_indices] @ vectors.T  # (Q, N)
    similarities[np.arange(len(query_indices)), query_indices] = -np.inf  # not the query itself
    top = np.argsort(-similarities, axis=1)[:, :k]  # (Q, k)
    relevance = keys[top] == keys[query_indices][:, None]  # (Q, k)
    counts = {key: count for key, count in zip(*np.unique(keys, return_counts=True), strict=True)}
    num_relevant = np.array([counts[keys[index]] - 1 for index in query_indices])
    return {
        f"recall@{k}": round(precision_at_k(relevance, k), 4),
        f"NDCG@{k}": round(ndcg_at_k(relevance, num_relevant, k), 4),
    }


DEFAULT_WEIGHTS = "efficientnet_lite0.imagenet"  # the baseline's features


@dataclass
class Model:
    """A backbone (pooled features, cached per weights) and an optional trained head."""

    name: str
    backbone: Backbone
    weights_sha256: str
    head: EmbeddingHead | None = None
    vocabulary: TagVocabulary | None = None
    pooling: dict = field(default_factory=dict)  # `EmbedderConfig.pooling` of the head
    # What images go through first: the checkpoint's (its input size), else the weights' own.
    transform: EvalTransform | None = None

    @torch.inference_mode()
    def vectors_and_scores(self, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        features = torch.from_numpy(pooled)  # (N, C)
        if self.head is None:
            return F.normalize(features, dim=1).numpy(), None
        embedding, logits = self.head.eval()(features)  # (N, D), (N, T)
        return F.normalize(embedding, dim=1).numpy(), torch.sigmoid(logits).numpy()


def load_models(checkpoint_path: Path | None) -> list[Model]:
    entry = get_weight_entry(DEFAULT_WEIGHTS)
    baseline = build_backbone(entry.architecture, weights=entry)
    models = [Model("imagenet", baseline, entry.sha256, transform=entry.transforms())]
    if checkpoint_path is None:
        return models
    checkpoint = load_checkpoint(checkpoint_path)
    network = build_model(checkpoint)
    # A quick-mode checkpoint keeps the ImageNet backbone: share its cached features.
    same = all(
        torch.equal(value, network.backbone.state_dict()[key])
        for key, value in baseline.state_dict().items()
    )
    sha = entry.sha256 if same else checkpoint.file_sha256
    backbone = baseline if same else network.backbone
    models.append(
        Model(
            checkpoint.model_name,
            backbone,
            sha,
            network.head,
            checkpoint.vocabulary,
            checkpoint.config.pooling,
            checkpoint.eval_transform(),
        )
    )
    return models


def evaluate(
    data_dir: Path, checkpoint_path: Path | None, cache_dir: Path, *, device: str = "cpu"
) -> dict:
    """All results as one JSON-ready dict (see the module docstring)."""
    items = read_catalog(data_dir / "catalog")
    pairs = read_pairs(data_dir / "pairs")
    models = load_models(checkpoint_path)
    runner = FeatureRunner(cache_dir, resolve_device(device))
    results: dict = {"catalog_items": len(items), "pairs": len(pairs)}
    results["baseline_reproduction"] = _baseline_rows(runner, models[0], items, pairs)
    held_out = pairs_in_split(pairs, "test")
    results["held_out_pairs"] = len(held_out)
    results["exact_match"] = {}
    results["catalog_recall"] = {}
    results["tagging"] = {}
    tagger = next((model for model in models if model.head is not None), None)
    for model in models:
        results["exact_match"][model.name] = _exact_match(runner, model, tagger, items, held_out)
        vectors, scores = runner.vectors(model, [ImageRef(item.image_path) for item in items])
        test = np.array([index for index, item in enumerate(items) if item.split == "test"])
        results["catalog_recall"][model.name] = catalog_recall(vectors, items, test)
        if scores is not None:
            test_items = items_in_split(items, "test")
            results["tagging"][model.name] = _test_tagging(model, test_items, scores[test])
    return results


def evaluate_tagging(
    data_dir: Path, checkpoint_path: Path, cache_dir: Path, *, device: str = "cpu"
) -> dict:
    """The checkpoint's tagging on the catalog test split alone (no retrieval)."""
    items = read_catalog(data_dir / "catalog")
    model = load_models(checkpoint_path)[-1]
    test_items = items_in_split(items, "test")
    runner = FeatureRunner(cache_dir, resolve_device(device))
    _, scores = runner.vectors(model, [ImageRef(item.image_path) for item in test_items])
    return {
        "catalog_items": len(items),
        "tagging": {model.name: _test_tagging(model, test_items, scores)},
    }


def _test_tagging(model: Model, test_items: Sequence[CatalogItem], scores: np.ndarray) -> dict:
    """Tagging report of the test items from their tag probabilities `scores` (N, T)."""
    targets, masks = model.vocabulary.encode_rows([item.row for item in test_items])
    return tagging_report(scores, targets, masks, model.vocabulary)


class FeatureRunner:
    """Embeds image refs with a `Model` through the per-image pooled-feature cache."""

    def __init__(self, cache_dir: Path, device: torch.device) -> None:
        self.cache_dir = cache_dir
        self.device = device

    def vectors(self, model: Model, refs: list[ImageRef]):
        transform = model.transform or get_weight_entry(DEFAULT_WEIGHTS).transforms()
        pooled = cached_pooled_features(
            model.backbone,
            ImageRefDataset(refs, transform),
            cache_dir=self.cache_dir,
            weights_sha256=model.weights_sha256,
            device=self.device,
            progress=True,
            description=f"{model.name}: {len(refs)} images",
            **model.pooling,
        )
        return model.vectors_and_scores(pooled)


def _baseline_rows(runner, model: Model, items, pairs: list[Pair]) -> list[dict]:
    catalog, _ = runner.vectors(model, [ImageRef(item.image_path) for item in items])
    cloth, _ = runner.vectors(model, [ImageRef(pair.cloth_path) for pair in pairs])
    queries = {
        "whole person photo": runner.vectors(model, [ImageRef(p.person_path) for p in pairs])[0],
        "ground-truth top crop": runner.vectors(
            model, [ImageRef(p.person_path, p.box) for p in pairs]
        )[0],
    }
    targets = np.arange(len(pairs))
    rows = []
    for gallery_name, gallery in (
        (f"{len(pairs)} shop photos", cloth),
        (f"{len(pairs)} shop + {len(items)} catalog", np.concatenate([cloth, catalog])),
    ):
        for query_name, query in queries.items():
            ranks = exact_match_ranks(query, gallery, targets)
            rows.append({"query": query_name, "gallery": gallery_name, **recall_table(ranks)})
    return rows


def exact_match_gallery_refs(pairs: Sequence[Pair], items: Sequence[CatalogItem]) -> list[ImageRef]:
    """The exact-match gallery: the pairs' shop photos (pair i -> index i), then the catalog."""
    return [ImageRef(p.cloth_path) for p in pairs] + [ImageRef(i.image_path) for i in items]


def _exact_match(runner, model: Model, tagger: Model | None, items, pairs: list[Pair]) -> dict:
    """Held-out pairs, gallery = their shop photos + the catalog; optional predicted filter."""
    crops = [ImageRef(pair.person_path, pair.box) for pair in pairs]
    gallery_refs = exact_match_gallery_refs(pairs, items)
    query, _ = runner.vectors(model, crops)
    gallery, _ = runner.vectors(model, gallery_refs)
    targets = np.arange(len(pairs))
    ranks = exact_match_ranks(query, gallery, targets)
    result = {"gallery": len(gallery), "no filter": recall_table(ranks, CURVE_KS)}
    if tagger is None:
        return result
    _, query_scores = runner.vectors(tagger, crops)
    _, gallery_scores = runner.vectors(tagger, gallery_refs)
    for group in FILTER_GROUPS:
        if group not in tagger.vocabulary.group_names:
            continue
        query_tags = [tags[group][0] for tags in tagger.vocabulary.decode(query_scores)]
        gallery_tags = [tags[group][0] for tags in tagger.vocabulary.decode(gallery_scores)]
        allowed = same_value_mask(query_tags, gallery_tags)
        filtered = exact_match_ranks(query, gallery, targets, allowed=allowed)
        result[f"filter {group}"] = recall_table(filtered, CURVE_KS)
        result[f"filter {group} keeps target"] = round(float(allowed[targets, targets].mean()), 4)
    return result


def plot_recall_curves(
    curves: dict[str, dict[str, float]],
    path: Path,
    *,
    title: str = "exact-match recall@k (held-out pairs, GT top crop)",
) -> None:
    """recall@k (k = 1..50) line chart, one line per curve, drawn with Pillow."""
    width, height, margin = 900, 560, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    plot_w, plot_h = width - 2 * margin - 260, height - 2 * margin

    def point(k: int, recall: float) -> tuple[float, float]:
        return margin + (k - 1) / 49 * plot_w, margin + (1 - recall) * plot_h

    draw.rectangle([margin, margin, margin + plot_w, margin + plot_h], outline="black")
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        draw.text((8, point(1, tick)[1] - 6), f"{tick:.2f}", fill="black")
    for k in (1, 10, 20, 30, 40, 50):
        draw.text((point(k, 0)[0] - 6, margin + plot_h + 8), str(k), fill="black")
    draw.text((margin, 20), title, fill="black")
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    for index, (name, table) in enumerate(curves.items()):
        colour = colours[index % len(colours)]
        points = [point(k, table[f"R@{k}"]) for k in CURVE_KS if f"R@{k}" in table]
        draw.line(points, fill=colour, width=2)
        draw.text((margin + plot_w + 12, margin + 18 * index), name[:44], fill=colour)
    image.save(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Retrieval and tagging evaluation")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--feature-cache", type=Path, default=None,
                        help="pooled-feature cache (default OUT/feature_cache; share the "
                        "training run's to skip recomputing)")  # fmt: skip
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--tagging-only",
        action="store_true",
        help="the checkpoint's test-split tagging alone, to OUT/tagging.json",
    )
    args = parser.parse_args(argv)
    if args.tagging_only and args.checkpoint is None:
        parser.error("--tagging-only needs --checkpoint")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.feature_cache or args.out / "feature_cache"
    if args.tagging_only:
        tagging = evaluate_tagging(args.data_dir, args.checkpoint, cache, device=args.device)
        (args.out / "tagging.json").write_text(json.dumps(tagging, indent=1), encoding="utf-8")
        print(json.dumps(_tagging_summary(tagging), indent=1))  # noqa: T201
        return
    results = evaluate(args.data_dir, args.checkpoint, cache, device=args.device)
    (args.out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    curves = {
        f"{model.split('@')[0]} {condition}": table
        for model, conditions in results["exact_match"].items()
        for condition, table in conditions.items()
        if isinstance(table, dict)
    }
    plot_recall_curves(curves, args.out / "recall_at_k.png")
    print(json.dumps(_summary(results), indent=1))  # noqa: T201


def _summary(results: dict) -> dict:
    short = {
        model: {
            condition: {k: table[k] for k in ("R@1", "R@5", "R@20")}
            for condition, table in conditions.items()
            if isinstance(table, dict)
        }
        for model, conditions in results["exact_match"].items()
    }
    return {
        "baseline_reproduction": results["baseline_reproduction"],
        "exact_match_held_out": short,
        "catalog_recall": results["catalog_recall"],
        **_tagging_summary(results),
    }


def _tagging_summary(results: dict) -> dict:
    return {
        "tagging_top1": {model: report["top1"] for model, report in results["tagging"].items()},
        "tagging_mAP": {model: report["mAP"] for model, report in results["tagging"].items()},
    }


if __name__ == "__main__":
    main()
