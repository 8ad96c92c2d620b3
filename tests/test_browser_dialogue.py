"""The six-turn home-office conversation, in the browser, with the real default model.

It is the conversation the command step was built for: a budget that holds, follow-ups about
the items on screen, "cheaper" under the same budget, a cart command and a goodbye. The model
may word things its own way; what code decides (which products, prices, the cart) is asserted.
"""

from __future__ import annotations

import re

import pytest

from tests.test_browser import (  # noqa: F401 - fixtures
    CHROMIUM,
    SHOTS,
    ask,
    base_url,
    browser,
    open_home,
    page,
)

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.model_suite]


@pytest.fixture(scope="module")
def runtime(runtime_factory):
    """A private runtime with the default local model (llama.cpp, verified GGUF), warmed up."""
    from assistant.llm import build_chat_model
    from retrieval.settings import Settings

    rt = runtime_factory("web-dialogue", llm_backend="llamacpp")
    default = Settings.model_fields["llm_local_model"].default
    rt.settings.llm_local_model = default
    rt.settings.llm_deadline_s = 30.0  # a busy CI core; the turn's budget is not under test here
    rt.agent.llm = build_chat_model(rt.settings)
    rt.agent.warm_up()
    rt.llm_status = "ready"  # the page says the model writes, as it does
    return rt


def card_ids(page) -> list[str]:  # noqa: F811 - the fixture, passed on
    cards = page.locator('[data-testid="bot"]').last.locator(".chat-card")
    return [t.removeprefix("Item ").strip() for t in cards.locator(".cc-sku").all_inner_texts()]


def test_home_office_conversation(page, base_url, runtime):  # noqa: F811
    from assistant.support import CartOwner
    from tests.support import CUSTOMER

    catalogue = runtime.stack.catalogue
    runtime.desk.cart.clear(CartOwner.of(CUSTOMER, None))
    page.set_default_timeout(180_000)  # a real model on a busy 2-core machine: a deadline
    open_home(page, base_url)
    page.get_by_role("tab", name="Chat").click()

    ask(page, "I'm setting up a home office and need a desk chair for long hours, under $150")
    first = card_ids(page)
    assert first, "no chairs recommended"
    assert all(catalogue.get(i).price <= 150 for i in first)
    assert all(catalogue.get(i).sub_category == "Chairs" for i in first)

    text = ask(page, "which of these has the best back support?")
    assert set(card_ids(page)) <= set(first), "a follow-up must talk about the chairs shown"
    assert not re.search(r"\$(1[5-9]\d|[2-9]\d\d)\.\d\d", text), "the budget was dropped"

    text = ask(page, "is the second one adjustable?")
    second = catalogue.get(first[1]) if len(first) > 1 else catalogue.get(first[0])
    assert card_ids(page) == [second.id]
    said_yes = "adjustable" in second.name.lower()
    assert ("adjustable" in text.lower()) if said_yes else re.search(r"doesn't|does not", text)

    ask(page, "show me something cheaper")
    cheaper = card_ids(page)
    assert cheaper and all(catalogue.get(i).price < 150 for i in cheaper)

    text = ask(page, "add the first one to my cart")
    top = catalogue.get(cheaper[0])
    assert "cart" in text.lower() and top.name in text
    assert runtime.desk.cart.get(CartOwner.of(CUSTOMER, None)).quantity_of(top.id) == 1

    ask(page, "thanks, that's all")
    assert card_ids(page) == []
    page.screenshot(path=SHOTS / "chat-home-office.png")
