"""The shopper's main path: right-click a photo, see the items and products, refine."""

from __future__ import annotations

import json
import math

import pytest
from playwright.sync_api import expect

from tests.extension.contract_server import PHOTO_SIZE


def test_shop_this_look_sends_the_photo_url_and_shows_boxes_and_products(
    extension, blog, screenshot
):
    page = extension.open_blog("/look.html")

    extension.shop_this_look(page)

    [create] = extension.shop.recorded("POST", "/api/v1/looks")
    assert create.headers["Authorization"] == "Api-Key test-key"
    assert create.query == {"wait": "3"}
    assert create.json == {
        "image_url": blog.url("/photos/0001.jpg"),
        "page_url": blog.url("/look.html"),
    }
    assert extension.shop.recorded("GET", "/api/v1/looks/"), "the queued look was polled"

    panel = extension.open_panel()
    boxes = panel.locator(".item-box")
    expect(boxes).to_have_count(3)
    expect(boxes.nth(0)).to_have_attribute("aria-pressed", "true")
    expect(panel.locator("#item-heading")).to_have_text("Top")
    expect(panel.locator(".chip-kind")).to_have_text(["Type:", "Colour:"])
    expect(panel.locator(".chip-value")).to_have_text(["Tops", "White"])
    cards = panel.locator(".product")
    expect(cards).to_have_count(2)
    first = cards.first
    expect(first.locator(".product-title")).to_have_text("Doodle Girl Little frock White Tops")
    expect(first.locator(".product-brand")).to_have_text("Doodle")
    expect(first.locator(".product-price")).to_have_text("€19.99")
    expect(first.locator("a")).to_have_attribute("href", "https://shop.example/p/10658")
    expect(first.locator("a")).to_have_attribute("rel", "noopener noreferrer")
    screenshot(panel, "panel-results")

    # Boxes come in original pixels (550 x 832) and are drawn over the photo's displayed size.
    photo = panel.locator("#photo").bounding_box()
    top_box = boxes.nth(0).bounding_box()
    scale = photo["width"] / PHOTO_SIZE["width"]
    assert photo["width"] < PHOTO_SIZE["width"], "the panel shows the photo scaled down"
    assert top_box["x"] - photo["x"] == pytest.approx(163 * scale, abs=1.5)
    assert top_box["y"] - photo["y"] == pytest.approx(140 * scale, abs=1.5)
    assert top_box["width"] == pytest.approx(228 * scale, abs=1.5)


def test_clicking_a_box_switches_the_products(extension, blog):
    extension.shop_this_look(extension.open_blog("/look.html"))
    panel = extension.open_panel()

    panel.get_by_role("button", name="Shoes, 87% sure").click()

    expect(panel.locator("#item-heading")).to_have_text("Shoes")
    expect(panel.get_by_role("button", name="Shoes, 87% sure")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(panel.locator(".product-title")).to_have_text(
        [
            "Puma Men 917 Lo Feuer Black Casual Shoes",
            "Rockport Men TR Bal Black Casual Shoes",
            "United Colors of Benetton Men Nighthawk Black Casual Shoes",
        ]
    )


def test_changing_the_colour_chip_asks_the_shop_again(extension, blog, screenshot):
    extension.shop_this_look(extension.open_blog("/look.html"))
    panel = extension.open_panel()
    panel.get_by_role("button", name="Shoes, 87% sure").click()

    panel.get_by_role("button", name="Change colour (now Black)").click()
    choice = panel.get_by_label("Choose a colour")
    expect(choice).to_be_visible()
    screenshot(panel, "panel-change-colour")
    choice.select_option("Blue")

    expect(panel.locator(".product-title").first).to_have_text(
        "Playboy Men Casual Blue Casual Shoes"
    )
    [values] = extension.shop.recorded("GET", "/api/v1/tags")
    assert values.query == {"kind": "colour"}
    [requery] = extension.shop.recorded("GET", "/api/v1/looks/")[-1:]
    assert requery.path.endswith("/items/1/products")
    assert requery.query == {"tags": "article_type:Casual Shoes,colour:Blue", "k": "12"}
    expect(panel.locator(".chip.chip-changed .chip-value")).to_have_text("Blue")


def test_selecting_a_region_sends_it_in_original_pixels(extension, blog, screenshot):
    extension.shop_this_look(extension.open_blog("/look.html"))
    panel = extension.open_panel()
    expect(panel.locator(".item-box")).to_have_count(3)

    panel.get_by_role("button", name="Select a region").click()
    photo = panel.locator("#photo").bounding_box()
    start = (photo["x"] + 30, photo["y"] + 200)
    end = (photo["x"] + 150, photo["y"] + 330)
    panel.mouse.move(*start)
    panel.mouse.down()
    panel.mouse.move(start[0] + 60, start[1] + 60, steps=4)
    panel.mouse.move(*end, steps=4)
    panel.mouse.up()
    screenshot(panel, "panel-region-drag")
    panel.get_by_role("button", name="Search this region").click()

    expect(panel.get_by_role("button", name="Your region, 66% sure")).to_be_visible()
    first, second = extension.shop.recorded("POST", "/api/v1/looks")
    scale = PHOTO_SIZE["width"] / photo["width"]
    x, y = math.floor(30 * scale), math.floor(200 * scale)
    assert second.json["image_url"] == first.json["image_url"]
    assert second.json["region"] == {
        "x": pytest.approx(x, abs=1),
        "y": pytest.approx(y, abs=1),
        "width": pytest.approx(math.ceil(150 * scale) - x, abs=2),
        "height": pytest.approx(math.ceil(330 * scale) - y, abs=2),
    }
    expect(panel.locator(".product-title").first).to_have_text("Murcia Women Hddcs Brown Handbags")
    screenshot(panel, "panel-region-result")


def test_photo_behind_a_login_is_sent_as_bytes_read_in_the_page(extension, blog):
    page = extension.open_blog("/members/look.html")

    extension.shop_this_look(page)

    by_url, by_bytes = extension.shop.recorded("POST", "/api/v1/looks")
    assert by_url.json["image_url"] == blog.url("/members/photo.jpg")
    image = by_bytes.files["image"]
    assert image["data"] == blog.photo_bytes
    assert (image["filename"], image["content_type"]) == ("photo.jpg", "image/jpeg")
    assert by_bytes.form == {"page_url": blog.url("/members/look.html")}
    panel = extension.open_panel()
    expect(panel.locator(".item-box")).to_have_count(3)
    assert panel.locator("#photo").get_attribute("src").startswith("data:image/jpeg;base64,")


def test_blob_photo_is_sent_as_bytes_without_asking_the_shop_to_fetch_it(extension, blog):
    page = extension.open_blog("/blob.html")
    src_url = page.eval_on_selector("img", "image => image.currentSrc")
    assert src_url.startswith("blob:")

    extension.shop_this_look(page)

    [create] = extension.shop.recorded("POST", "/api/v1/looks")
    assert create.json is None
    assert create.files["image"]["data"] == blog.photo_bytes
    expect(extension.open_panel().locator(".item-box")).to_have_count(3)


def test_region_on_a_photo_sent_as_bytes_sends_the_bytes_again(extension, blog):
    extension.shop_this_look(extension.open_blog("/blob.html"))
    panel = extension.open_panel()
    expect(panel.locator(".item-box")).to_have_count(3)

    panel.get_by_role("button", name="Select a region").click()
    layer = panel.get_by_role("application", name="Region on the photo")
    layer.press("ArrowRight")  # the keyboard way: start from the middle half, then move it
    layer.press("Enter")

    expect(panel.get_by_role("button", name="Your region, 66% sure")).to_be_visible()
    _, again = extension.shop.recorded("POST", "/api/v1/looks")
    assert again.files["image"]["data"] == extension.blog.photo_bytes
    region = json.loads(again.form["region"])
    assert region["width"] == pytest.approx(PHOTO_SIZE["width"] / 2, abs=2)
    assert region["height"] == pytest.approx(PHOTO_SIZE["height"] / 2, abs=2)


def test_overlay_shows_the_panel_in_the_page_where_there_is_no_side_panel(
    extension, blog, screenshot
):
    page = extension.open_blog("/look.html")
    extension.shop_this_look(page)
    tab_id = extension.worker.evaluate(
        "async (url) => (await chrome.tabs.query({})).find((tab) => tab.url === url).id", page.url
    )

    extension.worker.evaluate(
        "([tabId, file]) => chrome.scripting.executeScript({target: {tabId}, files: [file]})",
        [tab_id, "src/content/overlay.js"],
    )

    frame = _wait_for_frame(page, "/src/panel/panel.html")
    frame.wait_for_selector("html[data-ready]", state="attached")
    expect(frame.locator(".item-box")).to_have_count(3)
    screenshot(page, "overlay-in-page")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.getElementById('shopalook-overlay-host')")


def _wait_for_frame(page, path: str):
    for _ in range(100):
        for frame in page.frames:
            if path in frame.url:
                return frame
        page.wait_for_timeout(50)
    raise AssertionError(f"no frame showing {path}")
