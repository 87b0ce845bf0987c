"""Reads of looks: one client's own looks, and the products their items matched."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Prefetch

from shop.exceptions import NotFound
from shop.models import ApiKey, Look, LookItem, Product, ProductImage


def look_get(*, look_id, api_key: ApiKey | None) -> Look:
    """A look of this client (another client's look does not exist for it)."""
    look = (
        Look.objects.select_related("model_version")
        .prefetch_related("items")
        .filter(pk=look_id, api_key=api_key)
        .first()
    )
    if look is None:
        raise NotFound(f"look {look_id} does not exist")
    return look


def look_item_get(*, look_id, index: int, api_key: ApiKey | None) -> LookItem:
    look = look_get(look_id=look_id, api_key=api_key)
    item = next((item for item in look.items.all() if item.index == index), None)
    if item is None:
        raise NotFound(f"look {look_id} has no item {index}")
    item.look = look
    return item


def products_by_id(product_ids: Iterable[int]) -> dict[int, Product]:
    """Active products with their images (primary first), in one query per table."""
    images = ProductImage.objects.order_by("-is_primary", "id")
    products = Product.objects.filter(pk__in=set(product_ids), is_active=True).prefetch_related(
        Prefetch("images", queryset=images)
    )
    return {product.pk: product for product in products}
