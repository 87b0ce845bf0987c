"""Figures of the quality section, read from the evaluation CLIs' JSON (pure functions).

Each trained figure stands beside its baseline: ImageNet features without training
(retrieval, seed recall, tagging by a linear probe), the whole photo without detection
(pipeline), the zero-shot ImageNet CAM detector (CorLoc). Where a trained model is
missing the figure's value is None: the report shows the baseline and says so.
"""

from __future__ import annotations

from typing import Any

from bench.results import SectionResult

IMAGENET = "imagenet"
RECALL_KS = ("R@1", "R@5", "R@20")
CORLOC_CLASSES = ("footwear", "bag", "top", "bottom", "dress", "eyewear")
# BASELINES.md, tagging by a linear probe on ImageNet features (catalog test split).
DOCUMENTED_TAGGING_BASELINE = {
    "masterCategory": 0.990,
    "articleType": 0.865,
    "baseColour": 0.485,
    "gender": 0.876,
}
HEADLINE_TAG_GROUPS = ("articleType", "baseColour")


def trained_name(models: dict[str, Any]) -> str | None:
    """The trained model's key in a per-model mapping (anything but the ImageNet baseline)."""
    return next((name for name in models if name != IMAGENET), None)


def retrieval_figures(results: dict[str, Any], section: SectionResult) -> None:
    """Exact match (GT top crop) and catalog seed recall, trained beside ImageNet."""
    exact = results["exact_match"]
    trained = trained_name(exact)
    gallery = exact[IMAGENET]["gallery"]
    group = f"retrieval: held-out pairs, GT top crop, gallery {gallery}"
    for k in RECALL_KS:
        section.add(
            group,
            f"exact match {k}",
            exact[trained]["no filter"][k] if trained else None,
            "share",
            baseline=exact[IMAGENET]["no filter"][k],
            baseline_label="ImageNet features",
            higher_is_better=True,
            headline=k in ("R@1", "R@20"),
        )
    for condition, table in (exact[trained] if trained else {}).items():
        if condition.startswith("filter ") and isinstance(table, dict):
            for k in ("R@1", "R@20"):
                section.add(
                    group,
                    f"exact match {k}, {condition} (predicted)",
                    table[k],
                    "share",
                    baseline=exact[trained]["no filter"][k],
                    baseline_label="same model, no filter",
                    higher_is_better=True,
                )
    catalog = results["catalog_recall"]
    trained = trained_name(catalog)
    for metric in ("recall@10", "NDCG@10"):
        section.add(
            "retrieval: catalog test split, same articleType + colour + gender",
            f"seed {metric}",
            catalog[trained][metric] if trained else None,
            "share",
            baseline=catalog[IMAGENET][metric],
            baseline_label="ImageNet features",
            higher_is_better=True,
            headline=metric == "recall@10",
        )


def tagging_figures(
    trained: dict[str, Any] | None,
    baseline_top1: dict[str, float],
    baseline_label: str,
    section: SectionResult,
    *,
    baseline_map: float | None = None,
) -> None:
    """Top-1 per tag group (and mAP) of the trained tagger beside the probe's."""
    groups = list(trained["top1"]) if trained else list(baseline_top1)
    for name in groups:
        section.add(
            "tagging: catalog test split, top-1",
            name,
            trained["top1"][name] if trained else None,
            "share",
            baseline=baseline_top1.get(name),
            baseline_label=baseline_label,
            higher_is_better=True,
            headline=name in HEADLINE_TAG_GROUPS,
        )
    section.add(
        "tagging: catalog test split, top-1",
        "mAP over all tags",
        trained["mAP"] if trained else None,
        "share",
        baseline=baseline_map,
        baseline_label=baseline_label,
        higher_is_better=True,
    )


def pipeline_figures(results: dict[str, Any], variant: str, section: SectionResult) -> None:
    """Full pipeline (detect, crop, embed) and GT crop beside the whole photo."""
    recall = results["recall"]
    group = (
        f"pipeline ({variant}): {results['evaluated_pairs']} held-out pairs, "
        f"gallery {results['gallery']}"
    )
    for condition in ("full pipeline", "ground-truth crop"):
        for k in RECALL_KS:
            section.add(
                group,
                f"{condition} {k}",
                recall[condition][k],
                "share",
                baseline=recall["whole photo"][k],
                baseline_label="whole photo, no detection",
                higher_is_better=True,
                headline=condition == "full pipeline" and k in ("R@1", "R@20"),
            )
    section.add(
        group, "detector box IoU>=0.5 with the top", results["detector_iou0.5_hit_rate"], "share"
    )
    section.add(group, "whole-photo fallbacks", results["fallback_rate"], "share")
    section.add(group, "detection time per photo", results["detect_ms_per_photo"], "ms")


def detection_figures(metrics: dict[str, Any], section: SectionResult) -> None:
    """CorLoc per class (and class-agnostic precision/recall), trained beside zero-shot."""
    baseline = metrics["zero_shot_baseline"]
    trained = metrics.get("trained")
    group = f"detection: street {metrics['split']} split, {metrics['photos']} photos"
    for name in (*CORLOC_CLASSES, "mean"):
        section.add(
            group,
            f"CorLoc {name}",
            trained["corloc"].get(name) if trained else None,
            "share",
            baseline=baseline["corloc"].get(name),
            baseline_label="zero-shot ImageNet CAM",
            higher_is_better=True,
            headline=name == "mean",
        )
    for metric in ("precision", "recall"):
        section.add(
            group,
            f"class-agnostic {metric} (IoU>=0.5)",
            round(trained[metric], 4) if trained else None,
            "share",
            baseline=round(baseline[metric], 4),
            baseline_label="zero-shot ImageNet CAM",
            higher_is_better=True,
        )


def recall_curves(retrieval: dict[str, Any] | None, pipelines: dict[str, Any]) -> dict:
    """name -> {k: recall} for the recall@k plot, from whatever ran."""
    curves: dict[str, dict[int, float]] = {}
    for model, conditions in (retrieval or {}).get("exact_match", {}).items():
        name = "ImageNet" if model == IMAGENET else model.split("@")[0]
        curves[f"{name}, GT crop"] = _curve(conditions["no filter"])
    for variant, results in pipelines.items():
        for condition in ("full pipeline", "whole photo"):
            curves[f"{condition} ({variant})"] = _curve(results["recall"][condition])
    return curves


def _curve(table: dict[str, float]) -> dict[int, float]:
    return {int(key[2:]): value for key, value in table.items() if key.startswith("R@")}
