import io

import pytest
from django.contrib.auth.models import Permission, User
from PIL import Image

from shop.models import Product, ProductEmbedding

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("active_version")]


@pytest.fixture
def editor(client):
    user = User.objects.create_user("merch", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="change_product"))
    client.force_login(user)
    return client


def jpeg(colour=(10, 120, 200)) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), colour).save(buffer, "JPEG")
    buffer.seek(0)
    buffer.name = "photo.jpg"
    return buffer


PRODUCT = {
    "sku": "NEW-1",
    "title": "Red sneaker",
    "price": "59.90",
    "currency": "eur",
    "tags": [{"kind": "article_type", "name": "Casual Shoes"}, {"kind": "colour", "name": "Red"}],
}


def test_anonymous_writes_are_refused_with_a_message(client):
    response = client.post("/api/v1/products", PRODUCT, content_type="application/json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


def test_users_without_the_permission_cannot_write(client):
    client.force_login(User.objects.create_user("shopper", password="pw"))
    response = client.post("/api/v1/products", PRODUCT, content_type="application/json")
    assert response.status_code == 403
    assert "shop.change_product" in response.json()["detail"]


def test_editor_creates_a_product_with_tags(editor):
    response = editor.post("/api/v1/products", PRODUCT, content_type="application/json")
    body = response.json()
    assert response.status_code == 201, body
    assert body["currency"] == "EUR" and body["price"] == "59.90"
    assert {"kind": "colour", "name": "Red"} in body["tags"]


def test_duplicate_sku_is_a_409(editor):
    editor.post("/api/v1/products", PRODUCT, content_type="application/json")
    response = editor.post("/api/v1/products", PRODUCT, content_type="application/json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "a product with SKU 'NEW-1' exists already",
        "code": "conflict",
    }


def test_invalid_fields_are_named(editor):
    bad = {**PRODUCT, "price": "-3", "currency": "euro", "tags": [{"kind": "mood", "name": "x"}]}
    response = editor.post("/api/v1/products", bad, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"price", "currency", "tags"}


def test_patch_updates_fields_and_replaces_tags(editor):
    product_id = editor.post("/api/v1/products", PRODUCT, content_type="application/json").json()[
        "id"
    ]
    response = editor.patch(
        f"/api/v1/products/{product_id}",
        {"title": "Crimson sneaker", "tags": [{"kind": "colour", "name": "Crimson"}]},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Crimson sneaker"
    assert response.json()["tags"] == [{"kind": "colour", "name": "Crimson"}]


def test_uploaded_image_is_stored_primary_and_queued_once(
    editor, django_capture_on_commit_callbacks
):
    product_id = editor.post("/api/v1/products", PRODUCT, content_type="application/json").json()[
        "id"
    ]
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = editor.post(f"/api/v1/products/{product_id}/images", {"file": jpeg()})
    assert response.status_code == 201, response.json()
    [image] = response.json()["images"]
    assert image["is_primary"] and len(queued) == 1
    assert ProductEmbedding.objects.get(image_id=image["id"]).status == "pending"

    again = editor.post(f"/api/v1/products/{product_id}/images", {"file": jpeg()})
    assert again.status_code == 409  # the same bytes twice


def test_upload_that_is_not_an_image_is_refused(editor):
    product_id = editor.post("/api/v1/products", PRODUCT, content_type="application/json").json()[
        "id"
    ]
    fake = io.BytesIO(b"%PDF-1.4 not an image")
    fake.name = "photo.jpg"
    response = editor.post(f"/api/v1/products/{product_id}/images", {"file": fake})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_image"
    assert not Product.objects.get(pk=product_id).images.exists()
