"""The quality section's glue: commands, baselines cached and reused, figures, errors.

The evaluation CLIs are replaced by a fake runner that writes their JSON where the
command says (`--out`), so these tests take milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import quality
from bench.harness import CommandError
from bench.quality import QualityPlan, run_quality
from bench.results import SectionResult


@pytest.fixture
def fake_clis(monkeypatch, retrieval_results, pipeline_results, detection_metrics):
    """Replace run_command; returns the list of commands it was given."""
    commands: list[list[str]] = []
    failing: set[str] = set()

    def write(path: Path, data: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))

    def run_command(command, *, log_path, timeout_s, env=None):
        commands.append(command)
        module = command[2]
        if module in failing:
            raise CommandError(f"exit code 1: {module} broke")
        out = Path(command[command.index("--out") + 1])
        if module == "recommender.evaluate.retrieval":
            write(out / "results.json", retrieval_results)
        elif module == "bench.tagging_probe":
            write(out, {"top1": {"articleType": 0.878, "baseColour": 0.527}, "mAP": 0.5})
        elif module == "recommender.evaluate.pipeline":
            write(out / "results.json", pipeline_results)
        elif module == "recommender.evaluate.detection":
            write(out / "detection_metrics.json", detection_metrics)
        elif module == "bench.detection_examples":
            example = {"photo": "photos/0001.jpg", "png": "example-0001.png", "detections": []}
            write(out / "examples.json", {"examples": [example]})
        return 0.1

    monkeypatch.setattr(quality, "run_command", run_command)
    return commands, failing


def _plan(tmp_path: Path, *, reuse: bool, detector: bool = True) -> QualityPlan:
    return QualityPlan(
        data_dir=tmp_path / "data",
        street_data_dir=tmp_path / "quick-data",
        out_dir=tmp_path / "report" / "quality",
        embedder=tmp_path / "models" / "embedder.pt",
        detector=tmp_path / "models" / "detector.pt" if detector else None,
        feature_cache=tmp_path / "cache",
        device="cpu",
        pipeline_limit=40,
        pipeline_variants=("trained detector",),
        examples=1,
        reuse_baselines=reuse,
        baseline_cache=tmp_path / "baselines",
        baseline_keys={"tagging": "t1", "detection": "d1"},
        timeout_s=60,
    )


def _modules(commands: list[list[str]]) -> list[str]:
    return [command[2] for command in commands]


def test_full_mode_runs_every_evaluation_and_caches_the_baselines(fake_clis, tmp_path):
    commands, _ = fake_clis
    section = SectionResult("quality")
    run_quality(_plan(tmp_path, reuse=False), section)
    assert section.errors == []
    assert _modules(commands) == [
        "recommender.evaluate.retrieval",
        "bench.tagging_probe",
        "recommender.evaluate.pipeline",
        "recommender.evaluate.detection",
        "bench.detection_examples",
    ]
    pipeline = commands[2]
    assert pipeline[pipeline.index("--limit") + 1] == "40"
    assert pipeline[pipeline.index("--detector") + 1].endswith("detector.pt")
    assert (tmp_path / "baselines" / "tagging-probe-t1.json").is_file()
    assert (tmp_path / "baselines" / "detection-d1.json").is_file()
    article_type = next(f for f in section.figures if f.name == "articleType")
    assert (article_type.value, article_type.baseline) == (0.875, 0.878)
    assert any("full pipeline" in name for name in section.details["recall_curves"])


def test_quick_mode_reuses_cached_baselines(fake_clis, tmp_path):
    commands, _ = fake_clis
    run_quality(_plan(tmp_path, reuse=False), SectionResult("quality"))
    commands.clear()
    section = SectionResult("quality")
    run_quality(_plan(tmp_path, reuse=True), section)
    assert "bench.tagging_probe" not in _modules(commands)
    detection = commands[_modules(commands).index("recommender.evaluate.detection")]
    assert detection[detection.index("--baseline-from") + 1].endswith("detection-d1.json")
    assert sum("reused" in note for note in section.notes) == 2


def test_quick_mode_without_a_cached_probe_uses_the_documented_baseline(fake_clis, tmp_path):
    commands, _ = fake_clis
    section = SectionResult("quality")
    run_quality(_plan(tmp_path, reuse=True), section)
    assert "bench.tagging_probe" not in _modules(commands)
    article_type = next(f for f in section.figures if f.name == "articleType")
    assert article_type.baseline == 0.865
    assert article_type.baseline_label == "linear probe, BASELINES.md"


def test_a_failing_evaluation_is_recorded_and_the_others_run(fake_clis, tmp_path):
    commands, failing = fake_clis
    failing.add("recommender.evaluate.retrieval")
    section = SectionResult("quality")
    run_quality(_plan(tmp_path, reuse=False, detector=False), section)
    assert section.errors == [
        "retrieval evaluation: CommandError: exit code 1: recommender.evaluate.retrieval broke"
    ]
    assert "recommender.evaluate.detection" in _modules(commands)
    assert any("No trained detector" in note for note in section.notes)
    assert any(f.name == "CorLoc mean" for f in section.figures)
