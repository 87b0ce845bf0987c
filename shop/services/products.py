"""Writes of products through the API: create, update, add an image."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from shop.exceptions import Conflict, NotFound, ShopError
from shop.models import Product, ProductImage, Tag
from shop.services.embeddings import image_embedding_request

MAX_IMAGE_BYTES = 20 * 1024 * 1024


def _tags(tags: Sequence[tuple[str, str]]) -> list[Tag]:
    unknown = sorted({kind for kind, _ in tags} - set(Tag.Kind.values))
    if unknown:
        raise ShopError(f"unknown tag kind(s): {', '.join(unknown)}", code="invalid_tag")
    return [Tag.objects.get_or_create(kind=kind, name=name.strip())[0] for kind, name in tags]


@transaction.atomic
def product_create(
    *,
    sku: str,
    title: str,
    brand: str = "",
    price: Decimal | None = None,
    currency: str = "",
    product_url: str = "",
    is_active: bool = True,
    tags: Sequence[tuple[str, str]] = (),
) -> Product:
    try:
        with transaction.atomic():
            product = Product.objects.create(
                sku=sku,
                title=title,
                brand=brand,
                price=price,
                currency=currency.upper(),
                product_url=product_url,
                is_active=is_active,
            )
    except IntegrityError:
        raise Conflict(f"a product with SKU {sku!r} exists already") from None
    product.tags.set(_tags(tags))
    return product


@transaction.atomic
def product_update(
    *, product_id: int, tags: Sequence[tuple[str, str]] | None = None, **fields
) -> Product:
    try:
        product = Product.objects.select_for_update().get(pk=product_id)
    except Product.DoesNotExist:
        raise NotFound(f"product {product_id} does not exist") from None
    if "currency" in fields:
        fields["currency"] = fields["currency"].upper()
    for name, value in fields.items():
        setattr(product, name, value)
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        raise Conflict(f"a product with SKU {product.sku!r} exists already") from None
    if tags is not None:
        product.tags.set(_tags(tags))
    return product


@transaction.atomic
def product_image_add(
    *, product_id: int, name: str, data: bytes, is_primary: bool = False
) -> ProductImage:
    """Store an image (checked to decode), make it primary if asked, and queue its embedding."""
    from recommender.images import ImageDecodeError, load_image

    if not data:
        raise ShopError("the image file is empty", code="invalid_image")
    if len(data) > MAX_IMAGE_BYTES:
        raise ShopError(f"images are limited to {MAX_IMAGE_BYTES // 2**20} MiB", code="too_large")
    try:
        load_image(data)
    except ImageDecodeError as error:
        raise ShopError(f"not a usable image: {error}", code="invalid_image") from None
    try:
        product = Product.objects.select_for_update().get(pk=product_id)
    except Product.DoesNotExist:
        raise NotFound(f"product {product_id} does not exist") from None
    digest = hashlib.sha256(data).hexdigest()
    if product.images.filter(sha256=digest).exists():
        raise Conflict("this product already has an image with these bytes")
    if is_primary or not product.images.exists():
        product.images.filter(is_primary=True).update(is_primary=False)
        is_primary = True
    image = ProductImage(product=product, sha256=digest, is_primary=is_primary)
    image.image.save(name, ContentFile(data), save=False)
    image.save()
    image_embedding_request(image_ids=[image.pk])
    return image
