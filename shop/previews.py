"""Pictures for merchandisers: where the detector looks in a product image."""

from __future__ import annotations

import functools
import logging

from django.conf import settings

from shop.exceptions import NotFound, ShopError
from shop.models import ProductImage

logger = logging.getLogger(__name__)


@functools.cache
def get_detector():
    """The newest trained detector in MODEL_DIR, else the zero-shot one; loaded once per process."""
    from recommender.checkpoints import newest_checkpoint
    from recommender.detect import detector_from_checkpoint, zero_shot_detector
    from shop.services.embeddings import inference_device

    options = {
        "device": inference_device(),
        "precision": settings.DETECTOR_PRECISION,
        "runtime": settings.INFERENCE_RUNTIME,
        "openvino_cache_dir": settings.OPENVINO_CACHE_DIR,
    }
    checkpoint = newest_checkpoint(settings.MODEL_DIR, "detector.pt")
    if checkpoint is None:
        return zero_shot_detector(**options)
    logger.info("detector from %s", checkpoint)
    return detector_from_checkpoint(checkpoint, **options)


def image_heatmap_png(*, image_id: int) -> bytes:
    """The product image with the class activation heatmap and detected boxes drawn on it."""
    from recommender.images import ImageDecodeError, load_image
    from recommender.render import render_detections

    try:
        image = ProductImage.objects.get(pk=image_id)
    except ProductImage.DoesNotExist:
        raise NotFound(f"product image {image_id} does not exist") from None
    try:
        with image.image.open("rb") as file:
            picture = load_image(file.read())
    except (ImageDecodeError, OSError) as error:
        raise ShopError(f"cannot read image {image_id}: {error}", code="invalid_image") from None
    # Localise the product's own class even where the detector doubts it is present.
    fashion_class = product_fashion_class(image.product)
    classes = [fashion_class] if fashion_class else None
    detections = get_detector().detect(picture, classes=classes, return_heatmaps=True)
    return render_detections(picture, detections)


def product_fashion_class(product) -> str | None:
    from recommender.fashion_classes import catalog_to_fashion

    tags = {tag.kind: tag.name for tag in product.tags.all()}
    return catalog_to_fashion(
        tags.get("category", ""), tags.get("sub_category", ""), tags.get("article_type", "")
    )
