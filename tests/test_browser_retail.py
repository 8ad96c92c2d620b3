"""The retail store in a real browser: a new visitor identifies in chat, asks for an exchange,
sees it stated with the amount, confirms with "yes", and the store's data changes once."""

from __future__ import annotations

import re

import pytest

from tests.support import ThreadedServer, free_port
from tests.test_browser import ARGS, CHROMIUM, SHOTS, WAIT_MS, ask  # noqa: F401 - skips first

pytestmark = pytest.mark.browser

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from app import create_app  # noqa: E402
from retrieval.store_state import export_store  # noqa: E402


@pytest.fixture(scope="module")
def retail_runtime(runtime_factory):
    return runtime_factory("web-retail", catalogue="retail")


@pytest.fixture(scope="module")
def retail_url(retail_runtime):
    port = free_port()
    retail_runtime.settings.cors_origins = [f"http://127.0.0.1:{port}"]
    server = ThreadedServer(create_app(retail_runtime.settings, retail_runtime), port)
    server.start()
    yield server.url
    server.stop()


def test_an_exchange_walked_through_the_ui_with_confirmation(retail_url, retail_runtime):
    db = retail_runtime.stack.db
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{retail_url}/", wait_until="domcontentloaded")
        shopper = page.locator("#shopper input")
        shopper.click()
        shopper.fill("New visitor")
        page.get_by_role("option", name=re.compile("New visitor")).click()
        expect(page.locator("#home-hello")).to_contain_text("new visitor")
        page.get_by_role("tab", name="Chat").click()
        stated = ask(
            page,
            "I received my order #W2378156 and want to exchange the mechanical keyboard for a "
            "clicky one with no backlight, full size. I'm Yusuf Rossi, zip 19122. "
            "Put any difference on my credit card.",
        )
        assert (
            "To confirm" in stated and "$3.17" in stated and "Mastercard ending in 2478" in stated
        )
        assert export_store(db)["orders"]["#W2378156"]["status"] == "delivered"  # not yet
        done = ask(page, "yes")
        assert "Done" in done
        page.screenshot(path=str(SHOTS / "retail-exchange.png"), full_page=True)
        order = export_store(db)["orders"]["#W2378156"]
        assert order["status"] == "exchange requested"
        assert order["exchange_new_items"] == ["7706410293"]
        again = ask(page, "yes")  # a second yes changes nothing
        assert "Done" not in again
        browser.close()
