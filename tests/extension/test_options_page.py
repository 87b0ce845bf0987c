"""The options page: the shop's address and API key, checked against the shop before saving."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.extension.conftest import closed_port
from tests.extension.contract_server import API_KEY, KEY_NAME


def stored_settings(extension):
    return extension.worker.evaluate(
        "() => chrome.storage.local.get('settings').then((s) => s.settings ?? null)"
    )


def test_saving_checks_the_shop_and_the_key(extension, screenshot):
    extension.forget_settings()
    options = extension.open_options()

    options.get_by_label("Shop address (API base URL)").fill(extension.shop.base_url + "/")
    options.get_by_label("API key").fill(API_KEY)
    options.get_by_role("button", name="Save and check").click()

    expect(options.get_by_role("status")).to_contain_text(
        f"Saved. Connected to the shop as “{KEY_NAME}” (limit 60/min)."
    )
    screenshot(options, "options-saved")
    assert stored_settings(extension) == {
        "baseUrl": extension.shop.base_url,
        "apiKey": API_KEY,
        "originPattern": f"{extension.shop.base_url}/*",
    }
    [health] = extension.shop.recorded("GET", "/healthz")
    assert "Authorization" not in health.headers
    [client] = extension.shop.recorded("GET", "/api/v1/client")
    assert client.headers["Authorization"] == f"Api-Key {API_KEY}"


def test_a_degraded_shop_is_saved_with_a_warning(extension):
    extension.shop.health_status = "degraded"
    options = extension.open_options()

    options.get_by_role("button", name="Save and check").click()

    expect(options.get_by_role("status")).to_contain_text("The shop reports a problem (degraded)")


def test_a_refused_key_is_not_saved(extension, screenshot):
    extension.forget_settings()
    options = extension.open_options()

    options.get_by_label("Shop address (API base URL)").fill(extension.shop.base_url)
    options.get_by_label("API key").fill("not-the-key")
    options.get_by_role("button", name="Save and check").click()

    expect(options.locator("#api-key-error")).to_have_text(
        "The shop didn't accept this API key. Check it, or create a new one in the shop's admin."
    )
    expect(options.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
    screenshot(options, "options-refused-key")
    assert stored_settings(extension) is None


def test_an_unreachable_shop_is_not_saved(extension):
    extension.forget_settings()
    options = extension.open_options()
    address = f"http://127.0.0.1:{closed_port()}"

    options.get_by_label("Shop address (API base URL)").fill(address)
    options.get_by_label("API key").fill(API_KEY)
    options.get_by_role("button", name="Save and check").click()

    expect(options.locator("#base-url-error")).to_have_text(
        f"No shop answered at {address}. Check the address and that the shop is running."
    )
    assert stored_settings(extension) is None


def test_an_address_that_is_not_a_url_is_refused_before_anything_is_sent(extension):
    options = extension.open_options()

    options.get_by_label("Shop address (API base URL)").fill("shop dot example")
    options.get_by_role("button", name="Save and check").click()

    expect(options.locator("#base-url-error")).to_have_text(
        "That is not a web address. It should start with https://."
    )
    expect(options.get_by_label("Shop address (API base URL)")).to_be_focused()
    assert not extension.shop.requests
