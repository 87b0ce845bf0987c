"""Plots of a run (matplotlib, Agg): recall@k curves, latency histograms, CorLoc per class,
search latency per method. Each takes the run's JSON document and writes one PNG, or
returns None when the data it needs is not there."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

CORLOC_CLASSES = ("footwear", "bag", "top", "bottom", "dress", "eyewear", "mean")
CORLOC_TARGET = 0.65  # README: the target of the mean
SEARCH_LABELS = {
    "selector": "PostgreSQL: selector",
    "naive_hnsw": "PostgreSQL: naive filtered HNSW",
    "exact": "PostgreSQL: exact",
    "exact_numpy": "in process: numpy exact",
    "faiss_per_type_hnsw": "in process: FAISS HNSW per type",
    "faiss_global_hnsw_filtered": "in process: FAISS HNSW + filter",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def _section_details(run: dict[str, Any], name: str) -> dict[str, Any]:
    return run.get("sections", {}).get(name, {}).get("details", {})


def recall_curves(run: dict[str, Any], path: Path) -> Path | None:
    curves = _section_details(run, "quality").get("recall_curves")
    if not curves:
        return None
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(8, 5))
    for name, curve in curves.items():
        ks = sorted(int(k) for k in curve)
        axes.plot(ks, [curve[str(k)] if str(k) in curve else curve[k] for k in ks], label=name)
    axes.set(xlabel="k", ylabel="recall@k", ylim=(0, 1), title="Exact-match recall@k")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path, pyplot)


def latency_histograms(run: dict[str, Any], path: Path) -> Path | None:
    looks = _section_details(run, "latency").get("looks", {})
    parts = {
        name: looks[name]["samples_ms"]
        for name in ("latency", "load")
        if looks.get(name, {}).get("samples_ms")
    }
    if not parts:
        return None
    pyplot = _pyplot()
    figure, all_axes = pyplot.subplots(1, len(parts), figsize=(6 * len(parts), 4), squeeze=False)
    for axes, (name, samples) in zip(all_axes[0], parts.items(), strict=True):
        axes.hist(samples, bins=min(30, max(5, len(samples) // 3)), color="#1f77b4")
        for quantile, style in ((50, "-"), (95, "--")):
            value = float(np.percentile(samples, quantile))
            axes.axvline(value, color="black", linestyle=style, label=f"p{quantile} {value:.0f} ms")
        axes.legend()
        title = "sequential looks" if name == "latency" else "looks under load"
        axes.set(xlabel="POST -> result (ms)", ylabel="looks", title=f"{title} ({len(samples)})")
        axes.grid(alpha=0.3)
    return _save(figure, path, pyplot)


def corloc_bars(run: dict[str, Any], path: Path) -> Path | None:
    metrics = _section_details(run, "quality").get("detection")
    if not metrics:
        return None
    rows = {
        label: metrics[key]["corloc"]
        for key, label in (("zero_shot_baseline", "zero-shot (baseline)"), ("trained", "trained"))
        if key in metrics
    }
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(9, 4))
    width = 0.8 / len(rows)
    for index, (label, corloc) in enumerate(rows.items()):
        positions = [x + index * width for x in range(len(CORLOC_CLASSES))]
        axes.bar(positions, [corloc.get(name, 0.0) for name in CORLOC_CLASSES], width, label=label)
    axes.set_xticks([x + 0.4 - width / 2 for x in range(len(CORLOC_CLASSES))], CORLOC_CLASSES)
    axes.axhline(CORLOC_TARGET, color="black", linestyle="--", label=f"target {CORLOC_TARGET}")
    axes.set(ylabel="CorLoc (IoU >= 0.5)", ylim=(0, 1))
    axes.set_title(f"CorLoc per class, street {metrics['split']} ({metrics['photos']} photos)")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path, pyplot)


def search_latency(run: dict[str, Any], path: Path) -> Path | None:
    search = _section_details(run, "search").get("search")
    if not search:
        return None
    bars: dict[str, list[tuple[str, float, float]]] = {}
    for size, result in search["sizes"].items():
        ef = "100" if "100" in result["by_ef_search"] else next(iter(result["by_ef_search"]))
        methods = dict(result["by_ef_search"][ef])
        in_process = result.get("in_process") or {}
        methods.update(in_process.get("by_ef_search", {}).get(ef, {}))
        bars[f"{int(size):,} products, ef_search {ef}"] = [
            (SEARCH_LABELS.get(name, name), row["latency_ms_median"], row["latency_ms_p95"])
            for name, row in methods.items()
        ]
    pyplot = _pyplot()
    figure, all_axes = pyplot.subplots(1, len(bars), figsize=(7 * len(bars), 4), squeeze=False)
    for axes, (title, rows) in zip(all_axes[0], bars.items(), strict=True):
        names = [row[0] for row in rows]
        axes.barh(names, [row[2] for row in rows], color="#aec7e8", label="p95")
        axes.barh(names, [row[1] for row in rows], color="#1f77b4", label="median")
        axes.set_xscale("log")
        axes.set(xlabel="ms (log scale)", title=title)
        axes.legend()
    return _save(figure, path, pyplot)


PLOTS: dict[str, tuple[str, Callable[[dict[str, Any], Path], Path | None]]] = {
    "recall@k curves": ("recall_at_k.png", recall_curves),
    "look latency histogram": ("look_latency.png", latency_histograms),
    "CorLoc per class": ("corloc.png", corloc_bars),
    "search latency per method": ("search_latency.png", search_latency),
}


def draw_all(run: dict[str, Any], out_dir: Path) -> tuple[dict[str, str], list[str]]:
    """(label -> PNG path, errors) for every plot whose data the run has."""
    drawn, errors = {}, []
    out_dir.mkdir(parents=True, exist_ok=True)
    for label, (name, draw) in PLOTS.items():
        try:
            path = draw(run, out_dir / name)
        except Exception as error:  # a plot must not cost the report
            logger.exception("plot %s failed", label)
            errors.append(f"plot {label}: {type(error).__name__}: {error}")
            continue
        if path is not None:
            drawn[label] = str(path)
    return drawn, errors


def _save(figure, path: Path, pyplot) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path
