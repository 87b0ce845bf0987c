"""Looks end to end: API -> real broker -> real worker process -> PostgreSQL -> API."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from shop.models import ModelVersion
from shop.services.api_keys import api_key_create
from shop.services.embeddings import model_version_from_checkpoint, model_version_start_filling
from tests.helpers import wait_until
from tests.shop.look_fixtures import import_catalog, jpeg_bytes, tiny_checkpoint
from tests.support.http_servers import (
    LocalHTTPServer,
    endless_body,
    fixed_body,
    redirect,
    slow_drip,
)
from worker.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

JPEG_START = b"\xff\xd8\xff" + bytes(1000)


@pytest.fixture
def catalog(celery_worker_process, tmp_path) -> ModelVersion:
    """The small catalog, embedded by the worker with the tiny tag model, made active."""
    version = model_version_from_checkpoint(path=tiny_checkpoint())
    model_version_start_filling(model_version_id=version.pk)
    import_catalog(tmp_path / "catalog")
    return wait_until(
        lambda: (
            ModelVersion.objects.filter(pk=version.pk, status="active").first()
            and not version.embeddings.exclude(status="done").exists()
            and version
        ),
        timeout_s=120,
    )


@pytest.fixture
def client() -> APIClient:
    cache.clear()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_create(name='e2e').key}")
    return client


@pytest.fixture
def photo(data_dir) -> bytes:
    return jpeg_bytes(data_dir / "street" / "photos" / "0001.jpg")


@pytest.fixture
def server(settings):
    settings.LOOK_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # the worker allows it too
    with LocalHTTPServer() as server:
        yield server


def finished(client: APIClient, look_id: str) -> dict:
    def done():
        body = client.get(f"/api/v1/looks/{look_id}").json()
        return body if body["status"] in ("done", "failed") else None

    return wait_until(done, timeout_s=90, interval_s=0.2)


def test_street_photo_in_items_with_boxes_and_catalog_products_out(catalog, client, photo):
    image = SimpleUploadedFile("street.jpg", photo, content_type="image/jpeg")

    response = client.post("/api/v1/looks?wait=10", {"image": image}, format="multipart")

    assert response.status_code in (200, 202)
    look = finished(client, response.json()["id"])
    assert look["status"] == "done", look["error"]
    assert look["model_version"] == catalog.name
    assert look["items"], "the street photo shows clothes"
    for item in look["items"]:
        assert item["box"]["width"] > 0 and item["products"]
        assert item["products"][0]["sku"] in {"1", "2", "3", "4", "5"}


def test_photo_fetched_by_url_through_a_redirect(catalog, client, photo, server):
    server.route("/photo.jpg", fixed_body(photo, "image/jpeg"))
    server.route("/moved", redirect("/photo.jpg"))

    response = client.post(
        "/api/v1/looks?wait=10", {"image_url": server.url("/moved")}, format="json"
    )

    look = finished(client, response.json()["id"])
    assert look["status"] == "done" and look["items"]
    assert (look["image"]["width"], look["image"]["height"]) == Image.open(io.BytesIO(photo)).size


@pytest.mark.parametrize(
    "route, code",
    [
        (redirect("http://10.0.0.1/photo.jpg"), "fetch_refused"),
        (redirect("http://169.254.169.254/latest/meta-data/"), "fetch_refused"),
        (redirect("http://[::1]/photo.jpg"), "fetch_refused"),
        (slow_drip(JPEG_START, interval_s=0.5, content_type="image/jpeg"), "timeout"),
        (endless_body(content_type="image/jpeg", prefix=b"\xff\xd8\xff"), "too_large"),
        (fixed_body(b"<html><body>a blog</body></html>", "image/jpeg"), "not_an_image"),
    ],
    ids=["redirect-private", "redirect-metadata", "redirect-ipv6-loopback", "slow-drip",
         "endless-body", "html-as-jpeg"],
)  # fmt: skip
def test_hostile_urls_fail_the_look_with_a_reason_and_the_worker_lives(
    catalog, client, server, route, code
):
    url = server.route("/photo.jpg", route)

    response = client.post("/api/v1/looks", {"image_url": url}, format="json")

    assert response.status_code == 202
    look = finished(client, response.json()["id"])
    assert look["status"] == "failed"
    assert look["error"]["code"] == code and look["error"]["detail"]
    assert app.control.ping(timeout=2), "the worker survived"
