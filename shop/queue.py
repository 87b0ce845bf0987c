"""The one place where shop hands work to the workers: by task name, after commit."""

from __future__ import annotations

from celery import current_app
from django.db import transaction

EMBED_PRODUCT_IMAGE = "catalog.embed_product_image"


def enqueue_image_embedding(image_id: int) -> None:
    """Queue embedding of one image once the surrounding transaction has committed."""
    transaction.on_commit(lambda: current_app.send_task(EMBED_PRODUCT_IMAGE, args=[image_id]))
