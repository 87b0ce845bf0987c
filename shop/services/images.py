"""Writes of product images: bytes, hash, and the embedding request that follows a change."""

from __future__ import annotations

import hashlib

from django.db import transaction

from shop.models import ProductImage
from shop.services.embeddings import image_embedding_request


def file_sha256(image: ProductImage) -> str:
    digest = hashlib.sha256()
    image.image.open("rb")
    try:
        for chunk in image.image.chunks():
            digest.update(chunk)
    finally:
        image.image.seek(0)
    return digest.hexdigest()


@transaction.atomic
def product_image_saved(*, image: ProductImage) -> bool:
    """Record the hash of a saved image's bytes; queue its embedding if they changed.

    Returns whether the bytes changed (a new image counts as changed).
    """
    digest = file_sha256(image)
    if digest == image.sha256 and image.embeddings.exists():
        return False
    ProductImage.objects.filter(pk=image.pk).update(sha256=digest)
    image.sha256 = digest
    image_embedding_request(image_ids=[image.pk])
    return True
