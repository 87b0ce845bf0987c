"""The Markdown report, rendered from a run's JSON document alone."""

from __future__ import annotations

import json

from bench.quality_figures import detection_figures, retrieval_figures
from bench.report import format_value, markdown_table, render_report, summary_rows
from bench.results import SKIPPED, SectionResult
from bench.speed import search_figures


def _run_document(retrieval_results, detection_metrics, search_results, tmp_path) -> dict:
    quality = SectionResult("quality", seconds=120.0)
    retrieval_figures(retrieval_results, quality)
    detection_figures(detection_metrics, quality)
    quality.record_error("pipeline evaluation (trained detector)", "exit code 1: out of memory")
    quality.artifacts["CorLoc per class (evaluation CLI)"] = str(tmp_path / "quality/corloc.png")
    quality.details["retrieval"] = {
        "baseline_reproduction": retrieval_results["baseline_reproduction"]
    }
    quality.finish(0.0)
    search = SectionResult("search", seconds=100.0)
    search_figures(search_results, search)
    search.details["search"] = search_results
    document = {
        "mode": "quick",
        "started_at": "2026-11-27T05:00:00+0000",
        "wall_seconds": 420.0,
        "command": "python -m bench.run",
        "environment": {
            "device": {"type": "cpu", "name": "AMD EPYC"},
            "versions": {"torch": "2.14.1"},
        },
        "models": {
            "embedder": {"path": "var/models/e/embedder.pt", "sha256": "ab" * 32},
            "detector": None,
        },
        "data": {
            "data_dir": "/data",
            "files": {"catalog/catalog.csv": {"sha256": "cd" * 32, "lines": 10}},
        },
        "sections": {
            "throughput": SectionResult("throughput", status=SKIPPED).to_dict(),
            "search": search.to_dict(),
            "quality": quality.to_dict(),
        },
        "failed": ["quality"],
        "plots": {"recall@k curves": str(tmp_path / "plots/recall_at_k.png")},
    }
    return json.loads(json.dumps(document))  # as read back from results.json


def test_report_has_summary_errors_plots_and_missing_rows(
    retrieval_results, detection_metrics, search_results, tmp_path
):
    document = _run_document(retrieval_results, detection_metrics, search_results, tmp_path)
    markdown = render_report(document, tmp_path)
    assert "## Summary" in markdown
    assert (
        "| quality | retrieval: held-out pairs, GT top crop, gallery 10209: exact match R@1 "
        "| 0.412 | share | 0.027 (ImageNet features) | ×15.26 |"
    ) in markdown
    assert "**Failed sections: quality**" in markdown
    assert "- ERROR: pipeline evaluation (trained detector): exit code 1: out of memory" in markdown
    assert "![recall@k curves](plots/recall_at_k.png)" in markdown
    assert "![CorLoc per class (evaluation CLI)](quality/corloc.png)" in markdown
    assert "detector: none (trained rows missing)" in markdown
    assert "| 100 | faiss_per_type_hnsw | 0.25 | 0.5 | 0.993 | 0.000 |" in markdown
    assert (
        "| ground-truth top crop | 2032 shop photos | 0.090 / 0.170 / 0.280 "
        "| 0.089 / 0.169 / 0.281 |" in markdown
    )
    assert "Status: **skipped**" in markdown


def test_summary_rows_are_the_headline_figures_and_failures(
    retrieval_results, detection_metrics, search_results, tmp_path
):
    document = _run_document(retrieval_results, detection_metrics, search_results, tmp_path)
    rows = summary_rows(document)
    figures = [row[1] for row in rows]
    assert (
        "search 100,000 products, filtered top-20: selector, ef_search 100: median latency"
        in figures
    )
    assert any(f.endswith("CorLoc mean") for f in figures)
    assert ["quality", "PARTIAL: 1 error(s)"] in rows
    assert not any(f.endswith("exact match R@5") for f in figures)  # not a headline


def test_missing_trained_value_reads_missing():
    assert format_value(None, "share") == "missing"
    assert format_value(0.41234, "share") == "0.412"
    assert format_value(1347.34, "MiB") == "1,347.3"
    assert format_value(282509312, "bytes") == "282,509,312"
    assert format_value(5.27, "ms") == "5.27"


def test_markdown_table_escapes_pipes_and_pads_rows():
    table = markdown_table(["a", "b"], [["x|y"]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y |  |"]
