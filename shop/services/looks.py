"""Shoppers' looks: accept a photo, process it (fetch, detect, embed, search), keep the result.

A look is processed by a worker task that may run more than once (redelivery after a
worker died, the stalled-look sweep): each run claims the look with a new attempt number
and only the latest attempt may store a result, so every look ends with exactly one.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from shop.exceptions import ShopError
from shop.fetching import FetchError, FetchPolicy, check_url, fetch_image, sniff_image_type
from shop.look_events import look_finished
from shop.models import ApiKey, Look, LookItem, ModelVersion
from shop.queue import enqueue_look
from shop.selectors.catalog import active_model_version
from shop.selectors.search import SearchResult, TagRequirement, similar_products
from shop.selectors.tags import fashion_class_tags, tag_labels, tags_by_label
from shop.services.catalog import CatalogColumns

logger = logging.getLogger(__name__)

# Vocabulary group (catalog column) -> tag kind, as the catalog import stores them; the
# embedder's brand group reads the import's brand column.
GROUP_COLUMN_KINDS = {column: kind for kind, column in CatalogColumns().tags.items()} | {
    CatalogColumns().brand: "brand"
}
# Fetch errors the shopper can do nothing about but try another photo, by cause.
FETCH_ERROR_CODES = {
    "url_invalid": "fetch_refused",
    "address_refused": "fetch_refused",
    "timeout": "timeout",
    "too_large": "too_large",
    "not_an_image": "not_an_image",
}


class ImageTooLarge(ShopError):
    status_code = 413
    code = "too_large"


class LookNotDone(ShopError):
    status_code = 409
    code = "look_not_done"


class LookFailure(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Region:
    x: int
    y: int
    width: int
    height: int

    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.x + self.width, self.y + self.height)


# Accepting -----------------------------------------------------------------------------


def fetch_policy() -> FetchPolicy:
    return FetchPolicy(
        max_bytes=settings.LOOK_MAX_IMAGE_BYTES,
        max_redirects=settings.LOOK_FETCH_MAX_REDIRECTS,
        total_timeout=settings.LOOK_FETCH_TOTAL_TIMEOUT_SECONDS,
        allowed_networks=tuple(
            ipaddress.ip_network(network) for network in settings.LOOK_FETCH_ALLOWED_NETWORKS
        ),
    )


@transaction.atomic
def look_create(
    *,
    api_key: ApiKey | None,
    image_bytes: bytes | None = None,
    image_url: str = "",
    page_url: str = "",
    region: Region | None = None,
) -> Look:
    """A queued look for a photo given by its bytes or by a URL the worker will fetch."""
    if (image_bytes is None) == (not image_url):
        raise ShopError("send either an image file or an image URL", code="invalid")
    if image_bytes is not None:
        _check_upload(image_bytes)
    else:
        try:
            check_url(image_url, policy=fetch_policy())
        except FetchError as error:
            raise ShopError(error.message, code="url_refused") from None
    look = Look.objects.create(
        api_key=api_key,
        image_url=image_url,
        page_url=page_url,
        image_data=image_bytes,
        image_sha256=hashlib.sha256(image_bytes).hexdigest() if image_bytes else "",
        region=None if region is None else region.__dict__,
    )
    enqueue_look(look.pk)
    return look


def _check_upload(data: bytes) -> None:
    if len(data) > settings.LOOK_MAX_IMAGE_BYTES:
        limit = settings.LOOK_MAX_IMAGE_BYTES // (1024 * 1024)
        raise ImageTooLarge(f"the image is larger than the {limit} MB limit")
    if sniff_image_type(data) is None:
        raise ShopError(
            "the file is not a photo in a known format (JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF)",
            code="not_an_image",
        )


# Processing ----------------------------------------------------------------------------


@functools.cache
def get_look_analyzer(source: str):
    """The detector and an embedding version's model, loaded once per worker process."""
    from recommender.look import LookAnalyzer
    from shop.previews import get_detector
    from shop.services.embeddings import get_embedder

    return LookAnalyzer(get_detector(), get_embedder(source))


def look_process(*, look_id: str, worker: str = "") -> str | None:
    """Process a look once (idempotent); returns its final status, None if not ours to do."""
    claimed = _claim(look_id, worker)
    if claimed is None:
        return None
    look, attempt = claimed
    try:
        picture = _load_picture(look)
        version = _search_version()
        region = None if look.region is None else Region(**look.region).box()
        analyzer = get_look_analyzer(version.source)
        vocabulary, class_tags = analyzer.embedder.vocabulary, _catalog_class_tags()
        try:
            items = analyzer.analyse(
                picture, region=region, tags_by_class=_tags_by_group(class_tags, vocabulary)
            )
        except ValueError as error:  # a region outside the photo
            raise LookFailure("invalid_region", str(error)) from None
        searches = [_search_item(item, version, vocabulary, class_tags) for item in items]
    except LookFailure as failure:
        return _finish(look.pk, attempt, error=(failure.code, failure.detail))
    return _finish(look.pk, attempt, picture=picture, version=version, found=(items, searches))


# The catalog's classes change rarely; re-read them at most this often per worker process.
CLASS_TAGS_TTL_SECONDS = 600
_class_tags_cache: dict = {"read_at": float("-inf"), "value": {}}


def _catalog_class_tags() -> dict[str, dict[str, set[str]]]:
    """`fashion_class_tags()`, read again at most every CLASS_TAGS_TTL_SECONDS."""
    if time.monotonic() - _class_tags_cache["read_at"] > CLASS_TAGS_TTL_SECONDS:
        _class_tags_cache.update(read_at=time.monotonic(), value=fashion_class_tags())
    return _class_tags_cache["value"]


def _tags_by_group(class_tags: dict, vocabulary) -> dict[str, dict[str, set[str]]]:
    """Fashion class -> tag kind -> names, as fashion class -> vocabulary group -> values."""
    if vocabulary is None:
        return {}
    kinds_to_groups = {
        GROUP_COLUMN_KINDS[group.column]: group.name
        for group in vocabulary.groups
        if group.column in GROUP_COLUMN_KINDS
    }
    return {
        fashion_class: {
            kinds_to_groups[kind]: names for kind, names in kinds.items() if kind in kinds_to_groups
        }
        for fashion_class, kinds in class_tags.items()
    }


def look_fail(*, look_id: str, code: str, detail: str) -> None:
    """Record that a look cannot be processed (e.g. it ran out of time)."""
    look = Look.objects.filter(pk=look_id).first()
    if look is not None:
        _finish(look.pk, look.attempts, error=(code, detail))


def _claim(look_id: str, worker: str) -> tuple[Look, int] | None:
    with transaction.atomic():
        look = Look.objects.select_for_update().filter(pk=look_id).first()
        if look is None or look.status in (Look.Status.DONE, Look.Status.FAILED):
            return None
        if look.attempts >= settings.LOOK_MAX_ATTEMPTS:
            look.status = Look.Status.FAILED
            look.error_code = "internal"
            look.error_detail = "the photo could not be processed; please try again later"
            look.image_data = None
            look.finished_at = timezone.now()
            look.save()
            transaction.on_commit(lambda: look_finished(look.pk))
            return None
        look.status = Look.Status.RUNNING
        look.attempts += 1
        look.worker = worker
        look.started_at = timezone.now()
        look.save(update_fields=["status", "attempts", "worker", "started_at"])
    return look, look.attempts


def _load_picture(look: Look):
    from recommender.images import ImageDecodeError, load_image

    data = bytes(look.image_data) if look.image_data is not None else _fetch(look.image_url)
    try:
        return load_image(data)
    except ImageDecodeError as error:
        raise LookFailure("not_an_image", f"the photo cannot be read: {error}") from None


def _fetch(url: str) -> bytes:
    try:
        return fetch_image(url, policy=fetch_policy()).data
    except FetchError as error:
        raise LookFailure(
            FETCH_ERROR_CODES.get(error.code, "fetch_failed"), error.message
        ) from None


def _search_version() -> ModelVersion:
    from shop.services.embeddings import model_version_default

    return active_model_version() or model_version_default()


def predicted_tags(item_tags: dict, vocabulary) -> list[dict]:
    """An item's tagset as API rows: kind, value, probability (folded values left out)."""
    from recommender.tags import OTHER

    columns = {group.name: group.column for group in vocabulary.groups} if vocabulary else {}
    rows = []
    for group, (value, probability) in item_tags.items():
        kind = GROUP_COLUMN_KINDS.get(columns.get(group, group))
        if kind is not None and value != OTHER:
            rows.append({"kind": kind, "value": value, "probability": round(probability, 4)})
    return rows


def _search_item(
    item, version: ModelVersion, vocabulary, class_tags: dict
) -> tuple[list[dict], SearchResult]:
    tags = predicted_tags(item.tags, vocabulary)
    # A tag the detected class vouches for (shoes -> sub-category Shoes) is as certain as
    # the detection, even where the embedder alone doubted it.
    vouched = class_tags.get(item.class_name or "", {})
    confidence = {
        (tag["kind"], tag["value"]): max(
            tag["probability"],
            item.score if tag["value"] in vouched.get(tag["kind"], ()) else 0.0,
        )
        for tag in tags
    }
    wanted = [
        label
        for label, certainty in confidence.items()
        if label[0] in settings.LOOK_SEARCH_TAG_KINDS
        and certainty >= settings.LOOK_SEARCH_TAG_MIN_PROBABILITY
    ]
    known = tags_by_label(wanted)
    requirements = [
        TagRequirement(known[label], confidence[label]) for label in wanted if label in known
    ]
    result = similar_products(
        vector=item.vector,
        model_version=version,
        k=settings.LOOK_PRODUCTS_PER_ITEM,
        required_tags=requirements,
    )
    return tags, result


def _finish(look_pk, attempt: int, *, error=None, picture=None, version=None, found=None) -> str:
    with transaction.atomic():
        look = Look.objects.select_for_update().get(pk=look_pk)
        if look.attempts != attempt or look.status in (Look.Status.DONE, Look.Status.FAILED):
            logger.info("look %s: attempt %s superseded; result dropped", look_pk, attempt)
            return look.status
        look.image_data = None  # the shopper's photo is not kept once processed
        look.finished_at = timezone.now()
        if error is not None:
            look.status, (look.error_code, look.error_detail) = Look.Status.FAILED, error
        else:
            look.status = Look.Status.DONE
            look.image_width, look.image_height = picture.size
            look.model_version = version
            _store_items(look, *found)
        look.save()
        transaction.on_commit(lambda: look_finished(look_pk))
    return look.status


def _store_items(look: Look, items, searches) -> None:
    look.items.all().delete()
    rows = []
    for index, (item, (tags, result)) in enumerate(zip(items, searches, strict=True)):
        x1, y1, x2, y2 = item.box
        rows.append(
            LookItem(
                look=look,
                index=index,
                class_name=item.class_name or "",
                score=round(float(item.score), 4),
                x=x1,
                y=y1,
                width=x2 - x1,
                height=y2 - y1,
                source=item.source,
                tags=tags,
                vector=item.vector.tolist(),
                **search_summary(result),
            )
        )
    LookItem.objects.bulk_create(rows)


def search_summary(result: SearchResult) -> dict:
    """A search as looks keep and show it: tags used and relaxed (kind:name), matches."""
    labels = tag_labels([*result.tag_ids_used, *result.tag_ids_relaxed])
    return {
        "tags_used": [labels[pk] for pk in result.tag_ids_used],
        "tags_relaxed": [labels[pk] for pk in result.tag_ids_relaxed],
        "matches": [
            {"product_id": found.product_id, "distance": round(found.distance, 5)}
            for found in result.products
        ],
    }


# Re-querying one item --------------------------------------------------------------------


def look_item_search(*, item: LookItem, tags: list[tuple[str, str]], k: int) -> SearchResult:
    """The products nearest to a look item among those with the tags the shopper chose."""
    if item.look.status != Look.Status.DONE or item.look.model_version is None:
        raise LookNotDone(f"look {item.look_id} is not done")
    known = tags_by_label(tags)
    unknown = [f"{kind}:{value}" for kind, value in tags if (kind, value) not in known]
    if unknown:
        raise ShopError(f"unknown tag(s): {', '.join(unknown)}", code="unknown_tag")
    return similar_products(
        vector=item.vector,
        model_version=item.look.model_version,
        k=k,
        required_tags=[TagRequirement(known[label]) for label in tags],
    )


# Housekeeping ----------------------------------------------------------------------------


def looks_requeue_stalled(*, worker: str | None = None) -> int:
    """Queue again looks whose worker died; returns how many.

    With ``worker`` (a worker's name, at its start), that worker's unfinished looks: they
    belonged to its previous life. Without, looks running past the task's time limit.
    """
    running = Look.objects.filter(status=Look.Status.RUNNING)
    if worker is not None:
        stalled = running.filter(worker=worker)
    else:
        limit = timedelta(seconds=settings.LOOK_TASK_TIME_LIMIT_SECONDS + 30)
        stalled = running.filter(started_at__lt=timezone.now() - limit)
    look_ids = list(stalled.values_list("pk", flat=True))
    with transaction.atomic():
        for look_id in look_ids:
            enqueue_look(look_id)
    if look_ids:
        logger.warning("re-queued %d stalled look(s)", len(look_ids))
    return len(look_ids)


def looks_purge_expired() -> int:
    """Delete looks older than the retention time; returns how many."""
    cutoff = timezone.now() - timedelta(hours=settings.LOOK_RETENTION_HOURS)
    _, deleted = Look.objects.filter(created_at__lt=cutoff).delete()
    return deleted.get(Look._meta.label, 0)
