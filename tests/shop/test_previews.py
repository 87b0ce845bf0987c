from __future__ import annotations

import pytest
import torch

from shop import previews
from shop.services.embeddings import DEFAULT_EMBEDDER, get_embedder


@pytest.fixture
def fresh_detector():
    previews.get_detector.cache_clear()  # loaded once per process: reload with these settings
    yield
    previews.get_detector.cache_clear()


@pytest.mark.parametrize(
    ("setting", "dtype"), [("bfloat16", torch.bfloat16), ("float32", torch.float32)]
)
def test_detector_runs_in_the_configured_precision(
    settings, tmp_path, fresh_detector, setting, dtype
) -> None:
    settings.MODEL_DIR = tmp_path  # no trained checkpoint: the zero-shot detector
    settings.DETECTOR_PRECISION = setting

    assert previews.get_detector().precision == dtype


def test_detector_and_embedder_run_on_the_configured_runtime(
    settings, tmp_path, fresh_detector
) -> None:
    settings.MODEL_DIR = tmp_path
    settings.DETECTOR_PRECISION = "float32"
    settings.INFERENCE_RUNTIME = "openvino"
    get_embedder.cache_clear()
    try:
        assert previews.get_detector().runtime == "openvino"
        assert get_embedder(DEFAULT_EMBEDDER).runtime == "openvino"
    finally:
        get_embedder.cache_clear()


@pytest.mark.parametrize(
    ("setting", "value", "choices"),
    [
        ("INFERENCE_RUNTIME", "onnx", "auto, torch, openvino"),
        ("DETECTOR_PRECISION", "half", "auto, float32, bfloat16"),
    ],
)
def test_an_unknown_setting_is_refused_with_the_choices(
    settings, tmp_path, fresh_detector, setting, value, choices
) -> None:
    settings.MODEL_DIR = tmp_path
    setattr(settings, setting, value)

    with pytest.raises(ValueError, match=choices):
        previews.get_detector()
