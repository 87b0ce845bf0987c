"""Catalog embedding throughput: images/s of the whole data path beside the bare forward pass.

    .venv/bin/python bench/embedding_throughput.py --data-dir ../shared/data \\
        [--checkpoint var/models/embedder-quick/embedder.pt] [--device cuda] [--runtime torch] \\
        --images 512 --out var/bench/embedding_throughput.json

- pipeline: what a worker does per batch of product images: read the file, decode it
  (``load_image``: EXIF, colour mode), resize/normalise, forward pass, L2-normalise;
- forward only: the same network on ready-made input tensors of the same batch size;
- the ratio pipeline / forward shows what the data path costs on top of the model.

`--runtime` (default auto, as the workers run: OpenVINO on a CPU) picks what runs the network.
Each figure is the median of ``--repeats`` timed passes after one warm-up pass. The
catalog photos come from ``--data-dir`` (``catalog/catalog.csv`` and its images), so any
folder in that layout works.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from recommender.runtimes import RUNTIMES  # noqa: E402


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT.parent / "shared" / "data")
    parser.add_argument("--checkpoint", type=Path, help="a trained embedder (default: ImageNet)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "var" / "bench" / "embedding_throughput.json"
    )
    return parser.parse_args()


def catalog_image_paths(data_dir: Path, count: int) -> list[Path]:
    catalog = data_dir / "catalog" / "catalog.csv"
    if not catalog.exists():
        sys.exit(f"error: no catalog at {catalog}")
    with catalog.open(newline="", encoding="utf-8") as stream:
        paths = [data_dir / "catalog" / row["image"] for row in csv.DictReader(stream)]
    missing = [path for path in paths[:count] if not path.exists()]
    if missing:
        sys.exit(f"error: catalog image {missing[0]} not found")
    return paths[:count]


def timed(function, repeats: int) -> float:
    function()  # warm-up: allocator, lazy initialisation, cuDNN autotuning
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def main() -> None:
    arguments = parse_arguments()
    import torch

    from recommender.embed import ImageEmbedder
    from recommender.images import load_image

    paths = catalog_image_paths(arguments.data_dir, arguments.images)
    if arguments.checkpoint:
        embedder = ImageEmbedder.from_checkpoint(
            arguments.checkpoint,
            device=arguments.device,
            batch_size=arguments.batch_size,
            runtime=arguments.runtime,
        )
    else:
        embedder = ImageEmbedder.from_weights(
            device=arguments.device, batch_size=arguments.batch_size, runtime=arguments.runtime
        )
    synchronise = torch.cuda.synchronize if embedder.device.type == "cuda" else lambda: None

    def pipeline() -> None:
        for start in range(0, len(paths), arguments.batch_size):
            batch = [
                load_image(path.read_bytes())
                for path in paths[start : start + arguments.batch_size]
            ]
            embedder.embed(batch)
        synchronise()

    sample = embedder.transform(load_image(paths[0].read_bytes()))  # (3, S, S)
    inputs = sample.expand(arguments.batch_size, *sample.shape).contiguous()  # (B, 3, S, S)
    inputs = inputs.to(embedder.device, memory_format=embedder._memory_format)
    batches = -(-len(paths) // arguments.batch_size)

    @torch.inference_mode()
    def forward_only() -> None:
        for _ in range(batches):
            embedder.forward(inputs)  # (B, D)
        synchronise()

    pipeline_seconds = timed(pipeline, arguments.repeats)
    forward_seconds = timed(forward_only, arguments.repeats)
    images = len(paths)
    forward_images = batches * arguments.batch_size
    results = {
        "benchmark": "embedding_throughput",
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "device": str(embedder.device),
        "device_name": (
            torch.cuda.get_device_name(embedder.device)
            if embedder.device.type == "cuda"
            else platform.processor() or "cpu"
        ),
        "torch_threads": torch.get_num_threads(),
        "runtime": embedder.runtime,
        "model": embedder.model_name,
        "images": images,
        "batch_size": arguments.batch_size,
        "input_size": list(sample.shape[1:]),
        "pipeline_images_per_second": round(images / pipeline_seconds, 1),
        "forward_images_per_second": round(forward_images / forward_seconds, 1),
        "pipeline_share_of_forward_speed": round(
            (images / pipeline_seconds) / (forward_images / forward_seconds), 3
        ),
    }
    print(json.dumps(results, indent=2))
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
