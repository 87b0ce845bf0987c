"""Thin Celery tasks: take ids, re-read rows, call one shop service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from shop.services.embeddings import product_images_embed

# Errors worth another try: the database restarted or a connection dropped.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name="catalog.embed_product_images",
    # Idempotent per (image, model version, bytes): a message whose worker died mid-task
    # is delivered again rather than lost.
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=5,
    soft_time_limit=300,
    time_limit=360,
)
def embed_product_images(image_ids: list[int], model_version_id: int) -> dict:
    result = product_images_embed(image_ids=image_ids, model_version_id=model_version_id)
    return {
        "embedded": result.embedded,
        "already_done": result.already_done,
        "failed": sorted(result.failed),
        "missing": result.missing,
    }
