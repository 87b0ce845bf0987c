"""The shopper API over HTTP: keys, throttling, input errors, results, re-queries, CORS."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from shop.models import Look
from shop.services.api_keys import api_key_create, look_page_key
from shop.services.looks import look_process
from tests.shop.look_fixtures import embedded_catalog, jpeg_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()  # throttle history lives in the shared Redis cache
    yield
    cache.clear()


@pytest.fixture
def key() -> str:
    return api_key_create(name="extension").key


@pytest.fixture
def client(key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def photo(data_dir) -> bytes:
    return jpeg_bytes(data_dir / "street" / "photos" / "0001.jpg", short_side=300)


def upload(client: APIClient, photo: bytes, **fields):
    image = SimpleUploadedFile("look.jpg", photo, content_type="image/jpeg")
    return client.post("/api/v1/looks", {"image": image, **fields}, format="multipart")


def test_look_without_a_key_is_401_with_a_plain_reason():
    response = APIClient().post("/api/v1/looks", {"image_url": "https://example.com/a.jpg"})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize("header", ["Api-Key sal_00000000_unknown", "Api-Key nonsense", "Api-Key "])
def test_unknown_key_is_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/client")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_revoked_key_is_401(client, key):
    from shop.models import ApiKey

    ApiKey.objects.update(is_active=False)

    assert client.get("/api/v1/client").status_code == 401


def test_client_endpoint_names_the_key_and_its_rate(client):
    response = client.get("/api/v1/client")

    assert response.status_code == 200
    assert response.json() == {"name": "extension", "rate": "60/min"}


def test_uploaded_photo_is_accepted_with_202_and_a_location(client, photo):
    response = upload(client, photo, page_url="https://blog.example/post")

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["items"] == [] and body["error"] is None
    assert response["Location"] == f"/api/v1/looks/{body['id']}"
    look = Look.objects.get(pk=body["id"])
    assert look.page_url == "https://blog.example/post" and bytes(look.image_data) == photo


def test_region_is_accepted_as_json_in_a_multipart_form(client, photo):
    response = upload(client, photo, region='{"x": 1, "y": 2, "width": 30, "height": 40}')

    assert response.status_code == 202
    assert response.json()["region"] == {"x": 1, "y": 2, "width": 30, "height": 40}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "non_field_errors"),
        ({"image_url": "not a url"}, "image_url"),
        ({"image_url": "https://example.com/a.jpg", "region": {"x": -1}}, "region"),
    ],
)
def test_invalid_look_requests_are_400_naming_the_field(client, payload, field):
    response = client.post("/api/v1/looks", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "http://localhost/a.jpg",
        "http://10.0.0.8/a.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/a.jpg",
    ],
)
def test_image_urls_to_private_addresses_are_400(client, url):
    response = client.post("/api/v1/looks", {"image_url": url}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "url_refused"
    assert "address" in response.json()["detail"] or "local" in response.json()["detail"]


def test_a_non_image_upload_is_400(client):
    response = upload(client, b"%PDF-1.7 not a photo")

    assert response.status_code == 400
    assert response.json()["code"] == "not_an_image"


def test_an_oversized_upload_is_413_before_it_is_read(client, settings):
    settings.LOOK_MAX_IMAGE_BYTES = 10_000

    response = upload(client, b"\xff\xd8\xff" + b"\0" * 200_000)

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_bad_wait_is_400(client, photo):
    response = client.post(
        "/api/v1/looks?wait=600", {"image_url": "https://example.com/a.jpg"}, format="json"
    )

    assert response.status_code == 400
    assert "wait" in response.json()["detail"]


def test_over_the_keys_rate_is_429_with_retry_after(photo):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_create(name='t', rate='2/min').key}")

    statuses = [upload(client, photo).status_code for _ in range(3)]

    assert statuses == [202, 202, 429]
    response = upload(client, photo)
    assert response.json()["code"] == "throttled" and int(response["Retry-After"]) > 0
    assert client.get("/api/v1/client").status_code == 200  # reads have their own budget


def test_another_clients_look_is_404(client, photo):
    look_id = upload(client, photo).json()["id"]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_create(name='other').key}")

    assert other.get(f"/api/v1/looks/{look_id}").status_code == 404
    assert client.get(f"/api/v1/looks/{uuid.uuid4()}").status_code == 404


@pytest.fixture
def finished_look(client, photo, tmp_path, django_capture_on_commit_callbacks) -> dict:
    with django_capture_on_commit_callbacks(execute=False):
        embedded_catalog(tmp_path / "catalog")
        look_id = upload(client, photo).json()["id"]
    look_process(look_id=look_id)
    return client.get(f"/api/v1/looks/{look_id}").json()


def test_finished_look_lists_items_with_boxes_tags_and_product_cards(finished_look):
    assert finished_look["status"] == "done" and finished_look["error"] is None
    assert finished_look["model_version"].startswith("test-looks@")
    width, height = finished_look["image"]["width"], finished_look["image"]["height"]
    assert finished_look["items"]
    for item in finished_look["items"]:
        box = item["box"]
        assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height
        assert {tag["kind"] for tag in item["tags"]} == {"article_type", "colour", "gender"}
        card = item["products"][0]
        assert set(card) == {
            "id", "sku", "title", "brand", "price", "currency", "image_url", "product_url",
            "distance",
        }  # fmt: skip
        assert card["image_url"].startswith("http://testserver/media/")


def test_item_products_can_be_requeried_with_the_shoppers_tags(client, finished_look):
    url = f"/api/v1/looks/{finished_look['id']}/items/0/products"

    response = client.get(url, {"tags": "colour:Blue,article_type:Jeans", "k": 1})

    assert response.status_code == 200
    body = response.json()
    assert body["tags_used"] == ["article_type:Jeans", "colour:Blue"] or body["tags_used"] == [
        "colour:Blue",
        "article_type:Jeans",
    ]
    assert [card["sku"] for card in body["products"]] == ["5"]  # the one blue jeans


@pytest.mark.parametrize(
    "query, status, code",
    [
        ({"tags": "colour:Mauve"}, 400, "unknown_tag"),
        ({"tags": "shade:Blue"}, 400, "invalid"),
        ({"tags": "colour"}, 400, "invalid"),
        ({"k": "0"}, 400, "invalid"),
    ],
)
def test_bad_requeries_are_400(client, finished_look, query, status, code):
    response = client.get(f"/api/v1/looks/{finished_look['id']}/items/0/products", query)

    assert response.status_code == status
    assert response.json()["code"] == code


def test_requery_of_a_missing_item_is_404(client, finished_look):
    response = client.get(f"/api/v1/looks/{finished_look['id']}/items/99/products")

    assert response.status_code == 404


def test_requery_of_an_unfinished_look_is_409(client, photo):
    look_id = upload(client, photo).json()["id"]
    from shop.models import LookItem

    LookItem.objects.create(
        look_id=look_id, index=0, score=1, x=0, y=0, width=1, height=1, source="region",
        vector=[0.0] * 16,
    )  # fmt: skip

    response = client.get(f"/api/v1/looks/{look_id}/items/0/products")

    assert response.status_code == 409
    assert response.json()["code"] == "look_not_done"


def test_tag_values_of_a_kind_for_changing_a_chip(client, tmp_path):
    from tests.shop.look_fixtures import import_catalog

    import_catalog(tmp_path / "catalog")

    response = client.get("/api/v1/tags", {"kind": "colour"})

    assert response.json() == {"kind": "colour", "values": ["Black", "Blue", "Red"]}
    assert client.get("/api/v1/tags", {"kind": "shade"}).status_code == 400


def test_look_page_carries_a_working_key_and_a_strict_policy():
    response = APIClient().get("/look/")

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    key = look_page_key()
    assert f'content="{key}"' in response.content.decode()
    page_client = APIClient()
    page_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert page_client.get("/api/v1/client").json()["name"] == "Shop look page"


def test_cors_allows_the_extension_origin_only(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["chrome-extension://abcdefghijklmnop"]

    allowed = client.options(
        "/api/v1/looks",
        HTTP_ORIGIN="chrome-extension://abcdefghijklmnop",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    refused = client.options(
        "/api/v1/looks",
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )

    assert allowed["Access-Control-Allow-Origin"] == "chrome-extension://abcdefghijklmnop"
    assert "Access-Control-Allow-Origin" not in refused


def test_looks_are_in_the_openapi_schema():
    schema = APIClient().get("/api/schema/?format=json").json()

    assert {"/api/v1/looks", "/api/v1/looks/{look_id}"} <= set(schema["paths"])
    assert "/api/v1/looks/{look_id}/items/{index}/products" in schema["paths"]


def test_openapi_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))

    assert "ApiKey" in (tmp_path / "s.yaml").read_text()
