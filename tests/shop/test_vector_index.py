import numpy as np
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from shop.models import Product, ProductEmbedding, ProductImage
from shop.selectors import nearest_images
from shop.services.embeddings import model_version_activate, vector_index_name

pytestmark = pytest.mark.django_db


def make_embeddings(version, vectors: np.ndarray) -> list[int]:
    product = Product.objects.create(sku="P", title="product")
    images = ProductImage.objects.bulk_create(
        ProductImage(product=product, image=f"x/{i}.jpg", sha256=f"{i:064d}")
        for i in range(len(vectors))
    )
    ProductEmbedding.objects.bulk_create(
        ProductEmbedding(
            image=image, model_version=version, image_sha256=image.sha256, vector=vector
        )
        for image, vector in zip(images, vectors, strict=True)
    )
    return [image.pk for image in images]


def test_activation_creates_a_partial_hnsw_index_for_the_version():
    version = model_version_activate(name="m1", weights_sha256="a" * 64, embedding_dimension=8)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", [vector_index_name(version)]
        )
        [(definition,)] = cursor.fetchall()
    assert "USING hnsw" in definition and "vector(8)" in definition
    assert f"model_version_id = {version.pk}" in definition


def test_nearest_images_match_exact_search_and_use_the_index():
    rng = np.random.default_rng(0)
    version = model_version_activate(name="m1", weights_sha256="a" * 64, embedding_dimension=8)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    ids = make_embeddings(version, vectors)
    query = rng.normal(size=8).astype(np.float32)

    found = nearest_images(model_version=version, vector=query, k=5)

    exact = np.argsort(np.linalg.norm(vectors - query, axis=1))[:5]
    assert [n.image_id for n in found] == [ids[i] for i in exact]
    assert found[0].distance == pytest.approx(
        float(np.linalg.norm(vectors[exact[0]] - query)), rel=1e-5
    )
    with CaptureQueriesContext(connection) as queries:
        nearest_images(model_version=version, vector=query, k=5)
    [search_sql] = [q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"]]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE shop_productembedding")  # statistics, as autovacuum would make
        cursor.execute("SET LOCAL enable_seqscan = off")  # a 300-row table would be scanned
        cursor.execute("EXPLAIN " + search_sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert vector_index_name(version) in plan


def test_versions_do_not_mix_and_only_one_is_active():
    first = model_version_activate(name="m1", weights_sha256="a" * 64, embedding_dimension=4)
    make_embeddings(first, np.eye(4, dtype=np.float32))
    second = model_version_activate(name="m2", weights_sha256="b" * 64, embedding_dimension=3)
    first.refresh_from_db()
    assert second.is_active and not first.is_active
    assert nearest_images(model_version=second, vector=[1, 0, 0], k=5) == []
    assert len(nearest_images(model_version=first, vector=[1, 0, 0, 0], k=5)) == 4


def test_query_of_the_wrong_dimension_is_refused():
    version = model_version_activate(name="m1", weights_sha256="a" * 64, embedding_dimension=4)
    with pytest.raises(ValueError, match="3 dimensions"):
        nearest_images(model_version=version, vector=[1, 2, 3], k=5)
