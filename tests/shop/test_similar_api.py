import numpy as np
import pytest

from shop.models import ModelVersion, Product, Tag
from tests.shop.test_vector_index import make_embeddings, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def products():
    version = register("m1", 4)
    ModelVersion.objects.filter(pk=version.pk).update(status="active")
    vectors = np.array(
        [[0, 0, 0, 0], [0.1, 0, 0, 0], [0.2, 0, 0, 0], [0.04, 0, 0, 0], [3, 3, 3, 3]],
        dtype=np.float32,
    )
    ids = make_embeddings(version, vectors)
    shoes = Tag.objects.create(kind="article_type", name="Casual Shoes")
    bags = Tag.objects.create(kind="article_type", name="Handbags")
    for pk in ids[:3] + ids[4:]:
        Product.objects.get(pk=pk).tags.add(shoes)
    Product.objects.get(pk=ids[3]).tags.add(bags)  # near, but another article type
    return ids


def test_similar_returns_nearest_products_of_the_same_article_type(client, products):
    response = client.get(f"/api/v1/products/{products[0]}/similar?k=2")
    body = response.json()
    assert response.status_code == 200, body
    assert [hit["product"]["id"] for hit in body["results"]] == [products[1], products[2]]
    assert body["results"][0]["distance"] == pytest.approx(0.1, abs=1e-5)
    assert body["tags_required"] == [{"kind": "article_type", "name": "Casual Shoes"}]
    assert body["model_version"] == "m1"


def test_similar_relaxes_the_article_type_when_too_few_share_it(client, products):
    body = client.get(f"/api/v1/products/{products[3]}/similar?k=3").json()
    assert body["tags_relaxed"] == [{"kind": "article_type", "name": "Handbags"}]
    assert [hit["product"]["id"] for hit in body["results"]] == products[:3]


def test_similar_rejects_bad_parameters_with_a_message(client, products):
    response = client.get(f"/api/v1/products/{products[0]}/similar?k=0&same=shape")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and set(body["errors"]) == {"k", "same"}
    assert "unknown tag kind(s) shape" in body["errors"]["same"][0]


def test_similar_for_a_product_without_embedding_is_404(client, products):
    lonely = Product.objects.create(sku="lonely", title="no image")
    response = client.get(f"/api/v1/products/{lonely.pk}/similar")
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"product {lonely.pk} has no embedding yet",
        "code": "not_embedded",
    }
