"""The extension against the real shop: Django's live server, a real worker, PostgreSQL."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from shop.models import Look, Product
from shop.services.api_keys import api_key_create
from tests.worker.test_look_task import catalog  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Playwright's sync API keeps an event loop in this thread; the ORM calls here are plain
# blocking calls all the same (the live server answers on its own threads).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def live_shop(live_server, catalog, extension):  # noqa: F811
    """The extension's options pointing at the live server, with a real API key."""
    port = live_server.url.rsplit(":", 1)[1]
    extension.save_settings(f"http://127.0.0.1:{port}", api_key_create(name="extension").key)
    return extension


def test_right_clicked_street_photo_shows_detected_items_and_catalog_products(
    live_shop, blog, screenshot
):
    page = live_shop.open_blog("/look.html")

    live_shop.shop_this_look(page)

    panel = live_shop.open_panel()
    expect(panel.locator(".item-box").first).to_be_visible(timeout=60_000)
    titles = set(Product.objects.values_list("title", flat=True))
    cards = panel.locator(".product-title")
    expect(cards.first).to_be_visible()
    assert set(cards.all_text_contents()) <= titles
    look = Look.objects.get()
    # blog.test is not a public name for the server: the photo's bytes were sent instead.
    assert look.status == "done" and look.image_url == "" and look.page_url.endswith("/look.html")
    assert panel.locator(".item-box").count() == look.items.count()
    screenshot(panel, "live-panel-results")


def test_a_revoked_key_shows_the_unauthorised_state(live_shop, blog):
    from shop.models import ApiKey

    ApiKey.objects.update(is_active=False)

    live_shop.shop_this_look(live_shop.open_blog("/look.html"))

    panel = live_shop.open_panel()
    expect(panel.get_by_role("alert")).to_contain_text("key", timeout=20_000)
