import pytest

from shop.services.catalog import catalog_import
from tests.shop.catalog_fixtures import product_row, write_catalog, write_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("active_version")]


@pytest.fixture
def product_id(tmp_path, django_capture_on_commit_callbacks):
    write_catalog(tmp_path, [product_row("SKU-1", write_image(tmp_path, "a.jpg", (1, 2, 3)))])
    catalog_import(folder=tmp_path)
    from shop.models import Product

    return Product.objects.get(sku="SKU-1").pk


def test_product_list_and_detail_show_tags_and_image_urls(client, product_id):
    listing = client.get("/api/v1/products").json()
    assert listing["count"] == 1
    detail = client.get(f"/api/v1/products/{product_id}").json()
    assert detail["sku"] == "SKU-1"
    assert {"kind": "article_type", "name": "Casual Shoes"} in detail["tags"]
    assert detail["images"][0]["url"].startswith("http://testserver/media/products/")


def test_unknown_product_is_a_404_with_detail_and_code(client):
    response = client.get("/api/v1/products/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "product 999999 does not exist", "code": "not_found"}


def test_writes_need_authentication(client):
    response = client.post("/api/v1/products", {"sku": "x"})
    assert response.status_code in (401, 403, 405)


def test_openapi_schema_lists_the_product_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/products" in schema["paths"]
    assert "/api/v1/products/{product_id}" in schema["paths"]


def test_api_docs_page_is_served_without_a_cdn(client):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page and "cdn.jsdelivr.net" not in page
