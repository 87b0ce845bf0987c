from __future__ import annotations

import csv
from pathlib import Path

import pytest

from recommender.data.catalog import DataError, read_catalog
from tests.recommender.synthetic_data import write_catalog


def _rewrite(csv_path: Path, edit) -> None:
    with open(csv_path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    rows, columns = edit(rows)
    with open(csv_path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def test_reads_items_with_na_kept_as_text(tmp_path: Path) -> None:
    items = read_catalog(write_catalog(tmp_path, count=10))

    assert len(items) == 10
    assert items[0].row["usage"] == "NA"
    assert items[0].image_path.is_file()
    assert {item.split for item in items} == {"train", "val", "test"}


def test_missing_column_names_the_file_and_column(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, count=4)
    _rewrite(catalog / "catalog.csv", lambda rows: ([{"id": r["id"]} for r in rows], ["id"]))

    with pytest.raises(DataError, match=r"catalog\.csv: missing column\(s\) image, split"):
        read_catalog(catalog)


def test_missing_image_names_the_line_or_is_skipped(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, count=4)
    (catalog / "images" / "1002.jpg").unlink()

    with pytest.raises(DataError, match=r"line 4: id 1002: image file not found"):
        read_catalog(catalog)
    assert [item.id for item in read_catalog(catalog, on_error="skip")] == ["1000", "1001", "1003"]


def test_unknown_split_is_a_row_error(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, count=3)

    def edit(rows):
        rows[1]["split"] = "holdout"
        return rows, list(rows[0])

    _rewrite(catalog / "catalog.csv", edit)
    with pytest.raises(DataError, match="line 3: id 1001: split 'holdout'"):
        read_catalog(catalog)
