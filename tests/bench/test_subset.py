"""The quick-mode data folder: a fraction of the street photos, everything else linked."""

from __future__ import annotations

import csv
from pathlib import Path

from bench.subset import keeps, street_subset


def _data_folder(root: Path, photos: int) -> Path:
    (root / "catalog").mkdir(parents=True)
    (root / "catalog" / "catalog.csv").write_text("id,image\n1,images/1.jpg\n")
    (root / "street" / "photos").mkdir(parents=True)
    (root / "street" / "derived").mkdir()
    (root / "street" / "derived" / "boxes.csv").write_text("image,label\n")
    with (root / "street" / "derived" / "image_tags.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["image", "tags"])
        for index in range(1, photos + 1):
            writer.writerow([f"photos/{index:04d}.jpg", "top bag"])
    return root


def test_street_subset_keeps_a_deterministic_fraction(tmp_path):
    data = _data_folder(tmp_path / "data", photos=400)
    out, kept, total = street_subset(data, tmp_path / "quick", 0.25)
    again, kept_again, _ = street_subset(data, tmp_path / "quick", 0.25)
    assert 60 < kept < 140 and total == 400
    assert (out, kept) == (again, kept_again)
    rows = list(csv.DictReader((out / "street/derived/image_tags.csv").open()))
    assert len(rows) == kept
    assert all(keeps(row["image"], 0.25) for row in rows)


def test_street_subset_links_everything_else(tmp_path):
    data = _data_folder(tmp_path / "data", photos=10)
    out, _, _ = street_subset(data, tmp_path / "quick", 0.5)
    assert (out / "catalog").is_symlink()
    assert (out / "catalog" / "catalog.csv").read_text().startswith("id,image")
    assert (out / "street" / "photos").resolve() == (data / "street" / "photos").resolve()
    assert (out / "street" / "derived" / "boxes.csv").is_symlink()
    assert not (out / "street" / "derived" / "image_tags.csv").is_symlink()
