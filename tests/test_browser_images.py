"""Product pictures in a real browser, on an imported store: the home page's cards, the chat's
cards and the widget's cards show each product's image, loaded by the browser from the URL the
import gave. The images are served by this test itself (no internet), and every request for
them comes from the browser: the app never fetches an image."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support import SECRET, ThreadedServer, free_port, make_runtime
from tests.test_browser import ARGS, CHROMIUM, SHOTS, WAIT_MS, ask  # noqa: F401 - skips first

pytestmark = pytest.mark.browser

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from app import create_app  # noqa: E402
from assistant.support import index_knowledge  # noqa: E402
from retrieval.importing.customers import import_customers  # noqa: E402
from retrieval.importing.orders import import_orders  # noqa: E402
from retrieval.importing.products import import_products  # noqa: E402

from .conftest import build_stack, make_settings  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "import"
STORE = "trailhead-pics"
JANE = "7001001"
CDN = "https://cdn.example.com/trailhead/"
# A 1x1 PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


class ImageServer:
    """Serves PIXEL for /img/<name>, remembering who asked (path, User-Agent)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                seen.append((self.path, self.headers.get("User-Agent", "")))
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PIXEL)))
                self.end_headers()
                self.wfile.write(PIXEL)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/img/"

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def images():
    with ImageServer() as server:
        yield server


@pytest.fixture(scope="module")
def site(tmp_path_factory, encoder, images):
    """The trailhead fixtures imported with their image URLs pointing at `images`, served."""
    root = tmp_path_factory.mktemp("pics")
    products = root / "products.csv"
    text = (FIXTURES / "trailhead_products.csv").read_text(encoding="utf-8")
    products.write_text(text.replace(CDN, images.url), encoding="utf-8")
    settings = make_settings(
        root / "data", catalogue=STORE, llm_backend="none", widget_secret=SECRET
    )
    assert import_products(settings, products, store=STORE, index=False).committed
    assert import_customers(
        settings, FIXTURES / "trailhead_customers.csv", store=STORE, max_errors=2
    ).committed
    assert import_orders(
        settings, FIXTURES / "trailhead_orders.csv", store=STORE, max_errors=4
    ).committed
    stack = build_stack(settings, encoder)
    index_knowledge(stack)
    runtime = make_runtime(settings, stack)
    port = free_port()
    settings.cors_origins = [f"http://127.0.0.1:{port}"]
    server = ThreadedServer(create_app(settings, runtime), port)
    server.start()
    yield server.url
    server.stop()


def expected(images: ImageServer, product_id: str) -> str | None:
    names = {
        "trail-runner-shoe": "trail-runner.jpg",
        "merino-hiking-socks": "socks.jpg",
        "insulated-water-bottle": "bottle.jpg",
        "compact-camp-stove": "stove.jpg",
        "led-headlamp": "headlamp.jpg",
        "packable-rain-jacket": "jacket.jpg",
        "carbon-trekking-poles": "poles.jpg",
    }
    return images.url + names[product_id] if product_id in names else None


def test_cards_show_the_products_images(site, images):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(WAIT_MS)

        # The home page: every card of a product with an image shows that image.
        page.goto(f"{site}/?shopper={JANE}", wait_until="domcontentloaded")
        page.locator(".pc").first.wait_for()
        cards = page.locator(".pc").evaluate_all(
            "els => els.map(e => [e.dataset.productId, "
            "(e.querySelector('img.pc-img') || {}).src || null])"
        )
        assert cards
        for pid, src in cards:
            assert src == expected(images, pid), (pid, src)
        first = page.locator(".pc img.pc-img").first
        first.scroll_into_view_if_needed()
        expect(first).to_have_js_property("complete", True)
        assert first.evaluate("img => img.naturalWidth") == 1  # the browser loaded it

        # The chat: the cards under a reply carry the image too.
        page.get_by_role("tab", name="Chat").click()
        ask(page, "I need a rain jacket")
        chat_img = page.locator('[data-testid="bot"] .chat-card img').first
        expect(chat_img).to_have_attribute("src", expected(images, "packable-rain-jacket"))
        page.screenshot(path=str(SHOTS / "import-images.png"), full_page=True)

        # The widget, on a page of the store's own.
        page.goto(f"{site}/widget-demo?mode=anonymous", wait_until="domcontentloaded")
        page.locator('[data-testid="widget-bubble"]').click()
        page.locator('[data-testid="widget-input"]').fill("a camp stove")
        page.locator('[data-testid="widget-send"]').click()
        card = page.locator('[data-testid="widget-card"]').first
        expect(card).to_be_visible()
        pid = card.get_attribute("data-product-id")
        expect(card.locator("img")).to_have_attribute("src", expected(images, pid) or "")
        page.screenshot(path=str(SHOTS / "import-images-widget.png"))
        browser.close()

    # Only the browser asked for images; the server never fetched one.
    assert images.requests
    assert all("Chrome" in agent for _, agent in images.requests), images.requests
