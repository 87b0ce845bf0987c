"""Recording figures and errors of a section."""

from __future__ import annotations

import time

from bench.results import (
    FAILED,
    OK,
    PARTIAL,
    SectionResult,
    failed_sections,
    section_from_dict,
)


def test_step_records_an_error_and_the_section_goes_on():
    section = SectionResult("quality")
    with section.step("retrieval evaluation"):
        raise RuntimeError("exit code 1: no pairs.csv")
    with section.step("detection evaluation"):
        section.add("detection", "CorLoc mean", 0.2, "share")
    section.finish(time.perf_counter())
    assert section.errors == ["retrieval evaluation: RuntimeError: exit code 1: no pairs.csv"]
    assert section.status == PARTIAL
    assert [figure.name for figure in section.figures] == ["CorLoc mean"]


def test_section_without_figures_and_with_an_error_failed():
    section = SectionResult("search")
    with section.step("search"):
        raise TimeoutError("timed out after 420 s")
    assert section.finish(time.perf_counter()).status == FAILED


def test_section_without_errors_is_ok():
    section = SectionResult("throughput")
    section.add("embedding", "forward pass alone", 70.0, "images/s")
    assert section.finish(time.perf_counter()).status == OK


def test_ratio_to_baseline_in_the_json():
    section = SectionResult("quality")
    section.add("retrieval", "R@1", 0.4, "share", baseline=0.1, baseline_label="ImageNet")
    section.add("retrieval", "R@5", None, "share", baseline=0.2)
    section.add("retrieval", "R@20", 0.5, "share", baseline=0)
    figures = section.to_dict()["figures"]
    assert [figure["ratio_to_baseline"] for figure in figures] == [4.0, None, None]


def test_section_round_trips_through_its_dict():
    section = SectionResult("latency", notes=["started the stack"])
    section.add("look", "median", 548.2, "ms", higher_is_better=False, headline=True)
    again = section_from_dict(section.to_dict())
    assert again == section


def test_failed_sections_lists_partial_and_failed_ones():
    good, partial, skipped = SectionResult("a"), SectionResult("b"), SectionResult("c")
    partial.record_error("step", "broken")
    assert failed_sections({"a": good, "b": partial, "c": skipped}) == ["b"]
