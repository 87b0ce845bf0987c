"""Writes of the embedding lifecycle: model versions, their indexes, vectors and failures."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from shop.exceptions import Conflict, NotFound, ShopError
from shop.models import ModelVersion, ProductEmbedding, ProductImage
from shop.queue import enqueue_embedding_batches

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "efficientnet_lite0.imagenet"
FILL_BATCH_SIZE = 32


# Models ------------------------------------------------------------------------------


@functools.cache
def get_embedder(source: str):
    """The embedding model named by a version's ``source``, loaded once per process."""
    from recommender.embed import ImageEmbedder  # torch loads only where models run
    from recommender.weights import WEIGHTS

    options = {
        "device": inference_device(),
        "runtime": settings.INFERENCE_RUNTIME,
        "openvino_cache_dir": settings.OPENVINO_CACHE_DIR,
    }
    if source in WEIGHTS:
        return ImageEmbedder.from_weights(source, **options)
    return ImageEmbedder.from_checkpoint(settings.MODEL_DIR / source, **options)


def inference_device() -> str:
    if settings.INFERENCE_DEVICE != "auto":
        return settings.INFERENCE_DEVICE
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# Versions ----------------------------------------------------------------------------


def vector_index_name(model_version: ModelVersion) -> str:
    return f"shop_embedding_hnsw_mv{model_version.pk}"


def ensure_vector_index(model_version: ModelVersion) -> None:
    """A partial HNSW index over this version's vectors, cast to its fixed dimension.

    Queries must repeat the expression (``vector::vector(n)`` and the version filter) for
    the planner to use it.
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
def model_version_register(
    *,
    name: str,
    source: str,
    weights_sha256: str,
    embedding_dimension: int,
    tag_vocabulary: dict | None = None,
    metrics: dict | None = None,
) -> ModelVersion:
    """Register a model version (idempotent by name) and create its vector index."""
    version, created = ModelVersion.objects.get_or_create(
        name=name,
        defaults={
            "source": source,
            "weights_sha256": weights_sha256,
            "embedding_dimension": embedding_dimension,
            "tag_vocabulary": tag_vocabulary or {},
            "metrics": metrics or {},
        },
    )
    if not created and (version.weights_sha256, version.embedding_dimension) != (
        weights_sha256,
        embedding_dimension,
    ):
        raise Conflict(f"model version {name!r} exists with other weights or dimension")
    ensure_vector_index(version)
    return version


def model_version_from_checkpoint(*, path: Path) -> ModelVersion:
    """Register the trained embedder in ``path`` (its name names the file's hash)."""
    import json

    from recommender.checkpoints import CheckpointError, load_checkpoint

    path = path.resolve()
    try:
        checkpoint = load_checkpoint(path)
    except (CheckpointError, OSError) as error:
        raise ShopError(f"cannot use checkpoint {path}: {error}", code="bad_checkpoint") from None
    try:
        source = str(path.relative_to(settings.MODEL_DIR.resolve()))
    except ValueError:
        source = str(path)
    embedder = get_embedder(source)
    return model_version_register(
        name=checkpoint.model_name,
        source=source,
        weights_sha256=checkpoint.file_sha256,
        embedding_dimension=embedder.dimension,
        tag_vocabulary=json.loads(checkpoint.vocabulary.to_json()),
        metrics=checkpoint.metrics,
    )


def model_version_default() -> ModelVersion:
    """The active version; on a fresh install, the ImageNet baseline, registered and active."""
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if active is not None:
        return active
    embedder = get_embedder(DEFAULT_EMBEDDER)
    version = model_version_register(
        name=embedder.model_name,
        source=DEFAULT_EMBEDDER,
        weights_sha256=embedder.weights_sha256,
        embedding_dimension=embedder.dimension,
    )
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if not ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists():
            _make_active(version)
    return ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)


def model_version_start_filling(*, model_version_id: int) -> int:
    """Embed the whole catalog with this version in the background; returns images queued.

    Search keeps serving the active version until every image has a vector (or a
    recorded failure) under the new one; then the new version becomes active in one
    transaction. With no active version at all, the new one is active at once.
    """
    with transaction.atomic():
        version = _lock_version(model_version_id)
        if version.status == ModelVersion.Status.ACTIVE:
            raise Conflict(f"{version} is already active")
        if (
            ModelVersion.objects.filter(status=ModelVersion.Status.FILLING)
            .exclude(pk=version.pk)
            .exists()
        ):
            raise Conflict("another model version is still embedding the catalog")
        if ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists():
            version.status = ModelVersion.Status.FILLING
            version.save(update_fields=["status"])
        else:
            _make_active(version)
        image_ids = _queue_stale(version, ProductImage.objects.values_list("pk", flat=True))
    finish_filling_if_complete(model_version_id=version.pk)  # an empty catalog is complete
    return len(image_ids)


def finish_filling_if_complete(*, model_version_id: int) -> bool:
    """Activate a filling version once no image is pending; returns whether it did."""
    with transaction.atomic():
        version = _lock_version(model_version_id)
        if version.status != ModelVersion.Status.FILLING:
            return False
        if version.embeddings.filter(status=ProductEmbedding.Status.PENDING).exists():
            return False
        _make_active(version)
    logger.info("model version %s is now active", version)
    return True


def _make_active(version: ModelVersion) -> None:
    ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exclude(pk=version.pk).update(
        status=ModelVersion.Status.RETIRED
    )
    version.status = ModelVersion.Status.ACTIVE
    version.activated_at = timezone.now()
    version.save(update_fields=["status", "activated_at"])


def _lock_version(model_version_id: int) -> ModelVersion:
    try:
        return ModelVersion.objects.select_for_update().get(pk=model_version_id)
    except ModelVersion.DoesNotExist:
        raise NotFound(f"model version {model_version_id} does not exist") from None


def _queue_stale(version: ModelVersion, image_ids: Iterable[int]) -> list[int]:
    """Mark images without an up-to-date vector pending and queue them; returns their ids."""
    pending = _mark_pending(version, image_ids)
    enqueue_embedding_batches(pending, model_version_id=version.pk, size=FILL_BATCH_SIZE)
    return pending


def _mark_pending(version: ModelVersion, image_ids: Iterable[int]) -> list[int]:
    """Create pending rows where none exist; returns the ids whose vector is not done."""
    image_ids = list(image_ids)
    ProductEmbedding.objects.bulk_create(
        [ProductEmbedding(image_id=pk, model_version=version) for pk in image_ids],
        ignore_conflicts=True,
        batch_size=1000,
    )
    stale = ProductEmbedding.objects.filter(model_version=version, image_id__in=image_ids).filter(
        ~Q(status=ProductEmbedding.Status.DONE) | ~Q(image_sha256=F("image__sha256"))
    )
    stale.update(status=ProductEmbedding.Status.PENDING, error="")
    return list(stale.values_list("image_id", flat=True))


# Images ------------------------------------------------------------------------------


def embedding_target_versions() -> list[ModelVersion]:
    """Versions new or changed images are embedded with: the active and the filling one."""
    versions = list(
        ModelVersion.objects.filter(
            status__in=[ModelVersion.Status.ACTIVE, ModelVersion.Status.FILLING]
        )
    )
    return versions or [model_version_default()]


def image_embedding_request(*, image_ids: Iterable[int]) -> int:
    """Queue new or changed images with every version that needs them; returns how many."""
    image_ids = list(image_ids)
    return sum(len(_queue_stale(version, image_ids)) for version in embedding_target_versions())


@dataclass
class EmbedBatchResult:
    embedded: list[int] = field(default_factory=list)
    already_done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)


def product_images_embed(*, image_ids: Sequence[int], model_version_id: int) -> EmbedBatchResult:
    """Embed images with one version, in one forward pass; idempotent.

    An image already embedded from the same bytes is skipped; one that cannot be decoded
    gets a failed row with the reason (retryable from the admin); a deleted one is skipped.
    """
    from recommender.images import ImageDecodeError, load_image

    version = ModelVersion.objects.get(pk=model_version_id)
    result = EmbedBatchResult()
    images = {image.pk: image for image in ProductImage.objects.filter(pk__in=image_ids)}
    result.missing = [pk for pk in image_ids if pk not in images]
    done = set(
        ProductEmbedding.objects.filter(
            model_version=version,
            image_id__in=images,
            status=ProductEmbedding.Status.DONE,
            image_sha256=F("image__sha256"),
        ).values_list("image_id", flat=True)
    )
    result.already_done = sorted(done)
    pictures, to_embed = [], []
    for pk, image in images.items():
        if pk in done:
            continue
        try:
            with image.image.open("rb") as file:
                pictures.append(load_image(file.read()))
            to_embed.append(image)
        except (ImageDecodeError, OSError) as error:
            result.failed[pk] = str(error)
    vectors = get_embedder(version.source).embed(pictures) if pictures else []
    with transaction.atomic():
        for image, vector in zip(to_embed, vectors, strict=True):
            _store(version, image, status=ProductEmbedding.Status.DONE, vector=vector)
            result.embedded.append(image.pk)
        for pk, reason in result.failed.items():
            _store(version, images[pk], status=ProductEmbedding.Status.FAILED, error=reason)
    finish_filling_if_complete(model_version_id=version.pk)
    return result


def _store(version: ModelVersion, image: ProductImage, **values) -> None:
    values = {"image_sha256": image.sha256, "error": "", "vector": None, **values}
    rows = ProductEmbedding.objects.filter(image=image, model_version=version)
    if not rows.update(attempts=F("attempts") + 1, **values):
        ProductEmbedding.objects.create(image=image, model_version=version, attempts=1, **values)


def embeddings_retry(*, image_ids: Sequence[int] | None = None) -> int:
    """Queue again failed (and stuck pending) embeddings; returns how many images."""
    total = 0
    for version in embedding_target_versions():
        rows = ProductEmbedding.objects.filter(model_version=version).exclude(
            status=ProductEmbedding.Status.DONE
        )
        if image_ids is not None:
            rows = rows.filter(image_id__in=image_ids)
        total += len(_queue_stale(version, rows.values_list("image_id", flat=True)))
    return total


def images_re_embed(*, image_ids: Sequence[int]) -> int:
    """Embed these images again with every target version, even where a vector exists."""
    image_ids = list(image_ids)
    for version in embedding_target_versions():
        _mark_pending(version, image_ids)
        ProductEmbedding.objects.filter(model_version=version, image_id__in=image_ids).update(
            status=ProductEmbedding.Status.PENDING, error=""
        )
        enqueue_embedding_batches(image_ids, model_version_id=version.pk, size=FILL_BATCH_SIZE)
    return len(image_ids)


def embeddings_queue_missing() -> int:
    """Queue every image without an up-to-date vector (e.g. after a crash); returns how many."""
    return image_embedding_request(image_ids=ProductImage.objects.values_list("pk", flat=True))
