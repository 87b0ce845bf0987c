"""Import a catalog folder (CSV + images): idempotent upsert by SKU."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.files.base import ContentFile
from django.db import transaction

from shop.exceptions import CatalogImportError
from shop.models import Product, ProductImage, Tag
from shop.services.embeddings import image_embedding_request


@dataclass(frozen=True)
class CatalogColumns:
    """Which CSV column holds what; defaults follow the Fashion Product Images layout."""

    sku: str = "id"
    title: str = "productDisplayName"
    image: str = "image"
    brand: str = "brand_guess"
    price: str = "price"
    currency: str = "currency"
    product_url: str = "url"
    tags: dict[str, str] = field(
        default_factory=lambda: {
            Tag.Kind.CATEGORY: "masterCategory",
            Tag.Kind.SUB_CATEGORY: "subCategory",
            Tag.Kind.ARTICLE_TYPE: "articleType",
            Tag.Kind.COLOUR: "baseColour",
            Tag.Kind.GENDER: "gender",
            Tag.Kind.USAGE: "usage",
            Tag.Kind.SEASON: "season",
        }
    )

    @property
    def required(self) -> tuple[str, ...]:
        return (self.sku, self.title, self.image)


@dataclass
class RowFailure:
    row: int  # 1-based line number in the CSV, header = line 1
    sku: str
    reason: str


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[RowFailure] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.failed)


class RowError(ValueError):
    """A row that cannot be imported; the message says why."""


def catalog_csv_path(folder: Path) -> Path:
    if folder.is_file():
        return folder
    path = folder / "catalog.csv"
    if not path.exists():
        raise CatalogImportError(f"no catalog.csv in {folder}")
    return path


def read_catalog_rows(csv_path: Path, columns: CatalogColumns) -> list[tuple[int, dict[str, str]]]:
    """All rows with their line numbers; refuses a file without the required columns."""
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            missing = [name for name in columns.required if name not in (reader.fieldnames or [])]
            if missing:
                raise CatalogImportError(
                    f"{csv_path}: missing column(s) {', '.join(missing)}; "
                    f"found {', '.join(reader.fieldnames or []) or 'no header'}"
                )
            return [(number, row) for number, row in enumerate(reader, start=2)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CatalogImportError(f"cannot read {csv_path}: {error}") from None


def evenly_spaced(rows: list, count: int | None) -> list:
    """``count`` rows spread over the whole file (a sample that covers every category)."""
    if count is None or count >= len(rows):
        return rows
    step = len(rows) / count
    return [rows[int(index * step)] for index in range(count)]


def catalog_import(
    *,
    folder: Path,
    columns: CatalogColumns | None = None,
    sample: int | None = None,
    stop_on_error: bool = False,
    progress: Callable[[Iterator], Iterator] = iter,
) -> ImportSummary:
    """Create or update one product per row; failed rows are reported, not fatal.

    With ``stop_on_error`` the first bad row raises ``CatalogImportError`` naming it;
    rows before it stay imported (each row commits on its own).
    """
    columns = columns or CatalogColumns()
    csv_path = catalog_csv_path(folder)
    rows = evenly_spaced(read_catalog_rows(csv_path, columns), sample)
    summary = ImportSummary()
    tag_cache: dict[tuple[str, str], Tag] = {}
    changed_images: list[int] = []
    for number, row in progress(rows):
        sku = (row.get(columns.sku) or "").strip()
        try:
            outcome = _import_row(row, csv_path.parent, columns, tag_cache, changed_images)
        except RowError as error:
            if stop_on_error:
                raise CatalogImportError(
                    f"{csv_path} line {number} (SKU {sku!r}): {error}"
                ) from None
            summary.failed.append(RowFailure(row=number, sku=sku, reason=str(error)))
            continue
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    with transaction.atomic():
        image_embedding_request(image_ids=changed_images)
    return summary


@transaction.atomic
def _import_row(
    row: dict[str, str],
    root: Path,
    columns: CatalogColumns,
    tag_cache: dict[tuple[str, str], Tag],
    changed_images: list[int],
) -> str:
    fields = _product_fields(row, columns)
    image_bytes = _read_image(row, root, columns)
    product, created = Product.objects.get_or_create(sku=fields.pop("sku"), defaults=fields)
    changed = False
    if not created:
        changed_fields = [name for name, value in fields.items() if getattr(product, name) != value]
        for name in changed_fields:
            setattr(product, name, fields[name])
        if changed_fields:
            product.save(update_fields=[*changed_fields, "updated_at"])
            changed = True
    tags = [_tag(kind, row.get(column, ""), tag_cache) for kind, column in columns.tags.items()]
    wanted = {tag.pk for tag in tags if tag is not None}
    if created or wanted != set(product.tags.values_list("pk", flat=True)):
        product.tags.set(wanted)
        changed = True
    image_name = Path(row[columns.image]).name
    image_id = _set_primary_image(product, image_bytes, image_name)
    if image_id is not None:
        changed_images.append(image_id)
        changed = True
    return "created" if created else ("updated" if changed else "unchanged")


def _product_fields(row: dict[str, str], columns: CatalogColumns) -> dict:
    sku = (row.get(columns.sku) or "").strip()
    title = (row.get(columns.title) or "").strip()
    if not sku:
        raise RowError(f"empty SKU (column {columns.sku})")
    if len(sku) > 64:
        raise RowError("SKU longer than 64 characters")
    if not title:
        raise RowError(f"empty title (column {columns.title})")
    price_text = (row.get(columns.price) or "").strip()
    try:
        price = Decimal(price_text) if price_text else None
    except InvalidOperation:
        raise RowError(f"price {price_text!r} is not a number") from None
    if price is not None and (price < 0 or not price.is_finite()):
        raise RowError(f"price {price_text!r} is not a valid price")
    return {
        "sku": sku,
        "title": title[:300],
        "brand": (row.get(columns.brand) or "").strip()[:100],
        "price": price,
        "currency": (row.get(columns.currency) or "").strip().upper()[:3],
        "product_url": (row.get(columns.product_url) or "").strip()[:500],
    }


def _read_image(row: dict[str, str], root: Path, columns: CatalogColumns) -> bytes:
    relative = (row.get(columns.image) or "").strip()
    if not relative:
        raise RowError(f"empty image path (column {columns.image})")
    path = (root / relative).resolve()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RowError(f"image file {relative} not found") from None
    except OSError as error:
        raise RowError(f"image file {relative} unreadable: {error.strerror}") from None
    if not data:
        raise RowError(f"image file {relative} is empty")
    return data


def _tag(kind: str, value: str, cache: dict[tuple[str, str], Tag]) -> Tag | None:
    name = (value or "").strip()[:100]
    if not name:
        return None
    key = (kind, name)
    if key not in cache:
        cache[key], _ = Tag.objects.get_or_create(kind=kind, name=name)
    return cache[key]


def _set_primary_image(product: Product, data: bytes, name: str) -> int | None:
    """Store the image as the product's primary one; its id when the bytes changed."""
    digest = hashlib.sha256(data).hexdigest()
    primary = product.images.filter(is_primary=True).first()
    if primary is not None and primary.sha256 == digest:
        return None
    if primary is None:
        primary = ProductImage(product=product, is_primary=True)
    elif primary.image.name:
        # The old file goes only once the new row is committed.
        storage, old_name = primary.image.storage, primary.image.name
        transaction.on_commit(lambda: storage.delete(old_name))
    primary.sha256 = digest
    primary.image.save(name, ContentFile(data), save=False)
    primary.save()
    return primary.pk
