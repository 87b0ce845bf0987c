"""A real task through the real broker to a real worker process, writing to PostgreSQL."""

import numpy as np
import pytest

from shop.models import ProductEmbedding
from shop.queue import EMBED_PRODUCT_IMAGE
from shop.services.catalog import catalog_import
from tests.helpers import wait_until
from tests.shop.catalog_fixtures import product_row, write_catalog, write_image
from worker.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_imported_image_is_embedded_once_by_the_worker(celery_worker_process, tmp_path):
    write_catalog(tmp_path, [product_row("1", write_image(tmp_path, "1.jpg", (180, 20, 20)))])

    catalog_import(folder=tmp_path)  # queues the embedding after commit

    embedding = wait_until(lambda: ProductEmbedding.objects.first(), timeout_s=120)
    vector = np.asarray(embedding.vector)
    assert embedding.model_version.is_active
    assert vector.shape == (embedding.model_version.embedding_dimension,)
    assert np.isfinite(vector).all() and np.linalg.norm(vector) == pytest.approx(1, abs=1e-4)

    # The same task again, as a retry or a duplicate delivery would run it: nothing changes.
    result = app.send_task(EMBED_PRODUCT_IMAGE, args=[embedding.image_id]).get(timeout=60)
    assert result == {"image_id": embedding.image_id, "created": False}
    assert ProductEmbedding.objects.count() == 1
    assert ProductEmbedding.objects.get().created_at == embedding.created_at


def test_task_for_a_deleted_image_finishes_without_error(celery_worker_process):
    result = app.send_task(EMBED_PRODUCT_IMAGE, args=[987654]).get(timeout=60)
    assert result == {"image_id": 987654, "created": False, "missing": True}
