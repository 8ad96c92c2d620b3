"""Issue 13, understanding: Chinese and mixed messages read onto the English vocabulary and slots.

- `english_reading` (retrieval/chinese.py, lexicon in retrieval/chinese.yaml) and `parse`;
- the understanding step without a model (rules fast path and fallback) on Chinese messages:
  prices, exclusions, ordinals, greetings, thanks, categories, colours, service requests;
- the model's command step with a scripted model (prompt v2, slots read into English);
- whole chat turns on the real Superstore catalogue.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from assistant.agent import Agent
from assistant.commands.check import Screen
from assistant.commands.schema import parse_commands
from assistant.commands.understand import TurnView, Understander
from assistant.conversation import ConversationState
from assistant.llm import ScriptedChatModel
from assistant.prompts import PromptLibrary
from assistant.router import IntentRouter
from retrieval.chinese import chinese_number, english_reading, lexicon
from retrieval.constraints import Vocabulary, parse
from tests.support import CUSTOMER

SUBS = frozenset(
    [
        "Bookcases",
        "Chairs",
        "Furnishings",
        "Tables",
        "Appliances",
        "Art",
        "Binders",
        "Envelopes",
        "Fasteners",
        "Labels",
        "Paper",
        "Storage",
        "Supplies",
        "Accessories",
        "Copiers",
        "Machines",
        "Phones",
    ]
)
VOCAB = Vocabulary(
    categories=frozenset({"Furniture", "Office Supplies", "Technology"}),
    sub_categories=SUBS,
    brands=frozenset({"Avery", "Hon", "HON", "Logitech", "Xerox", "Global", "Canon"}),
)
LIB = PromptLibrary()


@pytest.fixture(scope="module")
def router(encoder) -> IntentRouter:
    return IntentRouter(encoder, LIB)


@pytest.fixture(scope="module")
def understander() -> Understander:
    # The understanding step needs only the catalogue's vocabulary.
    return Understander(LIB, SimpleNamespace(vocabulary=VOCAB), "Superstore")  # type: ignore[arg-type]


def understand(understander, router, text: str, shown: int = 0, llm=None) -> tuple[list, str]:
    screen = Screen(("Chairs",) * shown)
    route = router.route(text, has_shown_products=bool(shown))
    u = understander.understand(llm, route, text, TurnView("", "", "", ""), screen)
    return [c.model_dump(exclude_none=True) for c in u.commands], u.by


# The reading ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("我想要一把100美元以下的办公椅，不要Hon的", "I need a under $100 office chair, not Hon"),
        ("我要 office chair, 不要 Hon", "I need office chair, not Hon"),
        ("第二个有黑色的吗", "does the second one come in black?"),
        ("100到200美元之间的书架", "between $100 and $200 bookcase"),
        ("不超过200块的桌子", "under $200 table"),
        ("500以上的复印机", "over $500 copier"),
        ("50块左右的订书机", "around $50 stapler"),
        ("两百美元以下的书柜", "under $200 bookcase"),
        ("比较一下第一个和第三个", "compare the first one and the third one"),
        ("好的，谢谢", "great, thanks"),
        ("订单CA-2016-152156到哪了", "order CA-2016-152156 where is it"),  # no price range
        ("30天内可以退货吗", "30 days within can return the item?"),  # 30天 is no price
        ("一块桌布", "a table fabric"),  # 一块 is a measure word here, not a price
    ],
)
def test_english_reading(text, reading):
    assert english_reading(text) == reading


def test_english_text_is_left_alone():
    for text in ("chairs under $50, not Hon", "CA-2016-152156", "the 2nd one", "  hi  "):
        assert english_reading(text) == text


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("一百", 100),
        ("两百五", 250),
        ("一千二", 1200),
        ("一百零五", 105),
        ("十五", 15),
        ("2万", 2e4),
    ],
)
def test_chinese_numbers(numeral, value):
    assert chinese_number(numeral) == value


def test_lexicon_covers_every_superstore_sub_category_and_colour():
    lex = lexicon()
    covered = set()
    for english in lex.sections["catalogue"].values():
        c = parse(english, VOCAB)
        covered |= c.sub_categories | c.categories | c.soft_categories
    assert covered >= SUBS | VOCAB.categories
    colours = set(lex.sections["colours"].values())
    assert {"black", "white", "gray", "blue", "red", "green", "brown", "silver"} <= colours
    assert all(parse(zh, VOCAB).attributes for zh in ("黑色的椅子", "可调节的椅子", "木质书架"))


def test_parse_reads_chinese_constraints_and_keeps_the_chinese_query():
    c = parse("我想要一把100美元以下的办公椅，不要Hon的", VOCAB)
    assert c.max_price == 100 and c.sub_categories == {"Chairs"}
    assert c.exclude_brands == {"Hon", "HON"}  # every spelling the catalogue has
    assert (
        c.text == "办公椅"
    )  # what a multilingual embedder matches; the command step reads English
    c = parse("最便宜的活页夹，不要Avery", VOCAB)
    assert c.sort == "price_asc" and c.sub_categories == {"Binders"} and c.text == "活页夹"


# Rules: the understanding step without a model --------------------------------------------------
SEARCHES = [
    (
        "我想要一把100美元以下的办公椅，不要Hon的",
        {"max_price": 100, "categories": ["Chairs"]},
        {"Hon"},
    ),
    ("100元以内的打印纸", {"max_price": 100, "categories": ["Paper"]}, set()),
    ("不超过200块的桌子", {"max_price": 200, "categories": ["Tables"]}, set()),
    (
        "100到200美元之间的书架",
        {"min_price": 100, "max_price": 200, "categories": ["Bookcases"]},
        set(),
    ),
    (
        "在100和200美元之间的椅子",
        {"min_price": 100, "max_price": 200, "categories": ["Chairs"]},
        set(),
    ),
    ("500以上的复印机", {"min_price": 500, "categories": ["Copiers"]}, set()),
    ("两百美元以下的书柜", {"max_price": 200, "categories": ["Bookcases"]}, set()),
    ("大约50美元的台灯", {"min_price": 37.5, "max_price": 62.5, "query": "desk lamp"}, set()),
    ("$100-$300的椅子", {"min_price": 100, "max_price": 300, "categories": ["Chairs"]}, set()),
    ("我要 office chair, 不要 Hon", {"query": "office chair", "categories": ["Chairs"]}, {"Hon"}),
    ("除了Avery以外的标签", {"categories": ["Labels"]}, {"Avery"}),
    ("无线鼠标，不要Logitech", {"query": "wireless mouse"}, {"Logitech"}),
    ("罗技的键盘", {"brands": ["Logitech"], "query": "Logitech keyboard"}, set()),
    ("黑色的人体工学椅", {"query": "black ergonomic chair", "categories": ["Chairs"]}, set()),
    ("给我推荐一款1000元以内的打印机", {"max_price": 1000, "query": "printer"}, set()),
]


@pytest.mark.parametrize(("text", "slots", "excluded"), SEARCHES)
def test_chinese_searches_by_rules(understander, router, text, slots, excluded):
    cmds, by = understand(understander, router, text)
    assert by == "rules" and [c["type"] for c in cmds] == ["search"], cmds
    assert {k: cmds[0].get(k) for k in slots} == slots
    assert {b.lower() for b in cmds[0]["exclude_brands"]} == {b.lower() for b in excluded}


ON_SCREEN = [
    ("第二个有黑色的吗", {"type": "ask_about", "items": [2]}),
    ("最后一个怎么样", {"type": "ask_about", "items": [3]}),
    ("第三个多少钱", {"type": "ask_about", "items": [3]}),
    ("第一个和第二个有什么区别", {"type": "compare", "items": [1, 2]}),
    ("比较一下第一个和第三个", {"type": "compare", "items": [1, 3]}),
    ("前两个比较一下", {"type": "compare", "items": [1, 2]}),
    ("把第一个加入购物车", {"type": "cart_add", "item": 1, "quantity": 1}),
    ("把第三个加到购物车", {"type": "cart_add", "item": 3}),
    ("有没有便宜一点的？", {"type": "refine", "price_direction": "cheaper"}),
    ("贵一点的", {"type": "refine", "price_direction": "pricier"}),
    ("换个牌子", {"type": "refine", "exclude_brand_of": 1}),
    ("不要这个牌子", {"type": "refine", "exclude_brand_of": 1}),
]


@pytest.mark.parametrize(("text", "expected"), ON_SCREEN)
def test_chinese_pointers_at_the_screen_by_rules(understander, router, text, expected):
    cmds, by = understand(understander, router, text, shown=3)
    assert by == "rules" and len(cmds) == 1, cmds
    assert {k: cmds[0].get(k) for k in expected} == expected


def test_a_question_about_an_item_keeps_the_colour(understander, router):
    cmds, _ = understand(understander, router, "第二个有黑色的吗", shown=3)
    assert "black" in cmds[0]["question"]


OTHERS = [
    ("你好", {"type": "smalltalk", "kind": "greeting"}),
    ("您好！", {"type": "smalltalk", "kind": "greeting"}),
    ("早上好", {"type": "smalltalk", "kind": "greeting"}),
    ("谢谢", {"type": "smalltalk", "kind": "thanks"}),
    ("好的，谢谢", {"type": "smalltalk", "kind": "thanks"}),
    ("没有了，谢谢", {"type": "smalltalk", "kind": "thanks"}),
    ("谢谢你的帮助", {"type": "smalltalk", "kind": "thanks"}),
    ("再见", {"type": "smalltalk", "kind": "goodbye"}),
    ("拜拜", {"type": "smalltalk", "kind": "goodbye"}),
    ("你能做什么？", {"type": "smalltalk", "kind": "capabilities"}),
    ("我的订单到哪了？", {"type": "order_status"}),
    ("订单CA-2016-152156到哪了", {"type": "order_status", "order_id": "CA-2016-152156"}),
    ("我想退货，订单号CA-2016-152156", {"type": "return_request", "order_id": "CA-2016-152156"}),
    ("退货政策是什么？", {"type": "policy_question"}),
    ("保修多久", {"type": "policy_question"}),
    ("我要找人工客服", {"type": "handoff"}),
    ("看看我的购物车", {"type": "cart_show"}),
]


@pytest.mark.parametrize(("text", "expected"), OTHERS)
def test_chinese_small_talk_and_service_by_rules(understander, router, text, expected):
    cmds, by = understand(understander, router, text)
    assert by == "rules" and len(cmds) == 1, cmds
    assert {k: cmds[0].get(k) for k in expected} == expected


# The model's command step ---------------------------------------------------------------------
def test_the_understand_prompt_v2_has_chinese_examples_that_fit_the_schema():
    prompt = LIB.get("understand")
    assert prompt.version == 2 and LIB.get("understand", 1).version == 1
    system = prompt.parts["system"]
    assert "我想要一把100美元以下的办公椅，不要Hon的" in system and "第二个有黑色的吗" in system
    examples = [ln.strip() for ln in system.splitlines() if ln.strip().startswith('{"commands"')]
    assert len(examples) >= 15
    for line in examples:
        parse_commands(line)
    # No run of 12 Han characters: a Chinese reply echoing a shopper is no prompt leak.
    assert max(len(r) for r in re.findall(r"[\u4e00-\u9fff]+", system)) < 12


def command_model(commands: list[dict]) -> ScriptedChatModel:
    """Answers the understanding prompt with `commands`, any other prompt with a sentence."""

    def respond(messages) -> str:
        system = next((m for m in messages if isinstance(m, SystemMessage)), None)
        if system is not None and "into commands as JSON" in str(system.content):
            return json.dumps({"commands": commands}, ensure_ascii=False)
        return "[1] fits what you asked for."

    return ScriptedChatModel(respond)


def test_the_model_sees_the_message_and_its_english_reading(understander, router):
    text = "我想要一把100美元以下的办公椅，不要Hon的"
    search = {"type": "search", "query": "office chair", "categories": ["Chairs"]}
    model = command_model([search | {"max_price": 100, "exclude_brands": ["Hon"]}])
    cmds, by = understand(understander, router, text, llm=model)
    assert by == "model"
    assert cmds[0]["max_price"] == 100 and cmds[0]["categories"] == ["Chairs"]
    assert cmds[0]["query"] == "office chair" and {"Hon", "HON"} <= set(cmds[0]["exclude_brands"])
    human = [m for m in model.calls[0] if isinstance(m, HumanMessage)][-1].content
    assert str(human).endswith(f"English reading: {english_reading(text)}\nMessage: {text}")
    english = command_model([search])
    understand(understander, router, "an office chair", llm=english)
    assert "English reading" not in str(english.calls[0][-1].content)


def test_chinese_slots_from_the_model_are_read_into_english(understander, router):
    # A small model copies the shopper's words: code reads them the way it reads the message.
    copied = {
        "type": "search",
        "query": "办公椅",
        "categories": ["椅子"],
        "attributes": ["黑色"],
        "max_price": 150,  # the parser's budget wins: the shopper said 100
    }
    text = "我想要一把100美元以下的黑色办公椅，不要Hon的"
    cmds, by = understand(understander, router, text, llm=command_model([copied]))
    assert by == "model"
    search = cmds[0]
    assert search["query"] == "office chair" and search["categories"] == ["Chairs"]
    assert search["attributes"] == ["black"] and search["max_price"] == 100
    assert {"Hon", "HON"} <= set(search["exclude_brands"])


def test_the_model_refines_an_item_in_chinese(understander, router):
    ask = {"type": "ask_about", "items": [2], "question": "第二个有黑色的吗"}
    cmds, by = understand(understander, router, "这把椅子有黑色的吗", 3, command_model([ask]))
    assert by == "model" and cmds[0]["items"] == [2] and "black" in cmds[0]["question"]


# Whole chat turns on the real catalogue ---------------------------------------------------------
@pytest.fixture(scope="module")
def agent(stack) -> Agent:
    return Agent(stack, None)


def _chairs_without_hon(agent: Agent, reply, budget: float) -> None:
    assert reply.intent == "recommend" and reply.products, reply.text
    for card in reply.products:
        assert card.sub_category == "Chairs" and card.price <= budget
        assert (agent.stack.catalogue.get(card.id).brand or "").lower() != "hon"


def test_a_chinese_search_without_a_model(agent):
    state = ConversationState(user_id=CUSTOMER)
    reply = agent.turn(state, "我想要一把100美元以下的办公椅，不要Hon的")
    assert reply.understood_by == "rules" and state.language == "zh"
    _chairs_without_hon(agent, reply, 100)
    # Hon sells chairs from $100.98: under $200 the exclusion is what keeps them out.
    _chairs_without_hon(agent, agent.turn(state, "我要 office chair，200美元以下，不要 Hon"), 200)


def test_a_chinese_conversation_with_the_scripted_model(agent):
    search = {
        "type": "search",
        "query": "office chair",
        "categories": ["Chairs"],
        "max_price": 200,
        "exclude_brands": ["Hon"],
    }
    chat = Agent(agent.stack, command_model([search]), agent.library, agent.router, agent.tools)
    state = ConversationState(user_id=CUSTOMER)
    reply = chat.turn(state, "我想要一把200美元以下的办公椅，不要Hon的")
    assert reply.understood_by == "model"
    _chairs_without_hon(chat, reply, 200)
    shown = list(state.shown)
    ask = chat.turn(state, "第二个有黑色的吗")  # the rules' fast path: an ordinal
    assert ask.intent == "product_details" and ask.cited_ids == [shown[1]]
    thanks = chat.turn(state, "谢谢！")
    assert thanks.understood_by == "rules" and thanks.commands == [
        {"type": "smalltalk", "kind": "thanks"}
    ]
