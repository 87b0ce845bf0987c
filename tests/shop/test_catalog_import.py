from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from shop.exceptions import CatalogImportError
from shop.models import Product, ProductEmbedding, ProductImage, Tag
from shop.services.catalog import catalog_import
from tests.shop.catalog_fixtures import product_row, write_catalog, write_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("active_version")]


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    rows = [
        product_row("1", write_image(tmp_path, "1.jpg", (200, 10, 10))),
        product_row(
            "2",
            write_image(tmp_path, "2.jpg", (10, 200, 10)),
            baseColour="Green",
            articleType="Handbags",
            masterCategory="Accessories",
            subCategory="Bags",
        ),
    ]
    return write_catalog(tmp_path, rows)


def test_import_creates_products_with_tags_and_primary_image(
    catalog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        summary = catalog_import(folder=catalog)
    assert (summary.created, summary.updated, summary.unchanged, summary.failed) == (2, 0, 0, [])
    bag = Product.objects.get(sku="2")
    tags = {(tag.kind, tag.name) for tag in bag.tags.all()}
    assert {("article_type", "Handbags"), ("colour", "Green"), ("usage", "NA")} <= tags
    image = bag.images.get()
    assert image.is_primary and len(image.sha256) == 64
    assert image.image.read()[:2] == b"\xff\xd8"  # the JPEG bytes were stored
    assert len(callbacks) == 1  # one embedding batch queued for both new images
    assert ProductEmbedding.objects.filter(status="pending").count() == 2


def test_import_twice_changes_nothing_and_queues_nothing(
    catalog, django_capture_on_commit_callbacks
):
    catalog_import(folder=catalog)
    with django_capture_on_commit_callbacks() as callbacks:
        summary = catalog_import(folder=catalog)
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 2)
    assert callbacks == []
    assert Product.objects.count() == 2 and ProductImage.objects.count() == 2
    assert Tag.objects.filter(kind="article_type").count() == 2


def test_changed_image_bytes_update_the_image_and_queue_embedding(
    catalog, django_capture_on_commit_callbacks
):
    catalog_import(folder=catalog)
    before = ProductImage.objects.get(product__sku="1").sha256
    write_image(catalog, "1.jpg", (0, 0, 250))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        summary = catalog_import(folder=catalog)
    assert (summary.updated, summary.unchanged) == (1, 1)
    image = ProductImage.objects.get(product__sku="1")
    assert image.sha256 != before
    assert len(callbacks) == 2  # the old file's deletion and the new embedding
    assert ProductEmbedding.objects.get(image=image).status == "pending"


def test_row_with_missing_image_is_reported_by_line_and_skipped(catalog):
    rows = [product_row("1", "images/1.jpg"), product_row("3", "images/nowhere.jpg")]
    write_catalog(catalog, rows)
    summary = catalog_import(folder=catalog)
    assert summary.created == 1
    [failure] = summary.failed
    assert (failure.row, failure.sku) == (3, "3")
    assert "images/nowhere.jpg not found" in failure.reason


def test_stop_on_error_names_the_row(catalog):
    write_catalog(catalog, [product_row("3", "images/nowhere.jpg")])
    with pytest.raises(CatalogImportError, match=r"line 2 \(SKU '3'\).*not found"):
        catalog_import(folder=catalog, stop_on_error=True)


def test_missing_columns_are_named(tmp_path):
    write_catalog(tmp_path, [{"id": "1"}], header=["id", "gender"])
    with pytest.raises(CatalogImportError, match="missing column.*productDisplayName, image"):
        catalog_import(folder=tmp_path)


def test_command_reports_summary_and_failures(catalog, capsys):
    write_catalog(catalog, [product_row("1", "images/1.jpg"), product_row("", "images/1.jpg")])
    call_command("import_catalog", str(catalog), verbosity=0)
    output = capsys.readouterr()
    assert "2 rows: 1 created, 0 updated, 0 unchanged, 1 failed" in output.out
    assert "line 3" in output.err and "empty SKU" in output.err


def test_command_refuses_a_missing_folder(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_catalog", str(tmp_path / "nope"))


def test_sample_spreads_over_the_real_catalog(data_dir):
    summary = catalog_import(folder=data_dir / "catalog", sample=12)
    assert summary.created == 12 and not summary.failed
    categories = set(
        Tag.objects.filter(kind="category", products__isnull=False).values_list("name", flat=True)
    )
    assert len(categories) >= 2
