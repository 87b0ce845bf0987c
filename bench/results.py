"""What a benchmark run records: figures with units and baselines, per section, with errors.

A section collects figures from its steps; a step that fails records its error in the
section and the run goes on (``SectionResult.step``). The whole run is one JSON document
(``RunResult.to_dict``) from which the Markdown report is rendered.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

OK, PARTIAL, FAILED, SKIPPED = "ok", "partial", "failed", "skipped"


@dataclass
class Figure:
    """One measured number, its unit, and (where there is one) the baseline beside it."""

    group: str  # e.g. "retrieval", "pipeline", "search 100000"
    name: str
    value: float | int | str | None
    unit: str  # "share", "ms", "images/s", "bytes", "s", ...
    baseline: float | int | None = None
    baseline_label: str | None = None  # what the baseline is, e.g. "ImageNet features"
    higher_is_better: bool | None = None
    headline: bool = False  # shown in the report's summary table

    def ratio(self) -> float | None:
        """value / baseline where both are positive numbers."""
        if not isinstance(self.value, int | float) or not isinstance(self.baseline, int | float):
            return None
        return round(self.value / self.baseline, 3) if self.baseline else None


@dataclass
class SectionResult:
    """One section of the run (quality, latency, ...): its figures, files and errors."""

    name: str
    status: str = OK
    seconds: float = 0.0
    figures: list[Figure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)  # label -> path in the report
    details: dict[str, Any] = field(default_factory=dict)  # raw JSON of the sub-benchmarks

    def add(self, group: str, name: str, value, unit: str, **extra) -> Figure:
        figure = Figure(group, name, value, unit, **extra)
        self.figures.append(figure)
        return figure

    def record_error(self, step: str, message: str) -> None:
        self.errors.append(f"{step}: {message}")
        logger.error("[%s] %s failed: %s", self.name, step, message)

    @contextlib.contextmanager
    def step(self, step: str) -> Iterator[None]:
        """Run a step; an exception is recorded as this section's error, not raised."""
        try:
            yield
        except Exception as error:  # a failing sub-benchmark must not stop the run
            logger.debug("%s", traceback.format_exc())
            self.record_error(step, f"{type(error).__name__}: {error}")

    def finish(self, started: float) -> SectionResult:
        """Set the duration and the status from the errors and figures."""
        self.seconds = round(time.perf_counter() - started, 1)
        if self.status == SKIPPED:
            return self
        if self.errors:
            self.status = PARTIAL if self.figures else FAILED
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for figure, raw in zip(self.figures, data["figures"], strict=True):
            raw["ratio_to_baseline"] = figure.ratio()
        return data


def section_from_dict(data: dict[str, Any]) -> SectionResult:
    figures = [
        Figure(**{key: value for key, value in raw.items() if key != "ratio_to_baseline"})
        for raw in data.get("figures", [])
    ]
    return SectionResult(**{**data, "figures": figures})


def failed_sections(sections: dict[str, SectionResult]) -> list[str]:
    """Names of the sections with any error (partial or failed)."""
    return [name for name, section in sections.items() if section.errors]
