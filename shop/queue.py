"""The one place where shop hands work to the workers: by task name, after commit."""

from __future__ import annotations

from collections.abc import Sequence

from celery import current_app
from django.db import transaction

EMBED_PRODUCT_IMAGES = "catalog.embed_product_images"


def enqueue_embedding_batches(
    image_ids: Sequence[int], *, model_version_id: int, size: int
) -> None:
    """Queue embedding of images in batches, once the surrounding transaction commits."""
    image_ids = list(image_ids)
    for start in range(0, len(image_ids), size):
        batch = image_ids[start : start + size]
        transaction.on_commit(
            lambda batch=batch: current_app.send_task(
                EMBED_PRODUCT_IMAGES, args=[batch], kwargs={"model_version_id": model_version_id}
            )
        )


PROCESS_LOOK = "looks.process_look"


def enqueue_look(look_id: str) -> None:
    """Queue a look once the surrounding transaction commits; the task id is the look id."""
    look_id = str(look_id)
    transaction.on_commit(
        lambda: current_app.send_task(PROCESS_LOOK, args=[look_id], task_id=look_id)
    )
