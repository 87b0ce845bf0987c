"""Model versions: a new one fills in the background while search keeps the old one."""

from pathlib import Path

import pytest

from shop.exceptions import Conflict
from shop.models import ModelVersion, ProductEmbedding, ProductImage
from shop.selectors import active_model_version, embedding_progress
from shop.services.catalog import catalog_import
from shop.services.embeddings import (
    DEFAULT_EMBEDDER,
    embeddings_retry,
    get_embedder,
    model_version_default,
    model_version_register,
    model_version_start_filling,
    product_images_embed,
)
from tests.shop.catalog_fixtures import product_row, write_catalog, write_image

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def catalog(tmp_path, django_capture_on_commit_callbacks):
    rows = [
        product_row(str(i), write_image(tmp_path, f"{i}.jpg", (40 * i, 20, 200 - 30 * i)))
        for i in range(1, 5)
    ]
    write_catalog(tmp_path, rows)
    with django_capture_on_commit_callbacks(execute=False):  # no broker: run tasks by hand
        catalog_import(folder=tmp_path)
    return tmp_path


def embed_everything(version):
    ids = list(ProductImage.objects.values_list("pk", flat=True))
    for image_id in ids:  # one by one, as separate task deliveries would
        product_images_embed(image_ids=[image_id], model_version_id=version.pk)


def second_version():
    embedder = get_embedder(DEFAULT_EMBEDDER)
    return model_version_register(
        name="second",
        source=DEFAULT_EMBEDDER,
        weights_sha256="b" * 64,
        embedding_dimension=embedder.dimension,
    )


def test_fresh_install_activates_the_imagenet_baseline_and_embeds_the_catalog(catalog):
    version = model_version_default()
    assert version.status == "active" and version.source == DEFAULT_EMBEDDER
    assert embedding_progress() == (0, 4)
    embed_everything(version)
    assert embedding_progress() == (4, 4)


def test_new_version_fills_while_search_keeps_the_old_one_then_switches(
    catalog, django_capture_on_commit_callbacks
):
    old = model_version_default()
    embed_everything(old)
    new = second_version()

    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert model_version_start_filling(model_version_id=new.pk) == 4
    assert len(queued) == 1  # one batch of four images
    new.refresh_from_db()
    assert new.status == "filling" and active_model_version() == old

    ids = list(ProductImage.objects.values_list("pk", flat=True))
    for image_id in ids[:-1]:
        product_images_embed(image_ids=[image_id], model_version_id=new.pk)
        assert active_model_version() == old  # no gap, no mixing
    product_images_embed(image_ids=[ids[-1]], model_version_id=new.pk)

    assert active_model_version() == new
    old.refresh_from_db()
    assert old.status == "retired"
    assert ProductEmbedding.objects.filter(model_version=old, status="done").count() == 4


def test_only_one_version_fills_at_a_time(catalog):
    model_version_default()
    second_version()
    third = model_version_register(
        name="third", source=DEFAULT_EMBEDDER, weights_sha256="c" * 64, embedding_dimension=1280
    )
    model_version_start_filling(model_version_id=ModelVersion.objects.get(name="second").pk)
    with pytest.raises(Conflict, match="still embedding"):
        model_version_start_filling(model_version_id=third.pk)


def test_failed_embedding_is_recorded_and_retryable(catalog, django_capture_on_commit_callbacks):
    version = model_version_default()
    broken = ProductImage.objects.first()
    path = Path(broken.image.path)
    good_bytes = path.read_bytes()
    path.write_bytes(b"not an image")

    result = product_images_embed(image_ids=[broken.pk], model_version_id=version.pk)

    row = ProductEmbedding.objects.get(image=broken, model_version=version)
    assert result.failed and row.status == "failed" and row.error
    path.write_bytes(good_bytes)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert embeddings_retry(image_ids=[broken.pk]) == 1
    assert len(queued) == 1
    product_images_embed(image_ids=[broken.pk], model_version_id=version.pk)
    row.refresh_from_db()
    assert row.status == "done" and row.error == "" and row.attempts == 2
