"""A quick-mode data folder: the same layout, a deterministic fraction of the street photos.

The detection evaluation has no limit option; it reads its photos from
``street/derived/image_tags.csv``, so a folder whose copy of that file keeps every n-th
photo (by the md5 of its name, so splits and picks do not move between runs) and links
everything else to the original is a smaller data set in the same layout. The catalog
and pairs are linked whole: the retrieval gallery stays comparable to the full run.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

IMAGE_TAGS = Path("street") / "derived" / "image_tags.csv"


def keeps(image: str, fraction: float) -> bool:
    """Deterministic pick of about `fraction` of the photos by their name."""
    bucket = int(hashlib.md5(image.encode()).hexdigest()[-8:], 16) % 1000
    return bucket < round(fraction * 1000)


def street_subset(data_dir: Path, out_dir: Path, fraction: float) -> tuple[Path, int, int]:
    """Build `out_dir` (replacing it); returns it, the street photos kept and their total."""
    data_dir = data_dir.resolve()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for entry in data_dir.iterdir():
        if entry.name != "street":
            (out_dir / entry.name).symlink_to(entry)
    street = data_dir / "street"
    if not street.is_dir():
        return out_dir, 0, 0
    (out_dir / "street").mkdir()
    for entry in street.iterdir():
        if entry.name != "derived":
            (out_dir / "street" / entry.name).symlink_to(entry)
    (out_dir / "street" / "derived").mkdir()
    for entry in (street / "derived").iterdir():
        if entry.name != IMAGE_TAGS.name:
            (out_dir / "street" / "derived" / entry.name).symlink_to(entry)
    return out_dir, *_filter_image_tags(data_dir / IMAGE_TAGS, out_dir / IMAGE_TAGS, fraction)


def _filter_image_tags(source: Path, target: Path, fraction: float) -> tuple[int, int]:
    if not source.is_file():
        return 0, 0
    with source.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        every = list(reader)
        fields = reader.fieldnames or []
    rows = [row for row in every if keeps(row["image"], fraction)]
    with target.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows), len(every)
