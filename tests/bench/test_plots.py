"""Plots drawn from a run's JSON document; a missing section draws nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.plots import draw_all

pytest.importorskip("matplotlib")


def test_plots_of_the_sections_that_ran(detection_metrics, search_results, tmp_path):
    document = {
        "sections": {
            "latency": {"details": {"looks": {"latency": {"samples_ms": [510.0, 530.5, 990.0]}}}},
            "search": {"details": {"search": search_results}},
            "quality": {
                "details": {
                    "detection": detection_metrics,
                    "recall_curves": {"ImageNet, GT crop": {"1": 0.03, "5": 0.04, "20": 0.07}},
                }
            },
        }
    }
    drawn, errors = draw_all(document, tmp_path)
    assert errors == []
    assert set(drawn) == {
        "recall@k curves",
        "look latency histogram",
        "CorLoc per class",
        "search latency per method",
    }
    assert all(Path(path).read_bytes()[:4] == b"\x89PNG" for path in drawn.values())


def test_no_plot_without_data(tmp_path):
    assert draw_all({"sections": {}}, tmp_path) == ({}, [])


def test_a_broken_plot_is_an_error_not_a_crash(tmp_path):
    document = {"sections": {"latency": {"details": {"looks": {"latency": {"samples_ms": "x"}}}}}}
    drawn, errors = draw_all(document, tmp_path)
    assert drawn == {} and errors[0].startswith("plot look latency histogram:")
