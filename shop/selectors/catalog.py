"""Reads of the catalog."""

from __future__ import annotations

from django.db.models import F, Prefetch, Q, QuerySet

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
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def embedding_progress(model_version: ModelVersion | None = None) -> tuple[int, int]:
    """(images with an up-to-date vector or a recorded failure, product images in all)."""
    total = ProductImage.objects.count()
    version = model_version or active_model_version()
    if version is None:
        return 0, total
    settled = (
        ProductEmbedding.objects.filter(model_version=version)
        .filter(
            Q(status=ProductEmbedding.Status.FAILED)
            | Q(status=ProductEmbedding.Status.DONE, image_sha256=F("image__sha256"))
        )
        .count()
    )
    return settled, total
