"""Street photos (Clothing Co-Parsing): image-level tags for training, boxes for evaluation only.

Layout (see the data README): `street/photos/NNNN.jpg`, `street/derived/labels.csv`
(label -> coarse class), `street/derived/image_tags.csv` (tags per photo) and
`street/derived/boxes.csv` (ground-truth boxes; never used for training).
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from recommender.fashion_classes import street_coarse_to_fashion

SPLITS = ("train", "val", "test")
EVALUATION_BOX_KINDS = ("class_union", "component")


@dataclass(frozen=True)
class StreetPhoto:
    """One street photo with its image-level fashion classes (no locations)."""

    image: str  # relative to the street/ folder, e.g. "photos/0001.jpg"
    path: Path
    width: int
    height: int
    classes: frozenset[str]
    split: str


@dataclass(frozen=True)
class GroundTruthBox:
    """A ground-truth box of one fashion class; x2/y2 exclusive, original pixels."""

    class_name: str
    box: tuple[int, int, int, int]


def street_split(image: str) -> str:
    """Deterministic split from the md5 of the file name: 2/10 test, 1/10 val, 7/10 train."""
    bucket = int(hashlib.md5(Path(image).name.encode("utf-8")).hexdigest(), 16) % 10
    if bucket < 2:
        return "test"
    return "val" if bucket == 2 else "train"


def read_label_classes(street_dir: Path) -> dict[str, str]:
    """Street label name -> fashion class, for labels that map to one."""
    label_classes: dict[str, str] = {}
    with open(street_dir / "derived" / "labels.csv", newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            fashion_class = street_coarse_to_fashion(row["coarse_class"])
            if fashion_class is not None:
                label_classes[row["name"]] = fashion_class
    return label_classes


def parse_splits(split: str) -> frozenset[str]:
    """Split names from "val" or a "+"-joined union such as "train+val"."""
    names = frozenset(part.strip() for part in split.split("+"))
    unknown = sorted(names - set(SPLITS))
    if unknown:
        raise ValueError(
            f"split must be one of {SPLITS} or a '+'-joined union of them, got {split!r}"
        )
    return names


def read_street_photos(street_dir: Path, *, split: str | None = None) -> list[StreetPhoto]:
    """Photos with image-level classes from derived/image_tags.csv, optionally one split or
    a union of splits ("train+val")."""
    wanted = None if split is None else parse_splits(split)
    label_classes = read_label_classes(street_dir)
    photos = []
    with open(street_dir / "derived" / "image_tags.csv", newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            photo_split = street_split(row["image"])
            if wanted is not None and photo_split not in wanted:
                continue
            tags = row["tags"].split()
            photos.append(
                StreetPhoto(
                    image=row["image"],
                    path=street_dir / row["image"],
                    width=int(row["width"]),
                    height=int(row["height"]),
                    classes=frozenset(label_classes[tag] for tag in tags if tag in label_classes),
                    split=photo_split,
                )
            )
    return photos


def read_ground_truth_boxes(street_dir: Path) -> dict[str, list[GroundTruthBox]]:
    """Image -> its evaluation boxes (`class_union` and `component` rows) of fashion classes."""
    boxes: dict[str, list[GroundTruthBox]] = defaultdict(list)
    with open(street_dir / "derived" / "boxes.csv", newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            fashion_class = street_coarse_to_fashion(row["coarse_class"])
            if fashion_class is None or row["kind"] not in EVALUATION_BOX_KINDS:
                continue
            box = (int(row["x1"]), int(row["y1"]), int(row["x2"]), int(row["y2"]))
            boxes[row["image"]].append(GroundTruthBox(fashion_class, box))
    return dict(boxes)


def classes_with_boxes(boxes: list[GroundTruthBox]) -> set[str]:
    """The classes present in a photo according to its ground-truth boxes."""
    return {box.class_name for box in boxes}
