"""Detection latency on one street photo: median of repeated `detect()` calls, as JSON.

python bench/detection_latency.py --data-dir ../shared/data --out var/bench/detection.json
    [--checkpoint PATH] [--image street/photos/0001.jpg] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from recommender.detect import detector_from_checkpoint, zero_shot_detector
from recommender.images import load_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--image", default="street/photos/0001.jpg")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    detector = (
        detector_from_checkpoint(args.checkpoint) if args.checkpoint else zero_shot_detector()
    )
    image = load_image(args.data_dir / args.image)
    for _ in range(2):  # warm-up: allocator and oneDNN kernel selection
        detector.detect(image)
    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        detections = detector.detect(image)
        timings.append((time.perf_counter() - started) * 1000)
    result = {
        "image": args.image,
        "image_size": list(image.size),
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "config": detector.config.to_dict(),
        "detections": len(detections),
        "median_ms": round(statistics.median(timings), 1),
        "min_ms": round(min(timings), 1),
        "max_ms": round(max(timings), 1),
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
