"""Example detections with their CAM heatmaps on held-out street photos, as PNGs.

    .venv/bin/python -m bench.detection_examples --data-dir ../shared/data \\
        [--checkpoint var/models/detector-quick/detector.pt] --count 4 --out DIR

Writes ``DIR/example-NNNN.png`` (``recommender.render``: heatmap blended over the photo,
a labelled box per detection) and ``DIR/examples.json`` (the detections per photo).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, help="a trained detector (default: zero-shot)")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from recommender.data.street import read_street_photos
    from recommender.detect import detector_from_checkpoint, zero_shot_detector
    from recommender.images import load_image
    from recommender.render import render_detections

    detector = (
        detector_from_checkpoint(arguments.checkpoint)
        if arguments.checkpoint
        else zero_shot_detector()
    )
    photos = read_street_photos(arguments.data_dir / "street", split=arguments.split)
    arguments.out.mkdir(parents=True, exist_ok=True)
    examples = []
    for photo in photos[: arguments.count]:
        image = load_image(photo.path)
        detections = detector.detect(image, return_heatmaps=True)
        name = f"example-{Path(photo.image).stem}.png"
        (arguments.out / name).write_bytes(render_detections(image, detections))
        examples.append(
            {
                "photo": photo.image,
                "png": name,
                "detections": [
                    {"class": d.class_name, "score": round(d.score, 3), "box": list(d.box)}
                    for d in detections
                ],
            }
        )
    result = {
        "detector": str(arguments.checkpoint) if arguments.checkpoint else "zero-shot",
        "examples": examples,
    }
    (arguments.out / "examples.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
