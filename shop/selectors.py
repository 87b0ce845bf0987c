"""Reads of the catalog."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Prefetch, QuerySet, Value
from django.db.models.functions import Cast
from pgvector.django import L2Distance, VectorField

from shop.exceptions import NotFound
from shop.models import ModelVersion, Product, ProductEmbedding, ProductImage


def product_list(*, active_only: bool = True) -> QuerySet[Product]:
    products = Product.objects.prefetch_related(
        "tags", Prefetch("images", queryset=ProductImage.objects.order_by("-is_primary", "id"))
    )
    return products.filter(is_active=True) if active_only else products


def product_get(*, product_id: int) -> Product:
    try:
        return product_list(active_only=False).get(pk=product_id)
    except Product.DoesNotExist:
        raise NotFound(f"product {product_id} does not exist") from None


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def embedding_progress() -> tuple[int, int]:
    """(images embedded by the active model, product images in all) for progress displays."""

    total = ProductImage.objects.count()
    version = active_model_version()
    if version is None:
        return 0, total
    done = ProductEmbedding.objects.filter(
        model_version=version, image_sha256=F("image__sha256")
    ).count()
    return done, total


@dataclass(frozen=True)
class Neighbour:
    image_id: int
    product_id: int
    distance: float


def nearest_images(
    *, model_version: ModelVersion, vector: Sequence[float], k: int = 20, ef_search: int = 100
) -> list[Neighbour]:
    """The ``k`` product images nearest to ``vector`` (L2) among one model version's vectors.

    The cast to ``vector(n)`` and the version filter repeat the partial HNSW index's own
    expression, so PostgreSQL can use it.
    """
    dimension = model_version.embedding_dimension
    if len(vector) != dimension:
        raise ValueError(f"query has {len(vector)} dimensions, {model_version} has {dimension}")
    typed_vector = Cast("vector", VectorField(dimensions=dimension))
    query = Cast(
        Value(list(map(float, vector)), output_field=VectorField()),
        VectorField(dimensions=dimension),
    )
    rows = (
        ProductEmbedding.objects.filter(model_version=model_version)
        .annotate(distance=L2Distance(typed_vector, query))
        .order_by("distance")
        .values_list("image_id", "image__product_id", "distance")[:k]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(int(ef_search))])
        return [Neighbour(image, product, float(distance)) for image, product, distance in rows]
