"""Make a trained detector's 8-bit graph: faster detection on CPUs without native bfloat16.

    python -m recommender.quantize --checkpoint var/models/detector-quick/detector.pt \\
        --data-dir ../shared/data          # or --images DIR: any folder of photos

The detector's BN-folded backbone is converted to OpenVINO and quantised by NNCF's
post-training quantisation (8-bit weights and activations), calibrated on what detection
really computes: the network inputs (whole photo, windows, closer looks) of real photos.
The first and the last convolution stay in float32: quantising them too doubled the
feature error (recommender/README.md, **Performance notes**). Before the graph is
written, its feature maps are compared with float32's on photos not calibrated on; a
graph further off than `--max-feature-error` is refused. It is saved beside the
checkpoint (`detector.int8.xml`, `.bin`, `.json`) and runs with precision "int8", and
with "auto" on CPUs without native bfloat16. Needs the `quantize` extra (pip install
'shopalook[quantize]').
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from recommender.detect import FashionDetector, detector_from_checkpoint
from recommender.detection.checkpoint import CheckpointMismatchError
from recommender.detection.int8 import QuantizedGraph, save_quantized_graph
from recommender.images import ImageDecodeError, load_image
from recommender.runtimes import OpenVinoModel, convert, module_key
from recommender.weights import file_sha256

logger = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# Relative L2 error of the feature maps against float32 on the check photos. The graph
# of the default detector measured 0.26 (0.42 with every convolution quantised);
# held-out CorLoc moved from 0.575 to 0.598.
DEFAULT_MAX_FEATURE_ERROR = 0.35


class QuantizationError(RuntimeError):
    """The graph could not be made, or came out too far from float32."""


def nncf_available() -> bool:
    return importlib.util.find_spec("nncf") is not None


def photos_in(folder: Path) -> list[Path]:
    """The photos of a folder (not its subfolders), in an order that spreads over it
    however its files are named: by the md5 of the name."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of photos")
    photos = [
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES
    ]
    return sorted(photos, key=lambda path: hashlib.md5(path.name.encode()).hexdigest())


def street_photos(data_dir: Path) -> tuple[list[Path], list[Path]]:
    """The dataset's street photos: the train split to calibrate on, the val split to
    check on (the test split stays held out for evaluation)."""
    from recommender.data.street import read_street_photos

    street = data_dir / "street"
    if not (street / "derived" / "image_tags.csv").is_file():
        raise FileNotFoundError(
            f"{data_dir} has no street/derived/image_tags.csv; pass --images with a folder "
            "of photos instead"
        )
    return (
        [photo.path for photo in read_street_photos(street, split="train")],
        [photo.path for photo in read_street_photos(street, split="val")],
    )


def network_inputs(
    detector: FashionDetector, photos: Sequence[Path], *, wanted: int
) -> tuple[list[torch.Tensor], list[Path]]:
    """Every batch the detector's network is given while detecting items in photos, from
    the first `wanted` photos that decode (the others are skipped with a warning)."""
    batches: list[torch.Tensor] = []
    used: list[Path] = []
    for path in photos:
        if len(used) == wanted:
            break
        try:
            image = load_image(path)
        except (ImageDecodeError, OSError) as error:
            logger.warning("skipping %s: %s", path, error)
            continue
        with detector.recording_inputs() as recorded:
            detector.detect(image)
        batches += recorded
        used.append(path)
    return batches, used


def feature_error(float_graph: OpenVinoModel, int8_graph: OpenVinoModel, batches) -> float:
    """Relative L2 error of the 8-bit graph's feature maps over all batches."""
    difference = reference = 0.0
    for batch in batches:
        expected = float_graph(batch)
        difference += float(torch.sum((int8_graph(batch) - expected) ** 2))
        reference += float(torch.sum(expected**2))
    return (difference / max(reference, 1e-12)) ** 0.5


def quantize_network(network: torch.nn.Module, batches: Sequence[torch.Tensor]) -> Any:
    """`network.forward_features` as an OpenVINO graph quantised to 8 bits by NNCF,
    calibrated on `batches`, its first and last convolution left in float32."""
    import nncf

    model = convert(network, "forward_features")
    convolutions = [
        op.get_friendly_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() in ("Convolution", "GroupConvolution")
    ]
    if len(convolutions) < 3:
        raise QuantizationError(f"the network has {len(convolutions)} convolutions: too few")
    kept = [convolutions[0], convolutions[-1]]
    logger.info("quantising %d convolutions, keeping %s in float32", len(convolutions) - 2, kept)
    return nncf.quantize(
        model,
        nncf.Dataset([batch.numpy() for batch in batches]),
        preset=nncf.QuantizationPreset.PERFORMANCE,
        subset_size=len(batches),
        ignored_scope=nncf.IgnoredScope(names=kept),
    )


def quantize_checkpoint(
    checkpoint: Path,
    calibration_photos: Sequence[Path],
    check_photos: Sequence[Path],
    *,
    photos: int = 40,
    check: int = 10,
    max_feature_error: float = DEFAULT_MAX_FEATURE_ERROR,
    threads: int | None = None,
) -> QuantizedGraph:
    """Make, check and save `checkpoint`'s 8-bit graph (see the module docstring)."""
    import nncf
    import openvino as ov

    if photos < 1 or check < 1:
        raise ValueError(f"photos and check must be at least 1, got {photos} and {check}")
    started = time.perf_counter()
    sha256 = file_sha256(checkpoint)
    detector = detector_from_checkpoint(
        checkpoint, expected_sha256=sha256, precision="float32", runtime="openvino"
    )
    network = detector.feature_network
    calibration, used = network_inputs(detector, calibration_photos, wanted=photos)
    if not used:
        raise QuantizationError("no calibration photo could be read")
    calibrated = set(used)
    checked = [path for path in check_photos if path not in calibrated]
    check_batches, check_used = network_inputs(detector, checked, wanted=check)
    if not check_used:
        raise QuantizationError("no check photo could be read (other than calibration photos)")
    logger.info(
        "calibrating on %d batches from %d photos; checking on %d photos",
        len(calibration),
        len(used),
        len(check_used),
    )
    model = quantize_network(network, calibration)
    float_graph = OpenVinoModel(network, method="forward_features", threads=threads)
    int8_graph = OpenVinoModel(
        network, method="forward_features", precision=torch.int8, graph=model, threads=threads
    )
    error = feature_error(float_graph, int8_graph, check_batches)
    logger.info("feature error of the 8-bit graph: %.3f (relative L2)", error)
    if not error <= max_feature_error:  # nan included
        raise QuantizationError(
            f"the 8-bit graph's feature maps are {error:.3f} off float32's (relative L2), "
            f"more than {max_feature_error}: not saved. Calibrate on more photos, or on "
            "photos like those the detector will see"
        )
    return save_quantized_graph(
        model,
        checkpoint,
        checkpoint_sha256=sha256,
        module_key=module_key(network, "forward_features"),
        info={
            "openvino": ov.get_version(),
            "nncf": nncf.__version__,
            "calibration_photos": len(used),
            "calibration_batches": len(calibration),
            "check_photos": len(check_used),
            "feature_error": round(error, 4),
            "max_feature_error": max_feature_error,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a trained detector.pt")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data-dir",
        type=Path,
        help="a dataset folder with street/: calibrate on its train split, check on val",
    )
    source.add_argument(
        "--images",
        type=Path,
        help="a folder of photos like those the detector will see: some to calibrate on, "
        "others to check on",
    )
    parser.add_argument("--photos", type=int, default=40, help="photos to calibrate on")
    parser.add_argument("--check", type=int, default=10, help="other photos to check on")
    parser.add_argument(
        "--max-feature-error",
        type=float,
        default=DEFAULT_MAX_FEATURE_ERROR,
        help="refuse a graph whose feature maps are further off float32's (relative L2)",
    )
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.photos < 1 or args.check < 1:
        parser.error("--photos and --check must be at least 1")
    if not nncf_available():
        parser.error("quantisation needs nncf: pip install 'shopalook[quantize]'")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.data_dir is not None:
            calibration, check = street_photos(args.data_dir)
        else:
            calibration = check = photos_in(args.images)  # checked on those not calibrated on
        graph = quantize_checkpoint(
            args.checkpoint,
            calibration,
            check,
            photos=args.photos,
            check=args.check,
            max_feature_error=args.max_feature_error,
            threads=args.threads,
        )
    except (OSError, ValueError, CheckpointMismatchError, QuantizationError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 1
    print(  # noqa: T201
        f"saved {graph.xml}: feature error {graph.info['feature_error']} "
        f"(calibrated on {graph.info['calibration_photos']} photos, "
        f"checked on {graph.info['check_photos']}); it runs with --precision int8, "
        "and with auto on CPUs without native bfloat16"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
