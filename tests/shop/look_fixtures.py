"""A catalog embedded by a small tag-predicting model, for tests of shoppers' looks."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from django.conf import settings

from recommender.checkpoints import save_checkpoint
from recommender.models.backbones import build_backbone
from recommender.models.embedder import EmbedderConfig, TagEmbedder
from recommender.models.transforms import EvalTransform
from recommender.tags import build_vocabulary
from shop.models import ModelVersion, ProductImage
from shop.services.catalog import catalog_import
from shop.services.embeddings import (
    model_version_from_checkpoint,
    model_version_start_filling,
    product_images_embed,
)
from tests.shop.catalog_fixtures import product_row, write_catalog, write_image

GROUPS = {"articleType": "articleType", "baseColour": "baseColour", "gender": "gender"}
PRODUCTS = [
    ("1", "Casual Shoes", "Black", (20, 20, 20)),
    ("2", "Casual Shoes", "Blue", (30, 30, 200)),
    ("3", "Tshirts", "Black", (25, 25, 25)),
    ("4", "Tshirts", "Red", (200, 30, 30)),
    ("5", "Jeans", "Blue", (40, 40, 160)),
]


def catalog_rows() -> list[dict]:
    return [
        {"articleType": article, "baseColour": colour, "gender": "Women"}
        for _, article, colour, _ in PRODUCTS
    ]


def tiny_checkpoint() -> Path:
    """An untrained 16-d tag embedder (64 px input) in MODEL_DIR: plumbing, not quality."""
    path = settings.MODEL_DIR / "test-looks" / "embedder.pt"
    if path.exists():
        return path
    vocabulary = build_vocabulary(catalog_rows(), column_groups=GROUPS, min_count=1)
    torch.manual_seed(0)
    model = TagEmbedder(
        build_backbone(pretrained=False),
        EmbedderConfig(embedding_dim=16, num_tags=vocabulary.size),
    ).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        path,
        name="test-looks",
        model=model,
        vocabulary=vocabulary,
        transform=EvalTransform(input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3),
        backbone_weights_sha256="0" * 64,
        code_version="test",
    )
    return path


CATEGORIES = {
    "Casual Shoes": ("Footwear", "Shoes"),
    "Tshirts": ("Apparel", "Topwear"),
    "Jeans": ("Apparel", "Bottomwear"),
}


def import_catalog(folder: Path) -> None:
    rows = [
        product_row(
            sku,
            write_image(folder, f"{sku}.jpg", rgb),
            masterCategory=CATEGORIES[article][0],
            subCategory=CATEGORIES[article][1],
            articleType=article,
            baseColour=colour,
        )
        for sku, article, colour, rgb in PRODUCTS
    ]
    catalog_import(folder=write_catalog(folder, rows))


def embedded_catalog(folder: Path) -> ModelVersion:
    """Import the catalog and embed it in this process with the tiny model, made active."""
    version = model_version_from_checkpoint(path=tiny_checkpoint())
    model_version_start_filling(model_version_id=version.pk)
    import_catalog(folder)
    image_ids = list(ProductImage.objects.values_list("pk", flat=True))
    product_images_embed(image_ids=image_ids, model_version_id=version.pk)
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.ACTIVE
    return version


def jpeg_bytes(path: Path, *, short_side: int | None = None) -> bytes:
    from PIL import Image

    image = Image.open(path).convert("RGB")
    if short_side:
        scale = short_side / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
