"""Detection latency on one street photo: median of repeated `detect()` calls, as JSON.

python bench/detection_latency.py --data-dir ../shared/data --out var/bench/detection.json
    [--checkpoint PATH] [--image street/photos/0001.jpg] [--repeats 20] [--threads N]
    [--compare-unfused] [--embedder CKPT] [--device cuda] [--precision auto] [--runtime auto]
    [--against CKPT] [--against-embedder CKPT]

`--compare-unfused` also times the same detector without BatchNorm folding, interleaved
call by call with the folded one, so both see the same machine state; it reports both
medians and the largest difference between their class maps. `--embedder` also times the
whole analysis of the photo (`LookAnalyzer.analyse`: detection, then one batched embedding
of every item's crop with its tags), the figure the latency target is set for.
`--precision` (default auto, as the workers run) picks the detector's compute dtype (int8:
the checkpoint's 8-bit graph, `python -m recommender.quantize`); where that is not
float32, a float32 detector is timed interleaved with it (`float32`, `speedup_over_float32`,
and `look.float32` with `--embedder`). `--runtime` (default auto, as the workers run:
OpenVINO on a CPU) picks what runs both networks; where that is not
PyTorch, the same detector and embedder run by PyTorch are timed interleaved with them
(`torch_runtime`, `speedup_over_torch_runtime`, `max_map_difference_torch_runtime`, and
`look.torch_runtime` with `--embedder`). `--against` times a second detector checkpoint
(say, the one in service) interleaved with the first, at the same precision and runtime
(`against`, `speedup_over_against`, and `look.against` with `--embedder`).
`--against-embedder` times the whole analysis with a second embedder (say, one from other
backbone weights) interleaved with `--embedder`'s, on the same detector
(`look.against_embedder`, `look.speedup_over_against_embedder`).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/...`

from recommender.detect import FashionDetector, detector_from_checkpoint, zero_shot_detector
from recommender.devices import PRECISIONS
from recommender.images import load_image
from recommender.runtimes import RUNTIMES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--image", default="street/photos/0001.jpg")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--compare-unfused", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="the detector's compute dtype (auto, as the workers: bfloat16 where the device "
        "has it natively, else the checkpoint's 8-bit graph where one is made); other than "
        "float32, a float32 detector is timed beside it",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="what runs the networks (auto, as the workers: OpenVINO on a CPU); other than "
        "torch, the same models run by PyTorch are timed beside them",
    )
    parser.add_argument("--embedder", type=Path, default=None, help="also time detect + embed")
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another detector checkpoint, timed interleaved with --checkpoint",
    )
    parser.add_argument(
        "--against-embedder",
        type=Path,
        default=None,
        help="another embedder checkpoint, its whole analysis timed interleaved with --embedder's",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.against_embedder and not args.embedder:
        parser.error("--against-embedder needs --embedder")
    if args.threads:
        torch.set_num_threads(args.threads)
    options = {"device": args.device, "precision": args.precision, "runtime": args.runtime}
    detector = (
        detector_from_checkpoint(args.checkpoint, **options)
        if args.checkpoint
        else zero_shot_detector(**options)
    )
    detectors = {"bn_folded": detector}

    def variant(**changes) -> FashionDetector:  # the same networks, run another way
        return FashionDetector(
            detector.backbone, detector.head, detector.config, device=args.device, **changes
        )

    # An 8-bit graph runs only where it was made from: the BN-folded network on OpenVINO.
    other_way = "float32" if detector.precision == torch.int8 else args.precision
    if args.compare_unfused:
        detectors["unfused"] = variant(
            fold_batchnorm=False, precision=other_way, runtime=args.runtime
        )
    if detector.precision != torch.float32:
        detectors["float32"] = variant(runtime=detector.runtime)
    if detector.runtime != "torch":
        detectors["torch_runtime"] = variant(precision=other_way)
    if args.against:
        detectors["against"] = detector_from_checkpoint(args.against, **options)
    image = load_image(args.data_dir / args.image)
    runs = {name: candidate.detect for name, candidate in detectors.items()}
    if args.embedder:
        from recommender.embed import ImageEmbedder
        from recommender.look import LookAnalyzer

        embedder = ImageEmbedder.from_checkpoint(
            args.embedder, device=args.device, runtime=args.runtime
        )
        runs["look"] = LookAnalyzer(detector, embedder).analyse
        if "float32" in detectors:
            runs["look_float32"] = LookAnalyzer(detectors["float32"], embedder).analyse
        if "torch_runtime" in detectors:
            plain = ImageEmbedder.from_checkpoint(args.embedder, device=args.device)
            runs["look_torch_runtime"] = LookAnalyzer(detectors["torch_runtime"], plain).analyse
        if "against" in detectors:
            runs["look_against"] = LookAnalyzer(detectors["against"], embedder).analyse
        if args.against_embedder:
            other = ImageEmbedder.from_checkpoint(
                args.against_embedder, device=args.device, runtime=args.runtime
            )
            runs["look_against_embedder"] = LookAnalyzer(detector, other).analyse
    outputs = {}
    for _ in range(2):  # warm-up: allocator and oneDNN kernel selection
        for name, run in runs.items():
            outputs[name] = run(image)
    timings = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            outputs[name] = run(image)
            timings[name].append((time.perf_counter() - started) * 1000)
    detections = outputs["bn_folded"]
    result = {
        "image": args.image,
        "image_size": list(image.size),
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "config": detector.config.to_dict(),
        "detections": len(detections),
        **_stats(timings["bn_folded"]),
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "device": args.device,
        "precision": detector.precision_name,
        "runtime": detector.runtime,
        "machine": platform.processor() or platform.machine(),
    }
    if args.embedder:
        result["look"] = {
            "embedder": str(args.embedder),
            "items": len(outputs["look"]),
            **_stats(timings["look"]),
        }
        if "look_float32" in timings:
            result["look"]["float32"] = _stats(timings["look_float32"])
        if "look_torch_runtime" in timings:
            result["look"]["torch_runtime"] = _stats(timings["look_torch_runtime"])
        if "look_against" in timings:
            result["look"]["against"] = _stats(timings["look_against"])
        if "look_against_embedder" in timings:
            result["look"]["against_embedder"] = {
                "embedder": str(args.against_embedder),
                "items": len(outputs["look_against_embedder"]),
                **_stats(timings["look_against_embedder"]),
            }
            result["look"]["speedup_over_against_embedder"] = round(
                result["look"]["against_embedder"]["median_ms"] / result["look"]["median_ms"], 3
            )
    if "float32" in detectors:
        result["float32"] = _stats(timings["float32"])
        result["speedup_over_float32"] = round(
            result["float32"]["median_ms"] / result["median_ms"], 3
        )
    if "torch_runtime" in detectors:
        result["torch_runtime"] = _stats(timings["torch_runtime"])
        result["speedup_over_torch_runtime"] = round(
            result["torch_runtime"]["median_ms"] / result["median_ms"], 3
        )
        result["max_map_difference_torch_runtime"] = _max_map_difference(
            detectors["bn_folded"], detectors["torch_runtime"], image
        )
    if "against" in detectors:
        result["against"] = {
            "checkpoint": str(args.against),
            "config": detectors["against"].config.to_dict(),
            "detections": len(outputs["against"]),
            **_stats(timings["against"]),
        }
        result["speedup_over_against"] = round(
            result["against"]["median_ms"] / result["median_ms"], 3
        )
    if args.compare_unfused:
        result["unfused"] = _stats(timings["unfused"])
        result["speedup"] = round(result["unfused"]["median_ms"] / result["median_ms"], 3)
        result["max_map_difference"] = _max_map_difference(
            detectors["bn_folded"], detectors["unfused"], image
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))  # noqa: T201


def _stats(timings: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(timings), 1),
        "min_ms": round(min(timings), 1),
        "max_ms": round(max(timings), 1),
    }


def _max_map_difference(
    detector: FashionDetector, other: FashionDetector, image: Image.Image
) -> float:
    """The largest absolute difference between two detectors' class maps (in CAM units)
    of the classes `detector` finds."""
    maps = detector.class_maps(image)
    others = other.class_maps(image, classes=list(maps))
    return max((float(np.abs(maps[name][1] - others[name][1]).max()) for name in maps), default=0.0)


if __name__ == "__main__":
    main()
