"""Prompt files: package data, loaded into LangChain chat prompts (Jinja2), strict about variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate

from assistant.generate import to_messages
from assistant.prompts import PromptError, PromptLibrary, prompts_dir

REPO = Path(__file__).resolve().parent.parent
PICKS = [
    {"name": "Chair A", "price": 12.5, "reason": "fits", "sub_category": "Chairs"},
    {
        "name": "Desk {{ x }}",
        "price": 1299,
        "reason": "a {% raw %} reason",
        "sub_category": "Tables",
    },
]


@pytest.fixture(scope="module")
def lib() -> PromptLibrary:
    return PromptLibrary()


def test_library_reads_the_package_data(lib):
    import prompts

    assert Path(str(prompts_dir())) == Path(prompts.__file__).parent == REPO / "prompts"
    names = lib.names()
    assert ("recommend", 3) in names and ("replies", 1) in names and ("router", 1) in names
    assert lib.get("recommend").version == max(v for n, v in names if n == "recommend")
    assert PromptLibrary(REPO / "prompts").names() == names  # an explicit directory still works


def test_messages_are_langchain_messages_from_a_jinja2_chat_prompt(lib):
    prompt = lib.get("recommend", 1)
    assert isinstance(prompt.chat_prompt, ChatPromptTemplate)
    assert {m.prompt.template_format for m in prompt.chat_prompt.messages} == {"jinja2"}
    values = {"store_name": "Superstore", "shopper_summary": "likes chairs", "request": "a chair"}
    system, user = prompt.messages(**values, picks=PICKS)
    assert isinstance(system, SystemMessage) and isinstance(user, HumanMessage)
    assert system.content.startswith("You are the friendly shopping assistant of Superstore.")
    # One line per pick, no blank lines around the loop, values never re-parsed as templates.
    assert user.content == (
        "SHOPPER: likes chairs\nREQUEST: a chair\nPRODUCTS:\n"
        "1. Chair A ($12.50): fits\n2. Desk {{ x }} ($1299.00): a {% raw %} reason\n"
        "Recommend product 1 to the shopper and say why it fits."
    )
    assert prompt.render("user", **values, picks=PICKS) == user.content
    assert prompt.render("system", **values, picks=PICKS) == system.content


def test_policy_passages_render_one_per_line(lib):
    _, user = lib.get("policy").messages(
        store_name="S",
        question="q?",
        passages=[{"doc": "a", "text": "t1"}, {"doc": "b", "text": "t2"}],
    )
    assert user.content == "QUESTION: q?\nPASSAGES:\n[1] (a) t1\n[2] (b) t2"


def test_missing_variables_are_errors(lib):
    with pytest.raises(PromptError, match="needs"):
        lib.get("recommend", 3).messages(store_name="S", request="r")
    with pytest.raises(PromptError):
        lib.text("replies", "order_not_found")  # StrictUndefined: no order_id given
    with pytest.raises(PromptError, match="no part"):
        lib.text("replies", "no_such_template")
    with pytest.raises(PromptError):
        lib.get("nope")


def test_code_decided_templates_render_with_jinja(lib):
    assert lib.text("replies", "greeting", name="Ada").startswith("Hi Ada!")
    assert lib.text("replies", "greeting", name=None).startswith("Hi!")
    lead = lib.text("replies", "recommend_lead", n=2, constraints="Chairs", personal=False)
    assert lead == "Here are 2 picks (Chairs):"


def test_backends_take_the_messages(lib):
    messages = lib.get("support").messages(store_name="S", facts="Order X shipped.")
    assert to_messages(messages) == messages  # passed through unchanged
    assert to_messages([("system", "a"), ("user", "b")]) == [SystemMessage("a"), HumanMessage("b")]
    llm = FakeListChatModel(responses=["Your order shipped."])
    assert llm.invoke(messages).content == "Your order shipped."
