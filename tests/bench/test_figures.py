"""Figures read from the sub-benchmarks' JSON, each beside its baseline."""

from __future__ import annotations

from bench.latency import looks_figures
from bench.quality_figures import (
    detection_figures,
    pipeline_figures,
    recall_curves,
    retrieval_figures,
    tagging_figures,
)
from bench.results import SectionResult
from bench.speed import memory_section, search_figures, throughput_figures


def _by_name(section: SectionResult) -> dict:
    return {(figure.group.split(":")[0], figure.name): figure for figure in section.figures}


def test_retrieval_figures_put_the_trained_model_beside_imagenet(retrieval_results):
    section = SectionResult("quality")
    retrieval_figures(retrieval_results, section)
    figures = _by_name(section)
    r1 = figures[("retrieval", "exact match R@1")]
    assert (r1.value, r1.baseline, r1.unit) == (0.412, 0.027, "share")
    assert r1.baseline_label == "ImageNet features" and r1.headline
    assert figures[("retrieval", "seed recall@10")].value == 0.45
    assert ("retrieval", "exact match R@1, filter articleType (predicted)") in figures


def test_retrieval_without_a_trained_model_reports_the_baseline_and_missing_values(
    retrieval_results,
):
    del retrieval_results["exact_match"]["tag-embedder-quick@97da1d4d1856"]
    del retrieval_results["catalog_recall"]["tag-embedder-quick@97da1d4d1856"]
    section = SectionResult("quality")
    retrieval_figures(retrieval_results, section)
    assert section.figures
    assert all(figure.value is None and figure.baseline is not None for figure in section.figures)


def test_tagging_figures_without_a_trained_tagger_keep_the_probe():
    section = SectionResult("quality")
    tagging_figures(None, {"articleType": 0.865}, "linear probe", section)
    article_type = section.figures[0]
    assert (article_type.name, article_type.value, article_type.baseline) == (
        "articleType",
        None,
        0.865,
    )


def test_pipeline_figures_compare_with_the_whole_photo(pipeline_results):
    section = SectionResult("quality")
    pipeline_figures(pipeline_results, "trained detector", section)
    full_r20 = next(f for f in section.figures if f.name == "full pipeline R@20")
    assert (full_r20.value, full_r20.baseline) == (0.45, 0.16)
    assert full_r20.baseline_label == "whole photo, no detection"
    assert "60 held-out pairs" in full_r20.group


def test_detection_figures_have_corloc_per_class_and_mean(detection_metrics):
    section = SectionResult("quality")
    detection_figures(detection_metrics, section)
    names = [figure.name for figure in section.figures]
    assert names[:7] == [
        f"CorLoc {c}" for c in ("footwear", "bag", "top", "bottom", "dress", "eyewear", "mean")
    ]
    mean = section.figures[6]
    assert mean.baseline == 0.175 and abs(mean.value - 0.275) < 1e-9 and mean.headline


def test_recall_curves_from_retrieval_and_pipelines(retrieval_results, pipeline_results):
    curves = recall_curves(retrieval_results, {"trained detector": pipeline_results})
    assert set(curves) == {
        "ImageNet, GT crop",
        "tag-embedder-quick, GT crop",
        "full pipeline (trained detector)",
        "whole photo (trained detector)",
    }
    assert curves["ImageNet, GT crop"][1] == 0.027 and len(curves["ImageNet, GT crop"]) == 50


def test_search_figures_put_the_selector_beside_the_naive_query(search_results):
    section = SectionResult("search")
    search_figures(search_results, section)
    figures = {figure.name: figure for figure in section.figures}
    median = figures["selector, ef_search 100: median latency"]
    assert (median.value, median.baseline, median.unit) == (5.3, 8.1, "ms")
    faiss = figures["FAISS HNSW per article type, ef_search 100: median latency"]
    assert (faiss.value, faiss.baseline, faiss.baseline_label) == (
        0.25,
        5.3,
        "the database's selector",
    )


def test_search_without_faiss_notes_why(search_results):
    search_results["sizes"]["100000"]["in_process"] = {"error": "No module named 'faiss'"}
    section = SectionResult("search")
    search_figures(search_results, section)
    assert not any("FAISS" in figure.name for figure in section.figures)
    assert "No module named 'faiss'" in section.notes[0]


def test_memory_figures_scale_the_database_to_100k(search_results):
    worker = {"looks": {"peak_rss_bytes": 1024**3, "processes": []}}
    section = SectionResult("memory")
    memory_section(section, worker, search_results)
    figures = {figure.name: figure for figure in section.figures}
    assert figures["peak RSS of its largest process"].value == 1024.0
    table = figures["embedding table + TOAST + indexes per 100k products"]
    assert table.unit == "MiB" and table.value == round(282_509_312 / 1024**2, 1)
    assert table.baseline_label == "FAISS HNSW index in memory"


def test_memory_without_stack_or_search_says_so():
    section = SectionResult("memory")
    memory_section(section, None, None)
    assert not section.figures and len(section.notes) == 2


def test_throughput_figures_compare_the_data_path_with_the_forward_pass():
    results = {
        "model": "imagenet",
        "batch_size": 32,
        "device_name": "cpu",
        "pipeline_images_per_second": 60.0,
        "forward_images_per_second": 80.0,
        "pipeline_share_of_forward_speed": 0.75,
    }
    section = SectionResult("throughput")
    throughput_figures(results, section)
    assert section.figures[0].ratio() == 0.75


def test_looks_figures_for_latency_and_load():
    results = {
        "latency": {"count": 10, "median_ms": 548.2, "p95_ms": 647.4, "max_ms": 986.3,
                    "items_per_look": 6, "failed_looks": 0},
        "load": {"clients": 20, "seconds": 61.2, "looks_per_second": 2.9, "count": 170,
                 "median_ms": 6000.0, "p95_ms": 9000.0, "http_errors": 0, "failed_looks": 1,
                 "lost_looks": 0},
    }  # fmt: skip
    section = SectionResult("latency")
    looks_figures(results, section)
    headlines = [(f.name, f.value, f.unit) for f in section.figures if f.headline]
    assert headlines == [
        ("median", 548.2, "ms"),
        ("p95", 647.4, "ms"),
        ("throughput", 2.9, "looks/s"),
    ]
    assert any(f.name == "failed looks" and f.value == 1 for f in section.figures)
