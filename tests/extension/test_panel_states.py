"""Every state a shopper can meet says so in a plain sentence, with a retry where it helps."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.extension.conftest import closed_port
from tests.extension.contract_server import RETRY_AFTER_SECONDS


def test_loading_shows_progress_until_the_items_arrive(extension, blog, screenshot):
    extension.shop.polls_before_done = 3
    panel = extension.open_panel()

    extension.shop_this_look(extension.open_blog("/look.html"), wait=False)

    progress = panel.get_by_role("progressbar", name="Progress")
    expect(progress).to_be_visible()
    expect(panel.locator(".status-sentence")).to_have_text(
        "Finding the fashion items in the photo…"
    )
    value = int(progress.get_attribute("value"))
    assert 30 <= value < 100
    screenshot(panel, "panel-loading")
    expect(panel.locator(".item-box")).to_have_count(3, timeout=10_000)
    expect(progress).to_have_count(0)


def _nothing_found(extension):
    extension.shop.detect_nothing = True


def _wrong_key(extension):
    extension.save_settings(extension.shop.base_url, api_key="not-the-key")


def _shop_down(extension):
    extension.save_settings(f"http://127.0.0.1:{closed_port()}")


def _fail_next_create(kind):
    def arrange(extension):
        extension.shop.fail_next_create = kind

    return arrange


def _not_configured(extension):
    extension.forget_settings()


# state, arrange, title, sentence, action button (None: nothing to retry)
STATES = [
    (
        "nothing-found",
        _nothing_found,
        "No fashion items found",
        "The shop found no clothes, shoes or accessories in this photo. "
        "Use “Select a region” to draw a box around the item you want.",
        None,
    ),
    (
        "unauthorised",
        _wrong_key,
        "The shop refused the API key",
        "The shop didn't accept the extension's API key. Check the key in the options.",
        "Open options",
    ),
    (
        "throttled",
        _fail_next_create("throttled"),
        "Too many requests",
        "The shop is getting too many requests from you. "
        f"Try again in {RETRY_AFTER_SECONDS} seconds.",
        "Try again",
    ),
    (
        "shop-down",
        _shop_down,
        "The shop can't be reached",
        "The shop isn't answering right now. Try again in a moment.",
        "Try again",
    ),
    (
        "shop-unavailable",
        _fail_next_create("unavailable"),
        "The shop can't be reached",
        "The shop isn't answering right now. Try again in a moment.",
        "Try again",
    ),
    (
        "shop-error",
        _fail_next_create("server"),
        "Something went wrong at the shop",
        "The shop ran into a problem with this photo. Try again in a moment.",
        "Try again",
    ),
    (
        "too-large",
        _fail_next_create("too_large"),
        "Photo too large",
        "This photo is too large for the shop to look at. Try a smaller photo.",
        None,
    ),
    (
        "not-configured",
        _not_configured,
        "Set up the extension",
        "Enter your shop's address and API key in the options first.",
        "Open options",
    ),
]


@pytest.mark.parametrize(
    ("arrange", "title", "sentence", "action"),
    [state[1:] for state in STATES],
    ids=[state[0] for state in STATES],
)
def test_each_state_shows_its_sentence(
    extension, blog, screenshot, request, arrange, title, sentence, action
):
    arrange(extension)

    extension.shop_this_look(extension.open_blog("/look.html"))

    panel = extension.open_panel()
    expect(panel.locator(".status-title")).to_have_text(title)
    expect(panel.locator(".status-sentence")).to_have_text(sentence)
    if action:
        expect(panel.locator(".status-action")).to_contain_text(action)
    else:
        expect(panel.locator(".status-action")).to_have_count(0)
    screenshot(panel, f"state-{request.node.callspec.id}")


def test_offline_says_so(extension, blog, screenshot):
    page = extension.open_blog("/look.html")
    extension.browser.context.set_offline(True)
    try:
        extension.shop_this_look(page)
    finally:
        extension.browser.context.set_offline(False)

    panel = extension.open_panel()
    expect(panel.locator(".status-title")).to_have_text("You're offline")
    expect(panel.locator(".status-sentence")).to_have_text(
        "Your device isn't connected to the internet. Check your connection, then try again."
    )
    expect(panel.get_by_role("button", name="Try again")).to_be_enabled()
    screenshot(panel, "state-offline")
    assert not extension.shop.recorded("POST", "/api/v1/looks")


def test_try_again_after_the_shop_was_down_shows_the_look(extension, blog):
    extension.shop.fail_next_create = "unavailable"
    extension.shop_this_look(extension.open_blog("/look.html"))
    panel = extension.open_panel()

    panel.get_by_role("button", name="Try again").click()

    expect(panel.locator(".item-box")).to_have_count(3)
    first, second = extension.shop.recorded("POST", "/api/v1/looks")
    assert second.json == first.json


def test_throttled_retry_waits_for_the_shop(extension, blog):
    extension.shop.fail_next_create = "throttled"
    extension.shop_this_look(extension.open_blog("/look.html"))

    panel = extension.open_panel()

    retry = panel.locator(".status-action")
    expect(retry).to_be_disabled()
    expect(retry).to_have_text(f"Try again ({RETRY_AFTER_SECONDS} s)")
    expect(retry).not_to_have_text(f"Try again ({RETRY_AFTER_SECONDS} s)")  # counts down


def test_look_the_shop_could_not_finish_says_so(extension, blog):
    extension.shop.fail_looks_with = "timeout"

    extension.shop_this_look(extension.open_blog("/look.html"))

    panel = extension.open_panel()
    expect(panel.locator(".status-title")).to_have_text("Taking too long")
    expect(panel.locator(".status-sentence")).to_have_text(
        "The shop is taking too long to look at this photo. Try again in a moment."
    )
    expect(panel.get_by_role("button", name="Try again")).to_be_visible()


def test_a_look_the_browser_stopped_says_so(extension):
    # What a service worker stopped mid-look leaves behind: "loading", and no news since.
    extension.worker.evaluate(
        """() => chrome.storage.session.set({view: {
            status: 'loading', runId: 'stopped', phase: 'running', progress: 60,
            message: 'Finding the fashion items in the photo…', at: Date.now() - 120000}})"""
    )

    panel = extension.open_panel()

    expect(panel.locator(".status-title")).to_have_text("Taking too long")
    expect(panel.get_by_role("button", name="Try again")).to_be_visible()
