import numpy as np
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from shop.models import ModelVersion, Product, ProductEmbedding, ProductImage
from shop.selectors import similar_products
from shop.services.embeddings import model_version_register, vector_index_name

pytestmark = pytest.mark.django_db


def register(name: str, dimension: int) -> ModelVersion:
    return model_version_register(
        name=name, source="test", weights_sha256=name[0] * 64, embedding_dimension=dimension
    )


def make_embeddings(version: ModelVersion, vectors: np.ndarray) -> list[int]:
    """One product per vector; returns the product ids."""
    products = Product.objects.bulk_create(
        Product(sku=f"{version.name}-{i}", title=f"product {i}") for i in range(len(vectors))
    )
    images = ProductImage.objects.bulk_create(
        ProductImage(product=p, image=f"x/{p.sku}.jpg", sha256=f"{p.pk:064d}", is_primary=True)
        for p in products
    )
    ProductEmbedding.objects.bulk_create(
        ProductEmbedding(
            image=image,
            model_version=version,
            image_sha256=image.sha256,
            vector=vector,
            status="done",
        )
        for image, vector in zip(images, vectors, strict=True)
    )
    return [product.pk for product in products]


def test_registering_a_version_creates_a_partial_hnsw_index_for_it():
    version = register("m1", 8)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", [vector_index_name(version)]
        )
        [(definition,)] = cursor.fetchall()
    assert "USING hnsw" in definition and "vector(8)" in definition
    assert f"model_version_id = {version.pk}" in definition


def test_search_matches_exact_search_and_uses_the_hnsw_index():
    rng = np.random.default_rng(0)
    version = register("m1", 8)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    product_ids = make_embeddings(version, vectors)
    query = rng.normal(size=8).astype(np.float32)

    with CaptureQueriesContext(connection) as queries:
        found = similar_products(vector=query, model_version=version, k=5).products

    exact = np.argsort(np.linalg.norm(vectors - query, axis=1))[:5]
    assert [hit.product_id for hit in found] == [product_ids[i] for i in exact]
    expected = float(np.linalg.norm(vectors[exact[0]] - query))
    assert found[0].distance == pytest.approx(expected, rel=1e-5)
    [search_sql] = [q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"]]
    with transaction.atomic(), connection.cursor() as cursor:
        # On 300 rows a scan and a sort are cheapest; forbid them to show that the index's
        # expression and predicate match the query, so large tables can use it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + search_sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert vector_index_name(version) in plan


def test_versions_do_not_mix():
    first = register("m1", 4)
    make_embeddings(first, np.eye(4, dtype=np.float32))
    second = register("m2", 3)
    assert similar_products(vector=[1, 0, 0], model_version=second, k=5).products == []
    assert len(similar_products(vector=[1, 0, 0, 0], model_version=first, k=5).products) == 4


def test_query_of_the_wrong_dimension_or_with_nan_is_refused():
    version = register("m1", 4)
    with pytest.raises(ValueError, match="3 dimensions"):
        similar_products(vector=[1, 2, 3], model_version=version, k=5)
    with pytest.raises(ValueError, match="NaN"):
        similar_products(vector=[1, 2, 3, float("nan")], model_version=version, k=5)


def test_only_one_version_can_be_active():
    from django.db import IntegrityError

    first, second = register("m1", 4), register("m2", 4)
    ModelVersion.objects.filter(pk=first.pk).update(status="active")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=second.pk).update(status="active")
