"""Writes of the embedding lifecycle: model versions, vectors, and their HNSW indexes."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from shop.exceptions import NotFound
from shop.models import ModelVersion, ProductEmbedding, ProductImage
from shop.queue import enqueue_image_embedding

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "efficientnet_lite0.imagenet"


@functools.cache
def get_embedder(name: str = DEFAULT_EMBEDDER):
    """The embedding model, loaded once per process (workers keep it warm between tasks)."""
    from recommender.embed import ImageEmbedder  # torch is imported only where it is used

    return ImageEmbedder.from_weights(name, device=inference_device())


def inference_device() -> str:
    if settings.INFERENCE_DEVICE != "auto":
        return settings.INFERENCE_DEVICE
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def vector_index_name(model_version: ModelVersion) -> str:
    return f"shop_embedding_hnsw_mv{model_version.pk}"


def ensure_vector_index(model_version: ModelVersion) -> None:
    """A partial HNSW index over this version's vectors, cast to its fixed dimension.

    Queries must use the same expression (``vector::vector(n)`` with ``model_version_id``)
    for the planner to pick it.
    """
    dimension = int(model_version.embedding_dimension)
    with connection.cursor() as cursor:
        # CREATE INDEX refuses to run while deferred foreign-key checks of this transaction
        # are pending; check them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {vector_index_name(model_version)} "
            f"ON {ProductEmbedding._meta.db_table} "
            f"USING hnsw ((vector::vector({dimension})) vector_l2_ops) "
            f"WHERE model_version_id = {int(model_version.pk)}"
        )


@transaction.atomic
def model_version_activate(
    *, name: str, weights_sha256: str, embedding_dimension: int, tag_vocabulary: dict | None = None
) -> ModelVersion:
    """Register the model version (if new), index it, and make it the only active one."""
    version, _ = ModelVersion.objects.get_or_create(
        name=name,
        defaults={
            "weights_sha256": weights_sha256,
            "embedding_dimension": embedding_dimension,
            "tag_vocabulary": tag_vocabulary or {},
        },
    )
    if not version.is_active:
        ModelVersion.objects.filter(is_active=True).update(is_active=False)
        version.is_active = True
        version.save(update_fields=["is_active"])
    ensure_vector_index(version)
    return version


def active_model_version_for_embedder() -> ModelVersion:
    """The active version, registering the default embedder's when none is active yet."""
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is not None:
        return active
    embedder = get_embedder()
    return model_version_activate(
        name=embedder.model_name,
        weights_sha256=embedder.weights_sha256,
        embedding_dimension=embedder.dimension,
    )


@dataclass(frozen=True)
class EmbedResult:
    image_id: int
    created: bool


def product_image_embed(*, image_id: int) -> EmbedResult:
    """Embed one product image with the active model; a no-op when already done.

    "Done" means a vector exists for this image and model version, made from the same
    bytes: running it twice, or after a retry, changes nothing.
    """
    try:
        image = ProductImage.objects.get(pk=image_id)
    except ProductImage.DoesNotExist:
        raise NotFound(f"product image {image_id} does not exist") from None
    version = active_model_version_for_embedder()
    existing = ProductEmbedding.objects.filter(image=image, model_version=version).first()
    if existing is not None and existing.image_sha256 == image.sha256:
        return EmbedResult(image_id=image_id, created=False)

    from recommender.images import load_image

    with image.image.open("rb") as file:
        picture = load_image(file.read())
    embedder = get_embedder(version.name)
    vector = embedder.embed([picture])[0]
    ProductEmbedding.objects.update_or_create(
        image=image,
        model_version=version,
        defaults={"vector": vector, "image_sha256": image.sha256},
    )
    logger.info("embedded image %s with %s", image_id, version.name)
    return EmbedResult(image_id=image_id, created=True)


def embeddings_queue_missing() -> int:
    """Queue every image without an up-to-date vector of the active model; returns how many.

    Safe to call at any time (e.g. at start-up, after a crash): the task skips done work.
    """
    version = ModelVersion.objects.filter(is_active=True).first()
    images = ProductImage.objects.all()
    if version is not None:
        images = images.exclude(
            embeddings__model_version=version, embeddings__image_sha256=F("sha256")
        )
    image_ids = list(images.values_list("pk", flat=True))
    with transaction.atomic():
        for image_id in image_ids:
            enqueue_image_embedding(image_id)
    return len(image_ids)
