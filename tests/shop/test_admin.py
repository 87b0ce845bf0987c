"""The back office as a merchandiser uses it."""

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from shop.models import ModelVersion, Product, ProductEmbedding, ProductImage, Tag
from shop.services.catalog import catalog_import
from tests.shop.catalog_fixtures import product_row, write_catalog, write_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("active_version")]


@pytest.fixture
def catalog(tmp_path, active_version, django_capture_on_commit_callbacks):
    rows = [
        product_row("SHOE-1", write_image(tmp_path, "1.jpg", (200, 0, 0))),
        product_row("SHOE-2", write_image(tmp_path, "2.jpg", (190, 10, 0))),
        product_row("BAG-1", write_image(tmp_path, "3.jpg", (0, 0, 200)), articleType="Handbags"),
    ]
    write_catalog(tmp_path, rows)
    with django_capture_on_commit_callbacks(execute=False):
        catalog_import(folder=tmp_path)
    vectors = np.eye(8, dtype=np.float32)[:3]
    vectors[1] = [0.8, 0.6, 0, 0, 0, 0, 0, 0]  # SHOE-2 is nearer SHOE-1 than BAG-1 is
    for index, embedding in enumerate(ProductEmbedding.objects.order_by("image_id")):
        embedding.vector = vectors[index]
        embedding.status = "done"
        embedding.save()
    return {product.sku: product for product in Product.objects.all()}


def test_product_list_shows_thumbnail_tags_and_embedding_status(admin_client, catalog):
    page = admin_client.get("/admin/shop/product/").content.decode()
    assert "SHOE-1" in page and "/media/products/" in page
    assert "Casual Shoes" in page and "done (test-8d)" in page


def test_product_list_filters_by_article_type_and_embedding_status(admin_client, catalog):
    handbags = Tag.objects.get(kind="article_type", name="Handbags")
    page = admin_client.get(f"/admin/shop/product/?article_type={handbags.pk}").content.decode()
    assert "BAG-1" in page and "SHOE-1" not in page
    ProductEmbedding.objects.filter(image__product__sku="SHOE-2").update(status="failed")
    page = admin_client.get("/admin/shop/product/?embedding=failed").content.decode()
    assert "SHOE-2" in page and "SHOE-1" not in page


def test_search_by_sku(admin_client, catalog):
    page = admin_client.get("/admin/shop/product/?q=BAG").content.decode()
    assert "BAG-1" in page and "SHOE-1" not in page


def test_similar_page_lists_neighbours_with_distances(admin_client, catalog):
    shoe = catalog["SHOE-1"]
    page = admin_client.get(f"/admin/shop/product/{shoe.pk}/similar/").content.decode()
    assert page.index("SHOE-2") < page.index("BAG-1")  # the same article type first
    assert "distance 0.632" in page and "distance 1.414" in page
    assert "Too few products share" in page and "Casual Shoes" in page


def test_re_embed_action_queues_the_selected_products(
    admin_client, catalog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin_client.post(
            "/admin/shop/product/",
            {"action": "re_embed", "_selected_action": [catalog["SHOE-1"].pk]},
        )
    assert response.status_code == 302 and len(queued) == 1
    assert ProductEmbedding.objects.get(image__product__sku="SHOE-1").status == "pending"
    assert ProductEmbedding.objects.get(image__product__sku="SHOE-2").status == "done"


def test_uploading_a_new_image_in_the_admin_records_its_hash_and_queues_embedding(
    admin_client, catalog, django_capture_on_commit_callbacks
):
    product = catalog["BAG-1"]
    image = product.images.get()
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 255, 0)).save(buffer, "JPEG")
    data = {
        "sku": product.sku,
        "title": product.title,
        "brand": "",
        "price": "",
        "currency": "",
        "product_url": "",
        "is_active": "on",
        "tags": list(product.tags.values_list("pk", flat=True)),
        "images-TOTAL_FORMS": "1",
        "images-INITIAL_FORMS": "1",
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
        "images-0-id": image.pk,
        "images-0-product": product.pk,
        "images-0-is_primary": "on",
        "images-0-image": SimpleUploadedFile("green.jpg", buffer.getvalue(), "image/jpeg"),
    }
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin_client.post(f"/admin/shop/product/{product.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    image.refresh_from_db()
    import hashlib

    assert image.sha256 == hashlib.sha256(buffer.getvalue()).hexdigest()
    assert ProductEmbedding.objects.get(image=image).status == "pending"
    assert len(queued) == 1


def test_model_version_page_shows_progress_and_refuses_manual_creation(admin_client, catalog):
    page = admin_client.get("/admin/shop/modelversion/").content.decode()
    assert "3 / 3 (100%), 0 failed, 0 pending" in page
    assert admin_client.get("/admin/shop/modelversion/add/").status_code == 403


def test_failed_embeddings_are_listed_with_their_error_and_retryable(
    admin_client, catalog, django_capture_on_commit_callbacks
):
    row = ProductEmbedding.objects.get(image__product__sku="SHOE-2")
    row.status, row.error, row.vector = "failed", "cannot identify image file", None
    row.save()
    page = admin_client.get("/admin/shop/productembedding/?status=failed").content.decode()
    assert "cannot identify image file" in page
    with django_capture_on_commit_callbacks(execute=False) as queued:
        admin_client.post(
            "/admin/shop/productembedding/", {"action": "retry", "_selected_action": [row.pk]}
        )
    row.refresh_from_db()
    assert row.status == "pending" and len(queued) == 1
    assert ModelVersion.objects.get().status == "active"
    assert ProductImage.objects.count() == 3


@pytest.mark.slow
def test_cam_heatmap_preview_of_a_product_image(admin_client, catalog, data_dir, tmp_path):
    from recommender.images import load_image

    image = catalog["SHOE-1"].images.get()
    photo = min((data_dir / "catalog" / "images").glob("*.jpg"))
    image.image.save("real.jpg", io.BytesIO(photo.read_bytes()))
    page = admin_client.get(f"/admin/shop/product/{catalog['SHOE-1'].pk}/change/").content.decode()
    assert f"/admin/shop/product/image/{image.pk}/heatmap.png" in page

    response = admin_client.get(f"/admin/shop/product/image/{image.pk}/heatmap.png")

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    rendered = load_image(response.content)
    assert rendered.size == load_image(photo.read_bytes()).size
    missing = admin_client.get("/admin/shop/product/image/987654/heatmap.png")
    assert missing.status_code == 404
