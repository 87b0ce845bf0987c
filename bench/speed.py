"""Throughput, search and memory sections: bench/embedding_throughput.py, bench/search.py,
and the memory figures gathered from the latency and search sections."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import PROJECT_ROOT, progress, python_script, run_command
from bench.results import SectionResult

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
FIGURE_EF_SEARCH = "100"  # the selector's default (shop.selectors.search.DEFAULT_EF_SEARCH)
DATABASE_METHODS = {"selector": "selector (iterative HNSW)", "naive_hnsw": "naive filtered HNSW"}
IN_PROCESS_METHODS = {
    "faiss_per_type_hnsw": "FAISS HNSW per article type",
    "faiss_global_hnsw_filtered": "FAISS global HNSW + id filter",
}


@dataclass(frozen=True)
class ThroughputPlan:
    out_dir: Path
    data_dir: Path
    embedder: Path | None
    device: str
    images: int
    repeats: int
    timeout_s: float


@dataclass(frozen=True)
class SearchPlan:
    out_dir: Path
    sizes: tuple[int, ...]
    queries: int
    ef_search: tuple[int, ...]
    timeout_s: float


def run_throughput(plan: ThroughputPlan, section: SectionResult) -> None:
    out = plan.out_dir / "embedding_throughput.json"
    command = python_script(
        "bench/embedding_throughput.py",
        *("--data-dir", str(plan.data_dir), "--device", plan.device, "--out", str(out)),
        *("--images", str(plan.images), "--repeats", str(plan.repeats)),
    )
    if plan.embedder:
        command += ["--checkpoint", str(plan.embedder)]
    with section.step("embedding throughput"):
        progress(f"[throughput] {plan.images} catalog images, {plan.repeats} passes ...")
        run_command(
            command, log_path=plan.out_dir / "logs" / "throughput.log", timeout_s=plan.timeout_s
        )
        results = json.loads(out.read_text())
        section.details["embedding"] = results
        throughput_figures(results, section)


def throughput_figures(results: dict[str, Any], section: SectionResult) -> None:
    group = (
        f"catalog embedding, {results['model']}, batch {results['batch_size']}, "
        f"{results['device_name']}"
    )
    section.add(
        group,
        "data path + model (read, decode, resize, forward)",
        results["pipeline_images_per_second"],
        "images/s",
        baseline=results["forward_images_per_second"],
        baseline_label="forward pass alone",
        higher_is_better=True,
        headline=True,
    )
    section.add(group, "forward pass alone", results["forward_images_per_second"], "images/s")
    section.add(
        group,
        "data path speed as a share of the forward pass's",
        results["pipeline_share_of_forward_speed"],
        "share",
        higher_is_better=True,
    )


def run_search(plan: SearchPlan, section: SectionResult) -> None:
    out = plan.out_dir / "search.json"
    command = python_script(
        "bench/search.py",
        *("--sizes", *map(str, plan.sizes), "--queries", str(plan.queries)),
        *("--ef-search", *map(str, plan.ef_search), "--out", str(out)),
    )
    with section.step("search"):
        progress(f"[search] sizes {', '.join(map(str, plan.sizes))}, {plan.queries} queries ...")
        seconds = run_command(
            command,
            log_path=plan.out_dir / "logs" / "search.log",
            timeout_s=plan.timeout_s,
            # Its own PostgreSQL, whatever VAR_DIR says: it truncates the catalog it loads into.
            env={"VAR_DIR": str(PROJECT_ROOT / "var" / "bench")},
        )
        progress(f"[search] {seconds:.0f} s")
        results = json.loads(out.read_text())
        section.details["search"] = results
        search_figures(results, section)


def search_figures(results: dict[str, Any], section: SectionResult) -> None:
    """Figures at the selector's default ef_search (all settings stay in the details)."""
    largest = max(results["sizes"], key=int)
    for size, result in results["sizes"].items():
        group = f"search {int(size):,} products, filtered top-20"
        by_ef = result["by_ef_search"]
        ef = FIGURE_EF_SEARCH if FIGURE_EF_SEARCH in by_ef else next(iter(by_ef))
        database = by_ef[ef]
        naive = database["naive_hnsw"]
        selector = database["selector"]
        headline = size == largest
        for key, name, unit, better in (
            ("latency_ms_median", "median latency", "ms", False),
            ("latency_ms_p95", "p95 latency", "ms", False),
            ("recall_at_20", "recall@20 vs exact", "share", True),
            ("share_short_of_k", "queries short of 20 rows", "share", False),
        ):
            section.add(
                group,
                f"selector, ef_search {ef}: {name}",
                selector[key],
                unit,
                baseline=naive[key],
                baseline_label=f"naive filtered HNSW, ef_search {ef}",
                higher_is_better=better,
                headline=headline and key in ("latency_ms_median", "recall_at_20"),
            )
        section.add(
            group, "exact SQL search: median latency", database["exact"]["latency_ms_median"], "ms"
        )
        _in_process_figures(result.get("in_process"), selector, ef, group, section, headline)
        section.add(group, "database load (COPY + index)", result["load_seconds"], "s")
        section.add(group, "HNSW index build in PostgreSQL", result["index_build_seconds"], "s")


def _in_process_figures(
    in_process: dict | None, selector: dict, ef: str, group: str, section: SectionResult, headline
) -> None:
    if not in_process:
        return
    if "error" in in_process:
        section.notes.append(f"{group}: in-process indexes not measured: {in_process['error']}")
        return
    methods = in_process["by_ef_search"][ef]
    for method, label in IN_PROCESS_METHODS.items():
        for key, name, unit, better in (
            ("latency_ms_median", "median latency", "ms", False),
            ("recall_at_20", "recall@20 vs exact", "share", True),
        ):
            section.add(
                group,
                f"{label}, ef_search {ef}: {name}",
                methods[method][key],
                unit,
                baseline=selector[key],
                baseline_label="the database's selector",
                higher_is_better=better,
                headline=headline
                and method == "faiss_per_type_hnsw"
                and key == "latency_ms_median",
            )
        section.add(group, f"{label}: build", in_process["build_seconds"][method], "s")
    section.add(
        group,
        "numpy exact filtered search: median latency",
        methods["exact_numpy"]["latency_ms_median"],
        "ms",
    )


def memory_section(section: SectionResult, worker_memory: dict | None, search: dict | None) -> None:
    """Peak RSS of the workers with models loaded; database bytes per 100k products."""
    if worker_memory:
        for name, worker in sorted(worker_memory.items()):
            section.add(
                f"{name} worker (Celery main + pool child, models loaded)",
                "peak RSS of its largest process",
                round(worker["peak_rss_bytes"] / MIB, 1),
                "MiB",
                higher_is_better=False,
                headline=name == "looks",
            )
    else:
        section.notes.append("Worker memory not measured (no stack started by this run).")
    if not search:
        section.notes.append("Database size not measured (the search benchmark did not run).")
        return
    for size, result in search["sizes"].items():
        group = f"search database at {int(size):,} products, scaled to 100k"
        scale = 100_000 / int(size)
        in_process = result.get("in_process") or {}
        faiss_bytes = in_process.get("index_bytes", {}).get("faiss_global_hnsw_filtered")
        section.add(
            group,
            "embedding table + TOAST + indexes per 100k products",
            round(result["embedding_table_bytes"] * scale / MIB, 1),
            "MiB",
            baseline=round(faiss_bytes * scale / MIB, 1) if faiss_bytes else None,
            baseline_label="FAISS HNSW index in memory" if faiss_bytes else None,
            higher_is_better=False,
            headline=size == max(search["sizes"], key=int),
        )
        if "hnsw_index_bytes" in result:
            section.add(
                group,
                "HNSW index alone per 100k products",
                round(result["hnsw_index_bytes"] * scale / MIB, 1),
                "MiB",
                higher_is_better=False,
            )
