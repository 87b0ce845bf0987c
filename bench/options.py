"""The command line of ``python -m bench.run`` and what quick and full mode measure."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from bench.harness import PROJECT_ROOT

SECTIONS = ("throughput", "latency", "search", "quality", "memory")


@dataclass(frozen=True)
class Mode:
    """What quick and full mode measure (sizes, counts) and how long a step may take."""

    throughput_images: int
    throughput_repeats: int
    looks: int
    load_clients: int
    load_seconds: float
    stack_sample: int
    detection_repeats: int
    compare_unfused: bool
    search_sizes: tuple[int, ...]
    search_queries: int
    search_ef: tuple[int, ...]
    pipeline_limit: int | None
    street_fraction: float
    examples: int
    reuse_baselines: bool
    step_timeout_s: float
    search_timeout_s: float


MODES = {
    "quick": Mode(
        throughput_images=64,
        throughput_repeats=2,
        looks=10,
        load_clients=0,
        load_seconds=0,
        stack_sample=30,
        detection_repeats=5,
        compare_unfused=False,
        search_sizes=(100_000,),
        search_queries=50,
        search_ef=(40, 100),
        pipeline_limit=40,
        street_fraction=0.25,
        examples=3,
        reuse_baselines=True,
        step_timeout_s=420,
        search_timeout_s=420,
    ),
    "full": Mode(
        throughput_images=512,
        throughput_repeats=3,
        looks=100,
        load_clients=20,
        load_seconds=60,
        stack_sample=300,
        detection_repeats=20,
        compare_unfused=True,
        search_sizes=(100_000, 1_000_000),
        search_queries=100,  # exact SQL at 1M takes ~1.5 s a query here
        search_ef=(40, 100, 200),
        pipeline_limit=None,
        street_fraction=1.0,
        examples=6,
        reuse_baselines=False,
        step_timeout_s=1800,
        search_timeout_s=2700,
    ),
}


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Measure the whole system against its baselines, with a report (bench/run.py).",
    )
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="(default) subsampled: under 10 minutes on 2 CPU cores",
    )
    speed.add_argument(
        "--full",
        dest="mode",
        action="store_const",
        const="full",
        help="everything, search at 1M, load test: under an hour",
    )
    parser.set_defaults(mode="quick")
    default_data = Path(os.environ.get("DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default_data,
        help="a folder in the layout of ../shared/data (default: DATA_DIR or ../shared/data)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=PROJECT_ROOT / "var" / "bench" / "report",
        help="report folder: results.json, report.md, plots (default var/bench/report)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=PROJECT_ROOT / "var" / "models",
        help="trained checkpoints; the started stack's MODEL_DIR (default var/models)",
    )
    parser.add_argument("--embedder", type=Path, help="default: newest MODELS_DIR/*/embedder.pt")
    parser.add_argument("--detector", type=Path, help="default: newest MODELS_DIR/*/detector.pt")
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: cuda when available",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )
    parser.add_argument(
        "--skip", nargs="+", choices=SECTIONS, default=[], metavar="SECTION", help="leave these out"
    )
    parser.add_argument("--base-url", help="measure this running stack instead of starting one")
    parser.add_argument("--api-key", help="its API key (with --base-url)")
    parser.add_argument(
        "--stack-var",
        action="store_true",
        help="start the stack on the default var/ (its database and catalog), "
        "not on var/bench/stack",
    )
    parser.add_argument(
        "--feature-cache",
        type=Path,
        help="pooled-feature cache of the evaluations (default: the embedder's "
        "feature_cache folder if present, else var/bench/feature_cache)",
    )
    parser.add_argument(
        "--fresh-baselines",
        action="store_true",
        help="recompute the tagging probe and zero-shot CorLoc even in quick mode",
    )
    arguments = parser.parse_args(argv)
    if arguments.base_url and not arguments.api_key:
        parser.error("--base-url needs --api-key")
    return arguments
