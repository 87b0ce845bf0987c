"""One command measures the whole system against its baselines, with a report.

    .venv/bin/python -m bench.run                 # quick: under 10 minutes on 2 CPU cores
    .venv/bin/python -m bench.run --full          # full: under an hour
    .venv/bin/python -m bench.run --data-dir DIR --out var/bench/report --only quality search

Sections, in one process tree and one sitting so that their ratios are comparable:

- throughput: catalog embedding images/s through the data path beside the forward pass;
- latency: looks end to end through the API and a real worker (a stack started here, or
  ``--base-url``/``--api-key``), and the detector alone on one photo;
- search: filtered top-20 in PostgreSQL (selector, naive HNSW, exact) at 100k (and 1M
  in full mode), beside in-process FAISS indexes over the same vectors;
- quality: the recommender's evaluations (retrieval, tagging, pipeline, detection), each
  beside its baseline;
- memory: the workers' peak RSS, the database bytes per 100k products.

Writes ``OUT/results.json`` (every figure with its unit, environment, dataset hashes)
and ``OUT/report.md`` with plots, after every section. A failing sub-benchmark is
recorded and the run goes on; the exit code is 1 when anything failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import environment, plots, report  # noqa: E402
from bench.harness import PROJECT_ROOT, display, progress  # noqa: E402
from bench.latency import LatencyPlan, run_latency  # noqa: E402
from bench.options import MODES, SECTIONS, parse_arguments  # noqa: E402
from bench.quality import QualityPlan, run_quality  # noqa: E402
from bench.results import SKIPPED, SectionResult, failed_sections  # noqa: E402
from bench.speed import (  # noqa: E402
    SearchPlan,
    ThroughputPlan,
    memory_section,
    run_search,
    run_throughput,
)
from bench.subset import street_subset  # noqa: E402

logger = logging.getLogger("bench.run")


def newest(models_dir: Path, filename: str) -> Path | None:
    found = list(models_dir.glob(f"*/{filename}")) if models_dir.is_dir() else []
    return max(found, key=lambda path: path.stat().st_mtime, default=None)


def resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def short_hash(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]


def probe_environment(device: str) -> dict[str, Any]:
    try:
        return environment.environment(device)
    except Exception as error:  # the figures matter more than their labels
        logger.exception("environment probe failed")
        return {"error": f"{type(error).__name__}: {error}"}


class Run:
    """The run's document, written (JSON and Markdown) after every section."""

    def __init__(self, arguments: argparse.Namespace, argv: list[str]) -> None:
        self.arguments = arguments
        self.mode = MODES[arguments.mode]
        self.out: Path = arguments.out.resolve()
        self.device = resolve_device(arguments.device)
        self.data_dir: Path = arguments.data_dir.resolve()
        self.embedder = arguments.embedder or newest(arguments.models_dir, "embedder.pt")
        self.detector = arguments.detector or newest(arguments.models_dir, "detector.pt")
        self.started = time.perf_counter()
        self.sections: dict[str, SectionResult] = {}
        self.document: dict[str, Any] = {
            "benchmark": "shopalook system benchmark",
            "mode": arguments.mode,
            "command": " ".join(["python -m bench.run", *argv]),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "environment": probe_environment(self.device),
            "data": environment.dataset_fingerprint(self.data_dir),
            "models": {
                "embedder": environment.model_fingerprint(self.embedder),
                "detector": environment.model_fingerprint(self.detector),
            },
        }

    def write(self) -> None:
        self.document["wall_seconds"] = round(time.perf_counter() - self.started, 1)
        self.document["sections"] = {
            name: self.sections[name].to_dict() for name in SECTIONS if name in self.sections
        }
        self.document["failed"] = failed_sections(self.sections)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "results.json").write_text(json.dumps(self.document, indent=1))
        (self.out / "report.md").write_text(report.render_report(self.document, self.out))


def selected_sections(arguments: argparse.Namespace) -> list[str]:
    chosen = arguments.only or list(SECTIONS)
    return [name for name in SECTIONS if name in chosen and name not in arguments.skip]


def run_section(run: Run, name: str) -> None:
    section = SectionResult(name)
    started = time.perf_counter()
    progress(f"== {name} ==")
    try:
        with section.step(name):
            SECTION_RUNNERS[name](run, section)
    finally:
        run.sections[name] = section.finish(started)
        run.write()
    progress(f"== {name}: {section.status} in {section.seconds:.0f} s ==")


def throughput(run: Run, section: SectionResult) -> None:
    mode = run.mode
    plan = ThroughputPlan(
        out_dir=run.out / "throughput",
        data_dir=run.data_dir,
        embedder=run.embedder,
        device=run.device,
        images=mode.throughput_images,
        repeats=mode.throughput_repeats,
        timeout_s=mode.step_timeout_s,
    )
    run_throughput(plan, section)


def latency(run: Run, section: SectionResult) -> None:
    mode, arguments = run.mode, run.arguments
    plan = LatencyPlan(
        out_dir=run.out / "latency",
        data_dir=run.data_dir,
        models_dir=arguments.models_dir.resolve(),
        detector=run.detector,
        embedder=run.embedder,
        device=run.device,
        base_url=arguments.base_url,
        api_key=arguments.api_key,
        stack_var=None if arguments.stack_var else PROJECT_ROOT / "var" / "bench" / "stack",
        sample=mode.stack_sample,
        looks=mode.looks,
        warmup=2,
        load_clients=mode.load_clients,
        load_seconds=mode.load_seconds,
        detection_repeats=mode.detection_repeats,
        compare_unfused=mode.compare_unfused,
        timeout_s=mode.step_timeout_s,
    )
    run_latency(plan, section)


def search(run: Run, section: SectionResult) -> None:
    mode = run.mode
    plan = SearchPlan(
        out_dir=run.out / "search",
        sizes=mode.search_sizes,
        queries=mode.search_queries,
        ef_search=mode.search_ef,
        timeout_s=mode.search_timeout_s,
    )
    run_search(plan, section)


def quality(run: Run, section: SectionResult) -> None:
    mode, arguments = run.mode, run.arguments
    street_data = run.data_dir
    if mode.street_fraction < 1:
        street_data, kept, total = street_subset(
            run.data_dir, PROJECT_ROOT / "var" / "bench" / "quick-data", mode.street_fraction
        )
        section.notes.append(
            f"Quick mode: detection on {kept} of the {total} street photos (picked by name "
            f"hash; their test split only), the pipeline on the first {mode.pipeline_limit} "
            "held-out pairs; retrieval and tagging on everything."
        )
    plan_keys = baseline_keys(run, street_data)
    cache = arguments.feature_cache or (
        run.embedder.parent / "feature_cache"
        if run.embedder and (run.embedder.parent / "feature_cache").is_dir()
        else PROJECT_ROOT / "var" / "bench" / "feature_cache"
    )
    # One detector through the pipeline: on 2 CPU cores each costs ~1 s per photo.
    variants = ("trained detector",) if run.detector else ("zero-shot, localise top",)
    plan = QualityPlan(
        data_dir=run.data_dir,
        street_data_dir=street_data,
        out_dir=run.out / "quality",
        embedder=run.embedder,
        detector=run.detector,
        feature_cache=cache.resolve(),
        device=run.device,
        pipeline_limit=mode.pipeline_limit,
        pipeline_variants=variants,
        examples=mode.examples,
        reuse_baselines=mode.reuse_baselines and not arguments.fresh_baselines,
        baseline_cache=PROJECT_ROOT / "var" / "bench" / "cache",
        baseline_keys=plan_keys,
        timeout_s=mode.step_timeout_s,
    )
    section.notes.append(f"Feature cache: {display(plan.feature_cache)}.")
    run_quality(plan, section)


def baseline_keys(run: Run, street_data: Path) -> dict[str, str]:
    """Cache keys of the baselines: the recommender's code and the files each one reads."""
    code = environment.source_version("recommender")
    files = run.document["data"]["files"]
    embedder = run.document["models"]["embedder"]
    street_tags = street_data / "street" / "derived" / "image_tags.csv"
    return {
        "tagging": short_hash(
            code, files.get("catalog/catalog.csv"), embedder and embedder["sha256"]
        ),
        "detection": short_hash(
            code,
            files.get("street/derived/boxes.csv"),
            street_tags.is_file() and environment.sha256_file(street_tags),
        ),
    }


def memory(run: Run, section: SectionResult) -> None:
    latency_details = run.sections.get("latency", SectionResult("latency")).details
    search_details = run.sections.get("search", SectionResult("search")).details
    memory_section(section, latency_details.get("worker_memory"), search_details.get("search"))


SECTION_RUNNERS = {
    "throughput": throughput,
    "latency": latency,
    "search": search,
    "quality": quality,
    "memory": memory,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if not arguments.data_dir.is_dir():
        print(f"error: data folder {arguments.data_dir} not found (--data-dir)", file=sys.stderr)
        return 2
    for option in ("embedder", "detector"):
        path = getattr(arguments, option)
        if path is not None and not path.is_file():
            print(f"error: --{option} {path} not found", file=sys.stderr)
            return 2
    for variable in ("DATABASE_URL", "REDIS_URL"):
        # search.py truncates its database's catalog: never let it reach a real one.
        if os.environ.pop(variable, None):
            progress(f"bench: ignoring {variable}; the bench runs its own embedded services")
    run = Run(arguments, argv)
    progress(
        f"bench: {arguments.mode} mode on {run.device}; report in {display(run.out)}; "
        f"embedder {display(run.embedder) if run.embedder else 'none'}, "
        f"detector {display(run.detector) if run.detector else 'none'}"
    )
    chosen = selected_sections(arguments)
    for name in SECTIONS:
        if name not in chosen:
            run.sections[name] = SectionResult(name, status=SKIPPED)
    try:
        for name in chosen:
            run_section(run, name)
    except KeyboardInterrupt:
        progress("interrupted: writing what was measured")
        run.write()
        return 130
    drawn, errors = plots.draw_all(run.document, run.out / "plots")
    run.document["plots"], run.document["plot_errors"] = drawn, errors
    run.write()
    failed = run.document["failed"]
    progress(
        f"bench: done in {run.document['wall_seconds']:.0f} s; "
        f"{display(run.out / 'report.md')}, {display(run.out / 'results.json')}"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    print(report.summary_table(run.document))
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
