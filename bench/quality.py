"""Quality section: the recommender's evaluation CLIs, each figure beside its baseline.

Steps (each a child process; one failing is recorded and the others go on):

1. ``recommender.evaluate.retrieval``: exact match R@k (GT top crop) and catalog seed
   recall@10 / NDCG@10, trained embedder beside ImageNet features; tagging top-1;
2. ``bench.tagging_probe``: the tagging baseline (linear probe on ImageNet features);
3. ``recommender.evaluate.pipeline``: detect -> crop -> embed R@k beside the whole photo,
   once per detector variant;
4. ``recommender.evaluate.detection``: CorLoc per class, trained beside zero-shot;
5. ``bench.detection_examples``: a few photos with boxes and heatmaps.

Baselines that depend only on the data and the recommender's code (the tagging probe,
the zero-shot CorLoc) are cached under ``var/bench/cache`` and reused in quick mode;
full mode recomputes them.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import quality_figures
from bench.harness import display, progress, python_module, run_command
from bench.results import SectionResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QualityPlan:
    data_dir: Path  # the whole data folder (retrieval, pipeline, probe)
    street_data_dir: Path  # the same, or a quick subset of its street photos (detection)
    out_dir: Path  # report/quality
    embedder: Path | None
    detector: Path | None
    feature_cache: Path
    device: str
    pipeline_limit: int | None
    pipeline_variants: tuple[str, ...]  # "trained detector", "zero-shot, localise top"
    examples: int
    reuse_baselines: bool
    baseline_cache: Path
    baseline_keys: dict[str, str]  # "tagging", "detection": hash of their data + code
    timeout_s: float


def run_quality(plan: QualityPlan, section: SectionResult) -> None:
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    if plan.embedder is None:
        section.notes.append(
            "No trained embedder (var/models/*/embedder.pt): trained rows are missing; "
            "the ImageNet baselines are reported alone and the pipeline is not evaluated."
        )
    if plan.detector is None:
        section.notes.append(
            "No trained detector (var/models/*/detector.pt): CorLoc of the zero-shot "
            "baseline alone; the pipeline uses the zero-shot detector."
        )
    retrieval = None
    with section.step("retrieval evaluation"):
        retrieval = _retrieval(plan, section)
    with section.step("tagging baseline"):
        _tagging(plan, section, retrieval)
    pipelines: dict[str, Any] = {}
    for variant in plan.pipeline_variants if plan.embedder else ():
        with section.step(f"pipeline evaluation ({variant})"):
            pipelines[variant] = _pipeline(plan, section, variant)
    section.details["recall_curves"] = quality_figures.recall_curves(retrieval, pipelines)
    with section.step("detection evaluation"):
        _detection(plan, section)
    if plan.examples:
        with section.step("example detections"):
            _examples(plan, section)


def _run(plan: QualityPlan, name: str, command: list[str]) -> None:
    progress(f"[quality] {name} ...")
    seconds = run_command(
        command, log_path=plan.out_dir / "logs" / f"{name}.log", timeout_s=plan.timeout_s
    )
    progress(f"[quality] {name}: {seconds:.0f} s")


def _retrieval(plan: QualityPlan, section: SectionResult) -> dict[str, Any]:
    out = plan.out_dir / "retrieval"
    command = python_module(
        "recommender.evaluate.retrieval",
        *("--data-dir", str(plan.data_dir), "--out", str(out)),
        *("--feature-cache", str(plan.feature_cache), "--device", plan.device),
    )
    if plan.embedder:
        command += ["--checkpoint", str(plan.embedder)]
    _run(plan, "retrieval", command)
    results = json.loads((out / "results.json").read_text())
    section.details["retrieval"] = {
        key: results[key] for key in ("baseline_reproduction", "catalog_recall", "held_out_pairs")
    }
    section.artifacts["retrieval recall@k (evaluation CLI)"] = str(out / "recall_at_k.png")
    quality_figures.retrieval_figures(results, section)
    return results


def _tagging(plan: QualityPlan, section: SectionResult, retrieval: dict | None) -> None:
    tagging = (retrieval or {}).get("tagging", {})
    trained = tagging[quality_figures.trained_name(tagging)] if tagging else None
    cached = plan.baseline_cache / f"tagging-probe-{plan.baseline_keys['tagging']}.json"
    out = plan.out_dir / "tagging_probe.json"
    if plan.reuse_baselines and cached.is_file():
        shutil.copyfile(cached, out)
        section.notes.append(f"Tagging baseline reused from {display(cached)} (same data/code).")
    elif plan.reuse_baselines:
        section.notes.append(
            "Tagging baseline: the BASELINES.md figures (quick mode runs no linear probe "
            "until a full run has cached one)."
        )
        quality_figures.tagging_figures(
            trained,
            quality_figures.DOCUMENTED_TAGGING_BASELINE,
            "linear probe, BASELINES.md",
            section,
        )
        return
    else:
        command = python_module(
            "bench.tagging_probe",
            *("--data-dir", str(plan.data_dir), "--out", str(out)),
            *("--feature-cache", str(plan.feature_cache), "--device", plan.device),
        )
        if plan.embedder:
            command += ["--checkpoint", str(plan.embedder)]
        _run(plan, "tagging-probe", command)
        plan.baseline_cache.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, cached)
    probe = json.loads(out.read_text())
    section.details["tagging_probe"] = probe
    quality_figures.tagging_figures(
        trained,
        probe["top1"],
        "linear probe on ImageNet features",
        section,
        baseline_map=round(probe["mAP"], 4),
    )


def _pipeline(plan: QualityPlan, section: SectionResult, variant: str) -> dict[str, Any]:
    slug = "trained-detector" if variant == "trained detector" else "zero-shot"
    out = plan.out_dir / f"pipeline-{slug}"
    command = python_module(
        "recommender.evaluate.pipeline",
        *("--data-dir", str(plan.data_dir), "--embedder", str(plan.embedder)),
        *("--out", str(out), "--feature-cache", str(plan.feature_cache), "--device", plan.device),
    )
    if variant == "trained detector":
        command += ["--detector", str(plan.detector)]
    else:
        command += ["--localise", "top"]
    if plan.pipeline_limit:
        command += ["--limit", str(plan.pipeline_limit)]
    _run(plan, f"pipeline-{slug}", command)
    results = json.loads((out / "results.json").read_text())
    section.details[f"pipeline {variant}"] = {
        key: value for key, value in results.items() if key != "recall"
    }
    section.artifacts[f"pipeline recall@k, {variant} (evaluation CLI)"] = str(
        out / "recall_at_k.png"
    )
    quality_figures.pipeline_figures(results, variant, section)
    return results


def _detection(plan: QualityPlan, section: SectionResult) -> None:
    out = plan.out_dir / "detection"
    command = python_module(
        "recommender.evaluate.detection",
        *("--data-dir", str(plan.street_data_dir), "--out", str(out), "--split", "test"),
    )
    if plan.detector:
        command += ["--checkpoint", str(plan.detector)]
    cached = plan.baseline_cache / f"detection-{plan.baseline_keys['detection']}.json"
    reuse = plan.reuse_baselines and cached.is_file()
    if reuse:
        command += ["--baseline-from", str(cached)]
        section.notes.append(f"Zero-shot CorLoc reused from {display(cached)} (same data/code).")
    _run(plan, "detection", command)
    metrics_path = out / "detection_metrics.json"
    metrics = json.loads(metrics_path.read_text())
    if not reuse:
        plan.baseline_cache.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(metrics_path, cached)
    section.details["detection"] = metrics
    section.artifacts["CorLoc per class (evaluation CLI)"] = str(out / "corloc.png")
    quality_figures.detection_figures(metrics, section)


def _examples(plan: QualityPlan, section: SectionResult) -> None:
    out = plan.out_dir / "examples"
    command = python_module(
        "bench.detection_examples",
        *("--data-dir", str(plan.data_dir), "--out", str(out), "--count", str(plan.examples)),
    )
    if plan.detector:
        command += ["--checkpoint", str(plan.detector)]
    _run(plan, "examples", command)
    examples = json.loads((out / "examples.json").read_text())
    for example in examples["examples"]:
        classes = ", ".join(d["class"] for d in example["detections"]) or "nothing found"
        section.artifacts[f"detections on {example['photo']} ({classes})"] = str(
            out / example["png"]
        )
