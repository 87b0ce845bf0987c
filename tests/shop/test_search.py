"""Per-tagset search: k results whenever k products match, relaxing tags otherwise."""

import numpy as np
import pytest
from django.db import connection

from shop.models import Product, Tag
from shop.selectors import TagRequirement, similar_products
from tests.shop.test_vector_index import make_embeddings, register

pytestmark = pytest.mark.django_db

ARTICLE_TYPES = 20


@pytest.fixture
def catalog():
    """2,000 products in 20 article types; vectors clustered a little by type."""
    rng = np.random.default_rng(7)
    version = register("m1", 16)
    types = rng.integers(0, ARTICLE_TYPES, size=2000)
    centres = rng.normal(size=(ARTICLE_TYPES, 16))
    vectors = (centres[types] * 0.5 + rng.normal(size=(2000, 16))).astype(np.float32)
    product_ids = make_embeddings(version, vectors)
    tags = Tag.objects.bulk_create(
        Tag(kind="article_type", name=f"type {i}") for i in range(ARTICLE_TYPES)
    )
    Through = Product.tags.through
    Through.objects.bulk_create(
        Through(product_id=pid, tag_id=tags[t].pk)
        for pid, t in zip(product_ids, types, strict=True)
    )
    return version, vectors, np.array(product_ids), types, tags


def exact_top(vectors, product_ids, mask, query, k):
    distances = np.linalg.norm(vectors - query, axis=1)
    distances[~mask] = np.inf
    order = np.argsort(distances)[:k]
    return [int(product_ids[i]) for i in order if np.isfinite(distances[i])]


def test_filtered_search_returns_k_products_of_the_tag_in_distance_order(catalog):
    version, vectors, product_ids, types, tags = catalog
    query = np.random.default_rng(1).normal(size=16).astype(np.float32)

    result = similar_products(
        vector=query, model_version=version, k=20, required_tags=[TagRequirement(tags[3].pk)]
    )

    found = [hit.product_id for hit in result.products]
    assert len(found) == 20
    assert set(
        Product.objects.filter(pk__in=found, tags=tags[3]).values_list("pk", flat=True)
    ) == set(found)
    distances = [hit.distance for hit in result.products]
    assert distances == sorted(distances)
    truth = exact_top(vectors, product_ids, types == 3, query, 20)
    assert len(set(found) & set(truth)) / 20 >= 0.9
    assert result.tag_ids_relaxed == ()


def test_when_the_index_scan_stops_short_an_exact_scan_still_returns_k(catalog):
    version, vectors, product_ids, types, tags = catalog
    rare = Tag.objects.create(kind="colour", name="Teal")  # on 25 of 2,000 products
    chosen = np.random.default_rng(3).choice(len(product_ids), size=25, replace=False)
    Product.tags.through.objects.bulk_create(
        Product.tags.through(product_id=int(product_ids[i]), tag_id=rare.pk) for i in chosen
    )
    mask = np.zeros(len(product_ids), dtype=bool)
    mask[chosen] = True
    query = np.random.default_rng(2).normal(size=16).astype(np.float32)
    with connection.cursor() as cursor:  # make the iterative scan give up early
        cursor.execute("SET hnsw.max_scan_tuples = 30")
    try:
        result = similar_products(
            vector=query, model_version=version, k=20, required_tags=[TagRequirement(rare.pk)]
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET hnsw.max_scan_tuples")
    assert [hit.product_id for hit in result.products] == exact_top(
        vectors, product_ids, mask, query, 20
    )


def test_the_least_certain_tag_is_relaxed_when_too_few_products_have_all(catalog):
    version, vectors, product_ids, types, tags = catalog
    rare = Tag.objects.create(kind="colour", name="Mauve")
    mauve = [int(p) for p in product_ids[types == 4][:3]]
    Product.tags.through.objects.bulk_create(
        Product.tags.through(product_id=p, tag_id=rare.pk) for p in mauve
    )
    query = np.zeros(16, dtype=np.float32)

    result = similar_products(
        vector=query,
        model_version=version,
        k=10,
        required_tags=[TagRequirement(tags[4].pk, confidence=0.9), TagRequirement(rare.pk, 0.4)],
    )

    assert result.tag_ids_relaxed == (rare.pk,)
    assert result.tag_ids_used == (tags[4].pk,)
    assert len(result.products) == 10
    assert all(
        Product.objects.get(pk=hit.product_id).tags.filter(pk=tags[4].pk).exists()
        for hit in result.products
    )


def test_inactive_and_excluded_products_are_never_returned(catalog):
    version, vectors, product_ids, types, tags = catalog
    query = vectors[0]
    first = similar_products(vector=query, model_version=version, k=5).products
    assert first[0].product_id == product_ids[0] and first[0].distance == pytest.approx(0, abs=1e-5)
    Product.objects.filter(pk=first[1].product_id).update(is_active=False)

    again = similar_products(
        vector=query, model_version=version, k=5, exclude_product_ids=[int(product_ids[0])]
    ).products

    returned = {hit.product_id for hit in again}
    assert int(product_ids[0]) not in returned and first[1].product_id not in returned
    assert len(again) == 5
