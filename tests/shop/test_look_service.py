"""Processing a look in this process: the worker task's service, without the broker."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from shop.exceptions import ShopError
from shop.models import Look, LookItem, Product
from shop.services import looks
from shop.services.looks import Region, look_create, look_process
from tests.shop.look_fixtures import embedded_catalog, jpeg_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(tmp_path, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # no broker: run work by hand
        return embedded_catalog(tmp_path / "catalog")


@pytest.fixture
def street_photo(data_dir) -> bytes:
    return jpeg_bytes(data_dir / "street" / "photos" / "0001.jpg")


def create(django_capture_on_commit_callbacks, **arguments) -> Look:
    with django_capture_on_commit_callbacks(execute=False) as queued:
        look = look_create(api_key=None, **arguments)
    assert len(queued) == 1  # the task is queued once, after commit
    return look


def test_uploaded_street_photo_gets_items_with_catalog_products(
    catalog, street_photo, django_capture_on_commit_callbacks
):
    look = create(django_capture_on_commit_callbacks, image_bytes=street_photo)

    assert look_process(look_id=look.pk, worker="test") == Look.Status.DONE

    look.refresh_from_db()
    assert look.image_data is None  # the shopper's photo is not kept
    assert (look.image_width, look.image_height) == Image.open(io.BytesIO(street_photo)).size
    assert look.model_version == catalog and look.attempts == 1
    items = list(look.items.all())
    assert items
    product_ids = set(Product.objects.values_list("pk", flat=True))
    for item in items:
        assert item.source == "detected" and item.width > 0 and item.height > 0
        assert item.x + item.width <= look.image_width
        assert {tag["kind"] for tag in item.tags} == {"article_type", "colour", "gender"}
        distances = [match["distance"] for match in item.matches]
        assert distances == sorted(distances) and distances
        assert {match["product_id"] for match in item.matches} <= product_ids


def test_processing_again_changes_nothing(
    catalog, street_photo, django_capture_on_commit_callbacks
):
    look = create(django_capture_on_commit_callbacks, image_bytes=street_photo)
    look_process(look_id=look.pk)
    items = list(LookItem.objects.filter(look=look).values_list("pk", flat=True))

    assert look_process(look_id=look.pk) is None  # a duplicate delivery

    assert list(LookItem.objects.filter(look=look).values_list("pk", flat=True)) == items
    assert Look.objects.get(pk=look.pk).attempts == 1


def test_look_of_a_dead_worker_is_processed_again_and_the_old_attempt_is_dropped(
    catalog, street_photo, django_capture_on_commit_callbacks
):
    look = create(django_capture_on_commit_callbacks, image_bytes=street_photo)
    Look.objects.filter(pk=look.pk).update(status="running", attempts=1, worker="dead@host")

    assert look_process(look_id=look.pk, worker="alive@host") == Look.Status.DONE
    # The first attempt wakes up late: its result must not replace the stored one.
    assert looks._finish(look.pk, 1, error=("internal", "late")) == Look.Status.DONE
    look.refresh_from_db()
    assert look.status == "done" and look.attempts == 2 and look.worker == "alive@host"


def test_a_look_failing_every_attempt_ends_failed(street_photo, django_capture_on_commit_callbacks):
    look = create(django_capture_on_commit_callbacks, image_bytes=street_photo)
    Look.objects.filter(pk=look.pk).update(status="running", attempts=3)

    assert look_process(look_id=look.pk) is None

    look.refresh_from_db()
    assert look.status == "failed" and look.error_code == "internal" and look.image_data is None


def test_region_is_searched_as_one_item(catalog, street_photo, django_capture_on_commit_callbacks):
    look = create(
        django_capture_on_commit_callbacks,
        image_bytes=street_photo,
        region=Region(x=10, y=20, width=100, height=150),
    )

    look_process(look_id=look.pk)

    (item,) = Look.objects.get(pk=look.pk).items.all()
    assert (item.x, item.y, item.width, item.height, item.source) == (10, 20, 100, 150, "region")
    assert item.matches


def test_region_outside_the_photo_fails_the_look_with_a_reason(
    catalog, street_photo, django_capture_on_commit_callbacks
):
    look = create(
        django_capture_on_commit_callbacks,
        image_bytes=street_photo,
        region=Region(x=50_000, y=0, width=10, height=10),
    )

    assert look_process(look_id=look.pk) == Look.Status.FAILED

    look.refresh_from_db()
    assert look.error_code == "invalid_region" and "outside" in look.error_detail


def test_bytes_that_look_like_an_image_but_do_not_decode_fail_the_look(
    catalog, django_capture_on_commit_callbacks
):
    look = create(django_capture_on_commit_callbacks, image_bytes=b"\xff\xd8\xff" + b"\0" * 100)

    assert look_process(look_id=look.pk) == Look.Status.FAILED

    look.refresh_from_db()
    assert look.error_code == "not_an_image" and look.image_data is None


def test_decompression_bomb_fails_the_look_quickly(catalog, django_capture_on_commit_callbacks):
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, "PNG")  # 400 megapixels in a few kB
    assert len(buffer.getvalue()) < 200_000
    look = create(django_capture_on_commit_callbacks, image_bytes=buffer.getvalue())

    assert look_process(look_id=look.pk) == Look.Status.FAILED

    look.refresh_from_db()
    assert look.error_code == "not_an_image" and "pixels" in look.error_detail


@pytest.mark.parametrize(
    "data, code",
    [(b"<html>not a photo</html>", "not_an_image"), (b"", "not_an_image")],
)
def test_upload_that_is_not_an_image_is_refused_at_once(data, code):
    with pytest.raises(ShopError) as refused:
        look_create(api_key=None, image_bytes=data)
    assert refused.value.code == code
    assert not Look.objects.exists()


def test_upload_over_the_size_limit_is_refused(settings):
    settings.LOOK_MAX_IMAGE_BYTES = 1000
    with pytest.raises(ShopError) as refused:
        look_create(api_key=None, image_bytes=b"\xff\xd8\xff" + b"\0" * 2000)
    assert refused.value.status_code == 413


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.jpg",
        "http://localhost/a.jpg",
        "http://10.1.2.3/a.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/a.jpg",
        "ftp://example.com/a.jpg",
    ],
)
def test_url_to_a_private_address_is_refused_at_once(url):
    with pytest.raises(ShopError) as refused:
        look_create(api_key=None, image_url=url)
    assert refused.value.code == "url_refused"
    assert not Look.objects.exists()


def test_stalled_looks_are_queued_again(street_photo, django_capture_on_commit_callbacks):
    stalled = create(django_capture_on_commit_callbacks, image_bytes=street_photo)
    fresh = create(django_capture_on_commit_callbacks, image_bytes=street_photo)
    long_ago = timezone.now() - timedelta(minutes=10)
    Look.objects.filter(pk=stalled.pk).update(status="running", started_at=long_ago, worker="a")
    Look.objects.filter(pk=fresh.pk).update(status="running", started_at=timezone.now(), worker="b")

    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert looks.looks_requeue_stalled() == 1
    assert len(queued) == 1
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert looks.looks_requeue_stalled(worker="b") == 1  # b restarted: its look is orphaned
    assert len(queued) == 1


def test_expired_looks_are_purged(street_photo, django_capture_on_commit_callbacks, settings):
    settings.LOOK_RETENTION_HOURS = 1
    old = create(django_capture_on_commit_callbacks, image_bytes=street_photo)
    kept = create(django_capture_on_commit_callbacks, image_bytes=street_photo)
    Look.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))

    assert looks.looks_purge_expired() == 1

    assert list(Look.objects.values_list("pk", flat=True)) == [kept.pk]


def test_catalog_classes_give_the_tags_each_detected_class_may_have(catalog):
    from shop.selectors.tags import fashion_class_tags

    classes = fashion_class_tags()

    assert classes["footwear"]["article_type"] == {"Casual Shoes"}
    assert classes["top"]["article_type"] == {"Tshirts"}
    assert classes["bottom"]["category"] == {"Apparel"}


def test_items_are_tagged_within_their_detected_class(
    catalog, street_photo, django_capture_on_commit_callbacks
):
    from shop.selectors.tags import fashion_class_tags

    looks._class_tags_cache["read_at"] = float("-inf")  # this test's catalog
    look = create(django_capture_on_commit_callbacks, image_bytes=street_photo)

    look_process(look_id=look.pk)

    classes = fashion_class_tags()
    items = Look.objects.get(pk=look.pk).items.all()
    constrained = [item for item in items if item.class_name in classes]
    for item in constrained:
        article_type = next(tag["value"] for tag in item.tags if tag["kind"] == "article_type")
        assert article_type in classes[item.class_name]["article_type"], item.class_name


def test_a_tag_the_detected_class_vouches_for_restricts_the_search(catalog, settings):
    import numpy as np

    from recommender.look import LookItem as FoundItem
    from shop.models import Tag

    settings.LOOK_SEARCH_TAG_KINDS = ["article_type"]
    settings.LOOK_PRODUCTS_PER_ITEM = 2
    from shop.selectors.tags import fashion_class_tags

    vocabulary = looks.get_look_analyzer(catalog.source).embedder.vocabulary
    class_tags = fashion_class_tags()
    vector = np.ones(16, dtype=np.float32) / 4
    doubted = {"articleType": ("Casual Shoes", 0.01)}  # the embedder alone would not filter

    _, shoes = looks._search_item(
        FoundItem("footwear", 0.9, (0, 0, 9, 9), "detected", vector, doubted),
        catalog,
        vocabulary,
        class_tags,
    )
    _, unknown = looks._search_item(
        FoundItem(None, 0.9, (0, 0, 9, 9), "detected", vector, doubted),
        catalog,
        vocabulary,
        class_tags,
    )

    casual_shoes = Tag.objects.get(kind="article_type", name="Casual Shoes").pk
    assert shoes.tag_ids_used == (casual_shoes,)
    assert {p.product_id for p in shoes.products} == set(
        Product.objects.filter(tags=casual_shoes).values_list("pk", flat=True)
    )
    assert unknown.tag_ids_used == ()
