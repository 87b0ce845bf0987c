"""A real task through the real broker to a real worker process, writing to PostgreSQL."""

import numpy as np
import pytest

from shop.models import ProductEmbedding
from shop.queue import EMBED_PRODUCT_IMAGES
from shop.services.catalog import catalog_import
from tests.helpers import wait_until
from tests.shop.catalog_fixtures import product_row, write_catalog, write_image
from worker.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def done_embedding():
    return ProductEmbedding.objects.filter(status="done").select_related("model_version").first()


def test_imported_image_is_embedded_once_by_the_worker(celery_worker_process, tmp_path):
    write_catalog(tmp_path, [product_row("1", write_image(tmp_path, "1.jpg", (180, 20, 20)))])

    catalog_import(folder=tmp_path)  # queues the embedding after commit

    embedding = wait_until(done_embedding, timeout_s=120)
    vector = np.asarray(embedding.vector)
    assert embedding.model_version.status == "active"
    assert vector.shape == (embedding.model_version.embedding_dimension,)
    assert np.isfinite(vector).all() and np.linalg.norm(vector) == pytest.approx(1, abs=1e-4)

    # The same task again, as a retry or a duplicate delivery would run it: nothing changes.
    again = app.send_task(
        EMBED_PRODUCT_IMAGES,
        args=[[embedding.image_id]],
        kwargs={"model_version_id": embedding.model_version_id},
    ).get(timeout=60)
    assert again["already_done"] == [embedding.image_id] and again["embedded"] == []
    assert ProductEmbedding.objects.count() == 1
    assert ProductEmbedding.objects.get().attempts == 1


def test_undecodable_image_is_recorded_as_failed_not_crashing_the_worker(
    celery_worker_process, tmp_path
):
    write_catalog(tmp_path, [product_row("1", write_image(tmp_path, "1.jpg", (1, 2, 3)))])
    (tmp_path / "images" / "1.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")

    catalog_import(folder=tmp_path)

    failed = wait_until(lambda: ProductEmbedding.objects.filter(status="failed").first())
    assert "image" in failed.error.lower() and failed.vector is None
    assert app.control.ping(timeout=1)  # the worker is still alive


def test_task_for_a_deleted_image_finishes_without_error(celery_worker_process):
    from shop.services.embeddings import model_version_default

    version = model_version_default()
    result = app.send_task(
        EMBED_PRODUCT_IMAGES, args=[[987654]], kwargs={"model_version_id": version.pk}
    ).get(timeout=60)
    assert result["missing"] == [987654]
