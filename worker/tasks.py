"""Thin Celery tasks: take ids, re-read rows, call one shop service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from shop.exceptions import NotFound
from shop.services.embeddings import product_image_embed

# Errors worth another try: the database restarted or a connection dropped.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name="catalog.embed_product_image",
    # Idempotent per (image, model version, bytes): a message whose worker died mid-task
    # is delivered again rather than lost.
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=5,
    soft_time_limit=120,
    time_limit=180,
)
def embed_product_image(image_id: int) -> dict:
    try:
        result = product_image_embed(image_id=image_id)
    except NotFound:  # deleted after it was queued: nothing left to do
        return {"image_id": image_id, "created": False, "missing": True}
    return {"image_id": result.image_id, "created": result.created}
