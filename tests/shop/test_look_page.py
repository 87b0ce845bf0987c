"""The shop's /look/ page in a real browser, against the live server and a real worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shop.models import Look
from tests.worker.test_look_task import catalog  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Playwright's sync API keeps an event loop in this thread; the ORM calls here are plain
# blocking calls all the same (the live server answers on its own threads).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def page(request):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    playwright = request.getfixturevalue("playwright_driver")
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
    )
    yield browser.new_page(viewport={"width": 1100, "height": 900})
    browser.close()


def test_uploaded_photo_shows_boxes_and_products_beside_it(
    live_server,
    catalog,  # noqa: F811
    page,
    data_dir,
):
    from playwright.sync_api import expect

    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(f"{live_server.url}/look/")

    page.set_input_files("input[name=image]", str(data_dir / "street" / "photos" / "0001.jpg"))
    page.get_by_role("button", name="Find the items").click()

    expect(page.locator("#boxes rect").first).to_be_attached(timeout=60_000)
    look = Look.objects.get()
    assert page.locator("#boxes rect").count() == look.items.count()
    expect(page.locator("#products li").first).to_be_visible()
    page.locator("#items button").last.click()
    expect(page.locator("#items button").last).to_have_attribute("aria-pressed", "true")
    assert not [error for error in errors if "Content Security Policy" in error]


def test_a_photo_url_to_a_private_address_shows_the_reason(live_server, page):
    page.goto(f"{live_server.url}/look/")

    page.fill("input[name=image_url]", "http://10.0.0.1/photo.jpg")
    page.get_by_role("button", name="Find the items").click()

    from playwright.sync_api import expect

    expect(page.locator("#status")).to_contain_text("private address")
    assert not Look.objects.exists()
