"""Latency section: a shopper's look end to end through the API and a real worker.

Starts the stack (``bench.stack``) unless ``--base-url`` names a running one, posts looks
with ``bench/looks.py`` (sequential latency; with the load test in full mode), reads the
workers' memory while the stack is still up, stops it, then times the detector alone on
one street photo with ``bench/detection_latency.py`` (nothing else running).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import stack as stack_module
from bench.harness import progress, python_script, run_command
from bench.results import SectionResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LatencyPlan:
    out_dir: Path  # report/latency
    data_dir: Path
    models_dir: Path
    detector: Path | None
    device: str
    base_url: str | None  # a running stack to measure instead of starting one
    api_key: str | None
    stack_var: Path | None  # VAR_DIR of the started stack; None: the default var/
    sample: int  # catalog products the started stack imports
    looks: int
    warmup: int
    load_clients: int
    load_seconds: float
    detection_repeats: int
    compare_unfused: bool
    timeout_s: float
    embedder: Path | None = None  # also time detection + embedding of all items


def street_photo(data_dir: Path) -> Path:
    """The photo every look posts: street/photos/0001.jpg, else the first street photo."""
    preferred = data_dir / "street" / "photos" / "0001.jpg"
    if preferred.is_file():
        return preferred
    found = sorted((data_dir / "street" / "photos").glob("*.jpg"))
    if not found:
        raise FileNotFoundError(f"no street photo under {data_dir / 'street' / 'photos'}")
    return found[0]


def run_latency(plan: LatencyPlan, section: SectionResult) -> None:
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    stack = None
    with section.step("stack start"):
        stack = _stack(plan, section)
    if stack is not None:
        try:
            with section.step("looks"):
                _looks(plan, section, stack)
            with section.step("worker memory"):
                if stack.process is None:
                    section.notes.append("Worker memory: not measured (a stack not started here).")
                else:
                    section.details["worker_memory"] = stack_module.worker_memory(stack.process.pid)
        finally:
            progress("[latency] stopping the stack ...")
            stack_module.stop_stack(stack)
    with section.step("detection latency"):
        _detection_latency(plan, section)


def _stack(plan: LatencyPlan, section: SectionResult) -> stack_module.Stack:
    if plan.base_url:
        if not plan.api_key:
            raise ValueError("--base-url needs --api-key")
        section.notes.append(f"Measured the running stack at {plan.base_url}.")
        return stack_module.Stack(plan.base_url, plan.api_key)
    progress(f"[latency] starting the stack ({plan.sample} products) ...")
    stack = stack_module.start_stack(
        var_dir=plan.stack_var,
        models_dir=plan.models_dir,
        data_dir=plan.data_dir,
        device=plan.device,
        sample=plan.sample,
        log_path=plan.out_dir / "logs" / "stack.log",
        timeout_s=plan.timeout_s,
    )
    section.notes.append(
        f"Started the stack (python -m shopalook demo, VAR_DIR "
        f"{plan.stack_var or 'var/'}, {plan.sample} products, per-key rate limits lifted)."
    )
    progress(f"[latency] stack ready at {stack.base_url}")
    return stack


def _looks(plan: LatencyPlan, section: SectionResult, stack: stack_module.Stack) -> None:
    out = plan.out_dir / "looks.json"
    command = python_script(
        "bench/looks.py",
        *("--base-url", stack.base_url, "--api-key", stack.api_key),
        *("--photo", str(street_photo(plan.data_dir)), "--out", str(out)),
        *("--latency", str(plan.looks), "--warmup", str(plan.warmup)),
        *("--load-clients", str(plan.load_clients), "--load-seconds", str(plan.load_seconds)),
    )
    progress(f"[latency] {plan.looks} looks" + (", load test" if plan.load_clients else ""))
    seconds = run_command(
        command, log_path=plan.out_dir / "logs" / "looks.log", timeout_s=plan.timeout_s
    )
    progress(f"[latency] looks: {seconds:.0f} s")
    results = json.loads(out.read_text())
    section.details["looks"] = results
    looks_figures(results, section)


def looks_figures(results: dict[str, Any], section: SectionResult) -> None:
    latency = results.get("latency")
    if latency and latency.get("count"):
        group = f"look end to end (POST -> result), {latency['count']} sequential looks"
        section.add(
            group, "median", latency["median_ms"], "ms", higher_is_better=False, headline=True
        )
        section.add(group, "p95", latency["p95_ms"], "ms", higher_is_better=False, headline=True)
        section.add(group, "max", latency["max_ms"], "ms", higher_is_better=False)
        section.add(group, "items found per look", latency["items_per_look"], "items")
        section.add(group, "failed looks", latency["failed_looks"], "looks", higher_is_better=False)
    load = results.get("load")
    if load:
        group = f"load test: {load['clients']} clients for {load['seconds']:.0f} s"
        section.add(group, "throughput", load["looks_per_second"], "looks/s", headline=True)
        for key, name in (("median_ms", "median"), ("p95_ms", "p95")):
            if key in load:
                section.add(group, name, load[key], "ms", higher_is_better=False)
        for key in ("http_errors", "failed_looks", "lost_looks"):
            section.add(group, key.replace("_", " "), load[key], "looks", higher_is_better=False)


def _baseline(
    result: dict, candidates: tuple[tuple[str, str], ...]
) -> tuple[float | None, str | None]:
    """The first of `candidates` (key, label) that `result` timed: its median and label."""
    for key, label in candidates:
        median = result.get(key, {}).get("median_ms")
        if median:
            return median, label
    return None, None


def _detection_latency(plan: LatencyPlan, section: SectionResult) -> None:
    out = plan.out_dir / "detection.json"
    photo = street_photo(plan.data_dir)
    command = python_script(
        "bench/detection_latency.py",
        *("--data-dir", str(plan.data_dir), "--image", str(photo.relative_to(plan.data_dir))),
        *("--repeats", str(plan.detection_repeats), "--device", plan.device, "--out", str(out)),
    )
    if plan.detector:
        command += ["--checkpoint", str(plan.detector)]
    if plan.compare_unfused:
        command.append("--compare-unfused")
    if plan.embedder:
        command += ["--embedder", str(plan.embedder)]
    progress("[latency] detection alone ...")
    run_command(command, log_path=plan.out_dir / "logs" / "detection.log", timeout_s=plan.timeout_s)
    result = json.loads(out.read_text())
    section.details["detection"] = result
    baseline, label = _baseline(  # the same network run by PyTorch, in float32, unfolded
        result,
        (
            ("torch_runtime", "PyTorch"),
            ("float32", "float32"),
            ("unfused", "batch norm not folded"),
        ),
    )
    section.add(
        f"detection alone, one {result['image_size'][0]}x{result['image_size'][1]} photo, "
        f"{'trained' if plan.detector else 'zero-shot'} detector, {plan.device}, "
        f"{result.get('precision', 'float32')}, {result.get('runtime', 'torch')}",
        "median",
        result["median_ms"],
        "ms",
        baseline=baseline,
        baseline_label=label if baseline else None,
        higher_is_better=False,
        headline=True,
    )
    look = result.get("look")
    if look:
        look_baseline, look_label = _baseline(
            look, (("torch_runtime", "networks run by PyTorch"), ("float32", "float32 detector"))
        )
        section.add(
            f"detection + embedding of all {look['items']} items, same photo, {plan.device}",
            "median",
            look["median_ms"],
            "ms",
            baseline=look_baseline,
            baseline_label=look_label,
            higher_is_better=False,
            headline=True,
        )
