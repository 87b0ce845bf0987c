"""Browser tests of the extension: Debian's Chromium, headless, driven by Playwright.

One browser runs for the whole session (the extension loaded unpacked from a staged
copy); each test gets a fresh look (session storage cleared), the options saved, and the
contract double of the shop (``contract_server.py``) reset. Nothing here downloads a
browser: without ``/usr/bin/chromium`` (or ``CHROMIUM_PATH``) the tests skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.extension.blog_site import BlogSite
from tests.extension.contract_server import API_KEY, ContractShop

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXTENSION_SOURCE = PROJECT_ROOT / "extension"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
DATA_DIR = Path(os.environ.get("SHOPALOOK_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))
SCREENSHOTS_DIR = os.environ.get("EXTENSION_SCREENSHOTS_DIR")  # e.g. /tmp/ext-shots
PANEL_VIEWPORT = {"width": 400, "height": 900}  # about a side panel's size

# Headless Chromium can show neither the permission prompt of the options page nor a
# context menu, so the shopper's two grants are given up front in the test copy only:
# the shop's origin (the double on 127.0.0.1) and the blog page (what activeTab grants
# on the menu click). The shipped manifest has no host permissions at all.
TEST_HOST_PERMISSIONS = ["http://127.0.0.1/*", "http://blog.test/*"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP blog.test 127.0.0.1",
]


def _load_build_module():
    spec = importlib.util.spec_from_file_location("extension_build", EXTENSION_SOURCE / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def street_photos() -> Path:
    photos = DATA_DIR / "street" / "photos"
    if not (photos / "0001.jpg").is_file():
        pytest.skip(
            f"street photos not found at {photos}: set SHOPALOOK_DATA_DIR to the sample data"
        )
    return photos


@pytest.fixture(scope="session")
def shop() -> Iterator[ContractShop]:
    media = DATA_DIR / "catalog" / "images"
    double = ContractShop(media_dir=media if media.is_dir() else None)
    double.start()
    yield double
    double.stop()


@pytest.fixture(scope="session")
def blog(street_photos) -> Iterator[BlogSite]:
    site = BlogSite(street_photos)
    site.start()
    yield site
    site.stop()


@pytest.fixture(scope="session")
def unpacked_extension(tmp_path_factory) -> Path:
    """What the store zip holds, plus the test-only host permissions above."""
    target = _load_build_module().stage(tmp_path_factory.mktemp("extension") / "unpacked")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["host_permissions"] = TEST_HOST_PERMISSIONS
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target


@dataclass
class Browser:
    context: object
    extension_id: str

    @property
    def worker(self):
        """The extension's service worker (a new one if the browser restarted it)."""
        prefix = f"chrome-extension://{self.extension_id}/"
        for worker in reversed(self.context.service_workers):
            if worker.url.startswith(prefix):
                return worker
        return self.context.wait_for_event("serviceworker", timeout=10_000)


@pytest.fixture(scope="session")
def browser(unpacked_extension, tmp_path_factory, request) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    # One Playwright driver per session (root conftest), shared with the other browser tests.
    playwright = request.getfixturevalue("playwright_driver")
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")),
        executable_path=str(CHROMIUM),
        headless=True,
        viewport=PANEL_VIEWPORT,
        args=[
            *CHROMIUM_ARGS,
            f"--disable-extensions-except={unpacked_extension}",
            f"--load-extension={unpacked_extension}",
        ],
    )
    worker = context.service_workers[0] if context.service_workers else None
    worker = worker or context.wait_for_event("serviceworker", timeout=10_000)
    yield Browser(context, worker.url.split("/")[2])
    context.close()


class ExtensionSession:
    """What a test does with the extension, in the shopper's terms."""

    def __init__(self, browser: Browser, shop: ContractShop, blog: BlogSite | None) -> None:
        self.browser = browser
        self.shop = shop
        self.blog = blog

    @property
    def worker(self):
        return self.browser.worker

    def url(self, path: str) -> str:
        return f"chrome-extension://{self.browser.extension_id}/{path}"

    def save_settings(self, base_url: str, api_key: str = API_KEY) -> None:
        settings = {"baseUrl": base_url, "apiKey": api_key, "originPattern": f"{base_url}/*"}
        self.worker.evaluate("(s) => chrome.storage.local.set({settings: s})", settings)

    def forget_settings(self) -> None:
        self.worker.evaluate("() => chrome.storage.local.clear()")

    def open_blog(self, path: str):
        page = self.browser.context.new_page()
        page.goto(self.blog.url(path))
        page.wait_for_function(
            "() => [...document.images].every(i => i.complete && i.naturalWidth)"
        )
        return page

    def shop_this_look(self, page, *, src_url: str | None = None, wait: bool = True) -> None:
        """Call what the "Shop this look" menu item calls, with what the browser passes."""
        src_url = src_url or page.eval_on_selector("img", "image => image.currentSrc")
        info = {
            "menuItemId": "shop-this-look",
            "mediaType": "image",
            "srcUrl": src_url,
            "pageUrl": page.url,
            "frameId": 0,
            "editable": False,
        }
        script = """async ([info, pageUrl, wait]) => {
            const tab = (await chrome.tabs.query({})).find((t) => t.url === pageUrl);
            const done = shopThisLook(info, tab);
            if (wait) await done;
        }"""
        self.worker.evaluate(script, [info, page.url, wait])

    def open_panel(self):
        """The side panel's page in a tab: headless Chromium cannot show the side panel."""
        panel = self.browser.context.new_page()
        panel.goto(self.url("src/panel/panel.html"))
        panel.wait_for_selector("html[data-ready]", state="attached")
        return panel

    def open_options(self):
        page = self.browser.context.new_page()
        page.goto(self.url("src/options/options.html"))
        page.wait_for_selector("html[data-ready]", state="attached")
        return page


@pytest.fixture
def extension(browser, shop, request) -> Iterator[ExtensionSession]:
    """A clean look, the options pointing at the contract double, the double reset."""
    blog = request.getfixturevalue("blog") if "blog" in request.fixturenames else None
    shop.reset()
    session = ExtensionSession(browser, shop, blog)
    session.worker.evaluate("() => chrome.storage.session.clear()")
    session.save_settings(shop.base_url)
    pages_before = set(browser.context.pages)
    yield session
    browser.context.set_offline(False)
    for page in browser.context.pages:
        if page not in pages_before:
            page.close()


@pytest.fixture
def screenshot():
    """``screenshot(page, name)`` saves a PNG under $EXTENSION_SCREENSHOTS_DIR, if set."""

    def take(page, name: str) -> None:
        if SCREENSHOTS_DIR:
            Path(SCREENSHOTS_DIR).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SCREENSHOTS_DIR) / f"{name}.png"), full_page=True)

    return take


def closed_port() -> int:
    """A local port nothing listens on: a shop that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
