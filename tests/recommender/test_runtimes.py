from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from recommender import runtimes
from recommender.detect import FashionDetector, zero_shot_detector
from recommender.embed import EmbedderInfo, ImageEmbedder
from recommender.images import load_image
from recommender.models.backbones import Backbone
from recommender.models.fuse import fuse_batchnorm
from recommender.models.transforms import EvalTransform
from recommender.runtimes import OpenVinoModel, resolve_runtime
from tests.recommender.synthetic_data import TAG_GROUPS, untrained_tag_network

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def folded(pretrained_backbone: Backbone) -> Backbone:
    return fuse_batchnorm(pretrained_backbone.eval())


@pytest.fixture(scope="module")
def compiled(folded: Backbone) -> OpenVinoModel:
    return OpenVinoModel(folded, method="forward_features", threads=2)


def test_auto_runtime_is_openvino_on_a_cpu_where_it_is_installed(monkeypatch) -> None:
    assert resolve_runtime("auto", CPU) == "openvino"
    assert resolve_runtime("auto", torch.device("cuda")) == "torch"
    assert resolve_runtime("torch", CPU) == "torch"
    monkeypatch.setattr(runtimes, "openvino_available", lambda: False)
    assert resolve_runtime("auto", CPU) == "torch"


def test_openvino_runtime_is_refused_where_it_cannot_run(monkeypatch) -> None:
    with pytest.raises(ValueError, match="runs on the CPU"):
        resolve_runtime("openvino", torch.device("cuda"))
    with pytest.raises(ValueError, match="auto, torch, openvino"):
        resolve_runtime("onnx", CPU)
    monkeypatch.setattr(runtimes, "openvino_available", lambda: False)
    with pytest.raises(ValueError, match="pip install openvino"):
        resolve_runtime("openvino", CPU)


def test_int8_and_a_saved_graph_go_together(folded: Backbone) -> None:
    with pytest.raises(ValueError, match="recommender.quantize"):
        OpenVinoModel(folded, method="forward_features", precision=torch.int8)
    with pytest.raises(ValueError, match="with precision int8 only"):
        OpenVinoModel(folded, method="forward_features", graph="graph.xml")


def test_module_key_names_the_weights_and_the_method(folded: Backbone) -> None:
    key = runtimes.module_key(folded, "forward_features")
    assert key == runtimes.module_key(folded, "forward_features")
    assert key != runtimes.module_key(folded, "forward")
    other = copy.deepcopy(folded)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    assert key != runtimes.module_key(other, "forward_features")


@pytest.mark.parametrize("shape", [(1, 3, 97, 65), (3, 3, 64, 64), (2, 3, 130, 161)])
def test_compiled_features_match_pytorch_for_any_batch_and_input_size(
    folded: Backbone, compiled: OpenVinoModel, shape: tuple[int, ...]
) -> None:
    # Odd sizes change the TF-"same" padding of each stride-2 convolution: the compiled
    # graph must compute it per input, not keep the example's.
    images = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = folded.forward_features(images)  # (B, C, h, w)

    features = compiled(images.contiguous(memory_format=torch.channels_last))

    assert features.shape == expected.shape and features.dtype == torch.float32
    assert torch.allclose(features, expected, atol=1e-3)


def test_compiled_features_are_safe_to_call_from_several_threads(
    folded: Backbone, compiled: OpenVinoModel
) -> None:
    inputs = [torch.randn(1, 3, 64 + 32 * index, 96) for index in range(4)]
    results: dict[int, torch.Tensor] = {}

    def run(index: int) -> None:
        for _ in range(3):
            results[index] = compiled(inputs[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with torch.inference_mode():
        for index, images in enumerate(inputs):
            assert torch.allclose(results[index], folded.forward_features(images), atol=1e-3)


@pytest.fixture
def street_photo(data_dir: Path) -> Image.Image:
    return load_image(data_dir / "street" / "photos" / "0001.jpg")


@pytest.fixture
def plain(pretrained_backbone: Backbone) -> FashionDetector:
    """The zero-shot detector on small photos, run by PyTorch in float32."""
    return zero_shot_detector(backbone=pretrained_backbone).with_config(short_side=224)


def test_a_detector_run_by_openvino_finds_what_pytorch_finds(
    plain: FashionDetector, street_photo: Image.Image
) -> None:
    compiled = FashionDetector(plain.backbone, plain.head, plain.config, runtime="openvino")
    classes = ["footwear", "top", "bottom"]

    expected = plain.class_maps(street_photo, classes=classes)
    maps = compiled.class_maps(street_photo, classes=classes)

    assert compiled.runtime == "openvino" and plain.runtime == "torch"
    for name in classes:
        assert maps[name][0] == pytest.approx(expected[name][0], abs=1e-4)
        assert np.abs(maps[name][1] - expected[name][1]).max() < 1e-3 * expected[name][1].max()
    boxes = [(item.class_name, item.box) for item in compiled.detect(street_photo, classes=classes)]
    assert boxes == [
        (item.class_name, item.box) for item in plain.detect(street_photo, classes=classes)
    ]


def test_a_bfloat16_detector_runs_on_openvino_under_auto(
    plain: FashionDetector, street_photo: Image.Image
) -> None:
    low = FashionDetector(plain.backbone, plain.head, plain.config, precision="bfloat16")
    compiled = FashionDetector(
        plain.backbone, plain.head, plain.config, precision="bfloat16", runtime="auto"
    )
    classes = ["footwear", "top", "bottom"]

    expected = low.class_maps(street_photo, classes=classes)
    maps = compiled.class_maps(street_photo, classes=classes)

    # OpenVINO computes bfloat16 where the CPU does natively, float32 elsewhere; its
    # bfloat16 graph rounds other tensors than autocast does (probabilities up to 0.07 apart).
    assert compiled.runtime == "openvino" and low.runtime == "torch"
    assert compiled.precision in (torch.bfloat16, torch.float32)
    for name in classes:
        assert maps[name][0] == pytest.approx(expected[name][0], abs=0.1)
        difference = np.abs(maps[name][1] - expected[name][1]).mean()
        assert difference < 0.03 * expected[name][1].max()


def _crops(photo_path: Path) -> list:
    photo = load_image(photo_path)
    return [
        photo.crop((0, 0, 100, 120)),
        photo.crop((50, 50, 250, 330)),
        photo.crop((9, 300, 400, 700)),
    ]


def test_an_embedder_run_by_openvino_gives_pytorchs_vectors_and_tags(data_dir: Path) -> None:
    network, vocabulary = untrained_tag_network()
    transform = EvalTransform(input_size=96, mean=(0.5,) * 3, std=(0.5,) * 3)
    info = EmbedderInfo(model_name="tiny", weights_sha256="0" * 64, dimension=16)
    plain, compiled = (
        ImageEmbedder(
            network, transform, info, batch_size=2, vocabulary=vocabulary, runtime=runtime
        )
        for runtime in ("torch", "openvino")
    )
    crops = _crops(data_dir / "street" / "photos" / "0001.jpg")

    expected_vectors, expected_tags = plain.embed_with_tags(crops)
    vectors, tags = compiled.embed_with_tags(crops)

    assert compiled.runtime == "openvino"
    np.testing.assert_allclose(vectors, expected_vectors, atol=1e-4)
    np.testing.assert_allclose(compiled.embed(crops), expected_vectors, atol=1e-4)
    for tagset, expected in zip(tags, expected_tags, strict=True):
        assert tagset.keys() == expected.keys() == set(TAG_GROUPS)
        for group, (value, probability) in tagset.items():
            assert value == expected[group][0]
            assert probability == pytest.approx(expected[group][1], abs=1e-4)


def test_imagenet_features_run_by_openvino_match_pytorchs(data_dir: Path) -> None:
    plain, compiled = (
        ImageEmbedder.from_weights("efficientnet_lite0.imagenet", runtime=runtime)
        for runtime in ("torch", "openvino")
    )
    crops = _crops(data_dir / "street" / "photos" / "0002.jpg")

    vectors, tags = compiled.embed_with_tags(crops)

    np.testing.assert_allclose(vectors, plain.embed(crops), atol=1e-4)
    assert tags == [{}, {}, {}]


def _tiny_network(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU6(), nn.Conv2d(8, 4, 1)).eval()


def _assert_computes_like(compiled: OpenVinoModel, network: nn.Module) -> None:
    images = torch.randn(1, 3, 20, 20)
    with torch.inference_mode():
        assert torch.allclose(compiled(images), network(images), atol=1e-5)


def _unconvertible(module: nn.Module, method: str):
    raise AssertionError("converted again instead of reading the cache")


def test_a_converted_network_is_read_back_from_the_cache(tmp_path: Path, monkeypatch) -> None:
    network = _tiny_network(0)
    first = OpenVinoModel(network, cache_dir=tmp_path)
    monkeypatch.setattr(runtimes, "convert", _unconvertible)

    second = OpenVinoModel(network, cache_dir=tmp_path)

    images = torch.randn(2, 3, 33, 40)
    with torch.inference_mode():
        expected = network(images)
    assert torch.allclose(second(images), expected, atol=1e-5)
    assert torch.equal(second(images), first(images))
    assert [path.suffix for path in sorted(tmp_path.iterdir())] == [".bin", ".xml"]


def test_other_weights_are_converted_apart(tmp_path: Path) -> None:
    OpenVinoModel(_tiny_network(0), cache_dir=tmp_path)
    retrained = _tiny_network(1)

    compiled = OpenVinoModel(retrained, cache_dir=tmp_path)

    _assert_computes_like(compiled, retrained)
    assert len(list(tmp_path.glob("*.xml"))) == 2


def test_a_damaged_cache_file_is_converted_again(tmp_path: Path, caplog) -> None:
    network = _tiny_network(0)
    OpenVinoModel(network, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("*.xml")
    cached.write_text("<net truncated")

    compiled = OpenVinoModel(network, cache_dir=tmp_path)

    _assert_computes_like(compiled, network)
    assert "converting again" in caplog.text
    assert cached.read_text().startswith("<?xml")  # replaced by a good copy


def test_an_unwritable_cache_still_gives_a_working_model(tmp_path: Path, caplog) -> None:
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the folder should be")
    network = _tiny_network(0)

    compiled = OpenVinoModel(network, cache_dir=blocked)

    _assert_computes_like(compiled, network)
    assert "cannot cache" in caplog.text


def test_a_shape_that_comes_again_gets_a_graph_of_its_own() -> None:
    network = _tiny_network(0)
    compiled = OpenVinoModel(network, fixed_shapes=1)
    square, wide = torch.randn(2, 3, 24, 24), torch.randn(1, 3, 20, 36)
    with torch.inference_mode():
        expected = {"square": network(square), "wide": network(wide)}

    squares = [compiled(square) for _ in range(3)]  # the any-shape graph, then its own
    assert list(compiled._fixed) == [(2, 3, 24, 24)]
    wides = [compiled(wide) for _ in range(3)]
    assert list(compiled._fixed) == [(2, 3, 24, 24)]  # full: the first keeps its graph

    for output in squares:
        assert torch.allclose(output, expected["square"], atol=1e-5)
    for output in wides:
        assert torch.allclose(output, expected["wide"], atol=1e-5)


def test_by_default_one_graph_serves_every_shape() -> None:
    network = _tiny_network(0)
    compiled = OpenVinoModel(network)
    images = torch.randn(1, 3, 24, 24)

    for _ in range(3):
        compiled(images)

    assert not compiled._fixed
    with pytest.raises(ValueError, match="fixed_shapes"):
        OpenVinoModel(network, fixed_shapes=-1)


def test_a_cache_that_cannot_be_written_leaves_no_partial_files(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    def full_disk(model, path, compress_to_fp16):
        Path(path).write_text("<?xml")  # part of the graph written, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("openvino.save_model", full_disk)
    network = _tiny_network(0)

    compiled = OpenVinoModel(network, cache_dir=tmp_path)

    _assert_computes_like(compiled, network)
    assert "No space left" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_the_seed_network_compiles_with_its_poolings_on_odd_sizes() -> None:
    from recommender.models.backbones import build_backbone

    backbone = fuse_batchnorm(build_backbone("seed_vgg16_narrow", pretrained=False))
    model = OpenVinoModel(backbone, method="forward_features", threads=2)
    for shape in [(1, 3, 97, 65), (2, 3, 64, 64)]:  # ceil-mode poolings of odd sides
        images = torch.randn(shape, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            expected = backbone.forward_features(images)

        features = model(images)

        assert (
            features.shape == expected.shape == (shape[0], 128, *[-(-s // 32) for s in shape[2:]])
        )
        assert torch.allclose(features, expected, atol=1e-4, rtol=1e-3)
