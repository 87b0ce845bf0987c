from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from recommender import quantize
from recommender.detect import detector_from_checkpoint, zero_shot_detector
from recommender.detection import detector as detector_module
from recommender.detection.checkpoint import save_checkpoint
from recommender.detection.detector import DetectorConfig
from recommender.detection.int8 import find_quantized_graph, graph_paths
from recommender.images import load_image
from recommender.models.cam import CamHead
from recommender.weights import file_sha256
from tests.recommender.test_detect import _checkpoint

# Small inputs: the tests check behaviour; the graph's quality is measured on real sizes
# (recommender/README.md, **Performance notes**).
CONFIG = DetectorConfig(short_side=160, window_sizes=(0.6,), window_input_size=96)


def _save(path: Path, **changes: object) -> Path:
    save_checkpoint(_checkpoint(config={"detector": CONFIG.to_dict()}, **changes), path)
    return path


@pytest.fixture(scope="module")
def street_photos(data_dir: Path) -> list[Path]:
    return quantize.photos_in(data_dir / "street" / "photos")


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, street_photos: list[Path]) -> Path:
    """A checkpoint with its 8-bit graph, calibrated on three photos, checked on two (at
    these small inputs the maps are further off than at real sizes: a looser bound)."""
    checkpoint = _save(tmp_path_factory.mktemp("int8") / "detector.pt")
    quantize.quantize_checkpoint(
        checkpoint, street_photos[:3], street_photos[3:], photos=3, check=2, max_feature_error=0.5
    )
    return checkpoint


def test_the_graph_is_saved_beside_the_checkpoint_naming_what_it_was_made_from(
    quantized: Path,
) -> None:
    xml, weights, meta = graph_paths(quantized)
    assert xml.is_file() and weights.is_file()
    info = json.loads(meta.read_text())

    assert info["checkpoint_sha256"] == file_sha256(quantized)
    assert info["calibration_photos"] == 3 and info["check_photos"] == 2
    assert info["calibration_batches"] >= 3  # the whole photo and its windows, each photo
    assert 0 < info["feature_error"] <= info["max_feature_error"] == 0.5
    assert not list(quantized.parent.glob("*partial*"))


def test_int8_runs_the_graph_with_maps_close_to_float32(
    quantized: Path, street_photos: list[Path]
) -> None:
    int8 = detector_from_checkpoint(quantized, precision="int8", runtime="openvino")
    float32 = detector_from_checkpoint(quantized, precision="float32", runtime="openvino")
    image = load_image(street_photos[10])  # calibrated on neither
    batch = int8.preprocess(image)

    assert int8.precision_name == "int8"
    quantized_maps, float_maps = int8._features(batch), float32._features(batch)
    assert quantized_maps.shape == float_maps.shape
    error = torch.linalg.vector_norm(quantized_maps - float_maps) / torch.linalg.vector_norm(
        float_maps
    )
    assert 0 < error < 0.5  # computed by another graph, close to float32's
    assert all(detection.box for detection in int8.detect(image))


def test_auto_picks_the_graph_only_on_cpus_without_native_bfloat16(
    quantized: Path, monkeypatch
) -> None:
    monkeypatch.setattr(detector_module, "native_bfloat16", lambda device: False)
    assert detector_from_checkpoint(quantized, precision="auto", runtime="openvino").precision == (
        torch.int8
    )
    assert detector_from_checkpoint(quantized, precision="auto", runtime="torch").precision == (
        torch.float32
    )
    monkeypatch.setattr(detector_module, "native_bfloat16", lambda device: True)
    assert detector_from_checkpoint(quantized, precision="auto", runtime="openvino").precision != (
        torch.int8
    )


def test_int8_is_refused_where_there_is_no_graph_for_the_network(quantized: Path) -> None:
    with pytest.raises(ValueError, match="python -m recommender.quantize"):
        zero_shot_detector(precision="int8", runtime="openvino")
    with pytest.raises(ValueError, match="openvino runtime"):
        detector_from_checkpoint(quantized, precision="int8", runtime="torch")


def test_a_graph_of_another_checkpoint_at_the_same_path_is_never_run(
    quantized: Path, tmp_path: Path, caplog, monkeypatch
) -> None:
    copy = tmp_path / "detector.pt"
    for path in (quantized, *graph_paths(quantized)):
        shutil.copy(path, copy.with_name(path.name))
    head = CamHead(1280, _checkpoint().class_names)
    torch.nn.init.normal_(head.linear.weight)
    _save(copy, head_state=head.linear.state_dict())  # retrained at the same path
    monkeypatch.setattr(detector_module, "native_bfloat16", lambda device: False)

    with caplog.at_level(logging.INFO):
        automatic = detector_from_checkpoint(copy, precision="auto", runtime="openvino")

    assert automatic.precision == torch.float32
    assert "made from checkpoint" in caplog.text
    with pytest.raises(ValueError, match="has none"):
        detector_from_checkpoint(copy, precision="int8", runtime="openvino")


def test_a_graph_made_from_other_weights_or_a_damaged_record_is_refused(
    quantized: Path, tmp_path: Path, caplog
) -> None:
    copy = tmp_path / "detector.pt"
    for path in (quantized, *graph_paths(quantized)):
        shutil.copy(path, copy.with_name(path.name))
    meta = graph_paths(copy)[2]
    info = json.loads(meta.read_text())
    meta.write_text(json.dumps({**info, "module_key": "0" * 64}))

    with pytest.raises(ValueError, match="another network"):
        detector_from_checkpoint(copy, precision="int8", runtime="openvino")

    meta.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert find_quantized_graph(copy, file_sha256(copy)) is None
    assert "cannot read it" in caplog.text
    graph_paths(copy)[1].unlink()  # a record whose weights file is gone
    meta.write_text(json.dumps(info))
    assert find_quantized_graph(copy, file_sha256(copy)) is None


def test_a_graph_too_far_from_float32_is_not_saved(
    tmp_path: Path, street_photos: list[Path]
) -> None:
    checkpoint = _save(tmp_path / "detector.pt")

    with pytest.raises(quantize.QuantizationError, match="more than 0.0"):
        quantize.quantize_checkpoint(
            checkpoint,
            street_photos[:1],
            street_photos[1:],
            photos=1,
            check=1,
            max_feature_error=0.0,
        )

    assert [path.name for path in tmp_path.iterdir()] == ["detector.pt"]


def test_cli_names_what_it_cannot_use(tmp_path: Path, data_dir: Path, capsys) -> None:
    checkpoint = _save(tmp_path / "detector.pt")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "notes.txt").write_text("not a photo")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")

    assert quantize.main(["--checkpoint", str(checkpoint), "--images", str(photos)]) == 1
    assert "no calibration photo could be read" in capsys.readouterr().err
    assert quantize.main(["--checkpoint", str(checkpoint), "--data-dir", str(photos)]) == 1
    assert "no street/derived/image_tags.csv" in capsys.readouterr().err
    missing = tmp_path / "missing.pt"
    assert quantize.main(["--checkpoint", str(missing), "--data-dir", str(data_dir)]) == 1
    assert "missing.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        quantize.main(["--checkpoint", str(checkpoint), "--images", str(photos), "--photos", "0"])


def test_cli_calibrates_on_a_folder_of_photos_skipping_unreadable_ones(
    tmp_path: Path, street_photos: list[Path], caplog
) -> None:
    checkpoint = _save(tmp_path / "detector.pt")
    photos = tmp_path / "photos"
    photos.mkdir()
    for path in street_photos[:3]:
        shutil.copy(path, photos / path.name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")

    with caplog.at_level(logging.WARNING):
        code = quantize.main(
            [
                "--checkpoint",
                str(checkpoint),
                "--images",
                str(photos),
                "--photos",
                "2",
                "--check",
                "2",  # more than the photos left: every file is tried, the broken one too
                "--max-feature-error",
                "0.6",
            ]
        )

    assert code == 0
    info = json.loads(graph_paths(checkpoint)[2].read_text())
    used = info["calibration_photos"] + info["check_photos"]
    assert used == 3 and "broken.jpg" in caplog.text
    int8 = detector_from_checkpoint(checkpoint, precision="int8", runtime="openvino")
    assert int8.precision == torch.int8


def test_evaluation_clis_refuse_int8_without_a_graph_before_any_work(
    tmp_path: Path, data_dir: Path, capsys
) -> None:
    from recommender.evaluate import detection, pipeline

    checkpoint = _save(tmp_path / "detector.pt")
    options = ["--precision", "int8", "--runtime", "openvino", "--out", str(tmp_path / "out")]

    with pytest.raises(SystemExit):
        detection.main(["--data-dir", str(data_dir), "--checkpoint", str(checkpoint), *options])
    assert "python -m recommender.quantize" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pipeline.main(
            [
                "--data-dir",
                str(data_dir),
                "--embedder",
                str(tmp_path / "embedder.pt"),
                "--detector",
                str(checkpoint),
                *options,
            ]
        )
    assert "python -m recommender.quantize" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
