"""A Chinese conversation end to end with a scripted fake model: the reply is Chinese around the
catalogue's own product names, invented prices are rejected as in English, and a Chinese policy
question finds the English passage, is answered in Chinese and cites it."""

from __future__ import annotations

import json
import re

import pytest
from langchain_core.messages import BaseMessage

from assistant.agent import Agent
from assistant.commands.schema import (
    Command,
    Decline,
    Handoff,
    OrderStatus,
    PolicyQuestion,
    ReturnRequest,
)
from assistant.conversation import ConversationState, Reply
from assistant.llm import ScriptedChatModel
from assistant.support import index_knowledge
from assistant.turn import HANDLERS, TurnContext
from tests.support import CUSTOMER

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def agent(stack):
    index_knowledge(stack)
    return Agent(stack, None)


def chinese_model(agent: Agent, commands: list[dict], reply: str) -> Agent:
    """The agent with a model that reads the message as `commands` and writes `reply`; it
    records which prompts it was given."""

    def respond(messages: list[BaseMessage]) -> str:
        system = str(messages[0].content)
        if "turn it into commands as JSON" in system:  # the understanding step
            return json.dumps({"commands": commands})
        return reply

    model = ScriptedChatModel(respond)
    return Agent(agent.stack, model, agent.library, agent.router, agent.tools)


def _prompts_seen(agent: Agent) -> list[str]:
    model = agent.llm
    assert isinstance(model, ScriptedChatModel)
    return [str(call[0].content) for call in model.calls]


def test_a_chinese_request_is_answered_in_chinese_around_catalogue_names(agent):
    search = [{"type": "search", "query": "bookcase", "categories": ["Bookcases"]}]
    talker = chinese_model(agent, search, "[1]很适合放在您的书房里，[2]也是不错的选择。")
    state = ConversationState(user_id=CUSTOMER)
    reply = talker.turn(state, "我想买一个书架")
    assert state.language == "zh"
    assert reply.intent == "recommend" and len(reply.products) == 3
    assert all(p.sub_category == "Bookcases" for p in reply.products)
    first, second = reply.products[0], reply.products[1]
    assert reply.text.startswith("为您挑选了 3 件商品")
    # The model's sentence, checked, with the catalogue's names rendered by code.
    assert reply.generated and not reply.fallback, reply.validation_problems
    assert reply.text.endswith(f"{first.name}很适合放在您的书房里，{second.name}也是不错的选择。")
    assert f"{first.name}，${first.price:.2f}（Bookcases）" in reply.text
    assert any("简体中文" in p for p in _prompts_seen(talker))  # the Chinese recommend prompt


def test_an_invented_chinese_price_falls_back_to_the_chinese_template(agent):
    search = [{"type": "search", "query": "bookcase", "categories": ["Bookcases"]}]
    liar = chinese_model(agent, search, "[1]今天只要九十九元，非常划算。")
    reply = liar.turn(ConversationState(user_id=CUSTOMER), "我想买一个书架")
    assert reply.fallback and not reply.generated
    assert any("price $99.00" in p for p in reply.validation_problems)
    assert "九十九元" not in reply.text and reply.text.startswith("为您挑选了 3 件商品")


def test_english_turns_stay_english_on_the_same_agent(agent):
    search = [{"type": "search", "query": "bookcase", "categories": ["Bookcases"]}]
    talker = chinese_model(agent, search, "[1] is a sturdy choice for your study.")
    state = ConversationState(user_id=CUSTOMER)
    talker.turn(state, "我想买一个书架")
    reply = talker.turn(state, "show me a bookcase")
    assert state.language == "en" and reply.text.startswith("Here are 3 picks")
    assert not HAN.search(reply.text)


def run(agent: Agent, cmd: Command, message: str, user_id: str | None = None) -> Reply:
    """One command's handler on a Chinese conversation (how a Chinese message is understood
    is the understanding step's business, tested with it)."""
    state = ConversationState(user_id=user_id, language="zh")
    ctx = TurnContext(agent.deps, state, message, Reply(text="", intent="unknown"), str)
    ctx.text = message
    for _ in HANDLERS[cmd.type](ctx, cmd):
        pass
    return ctx.reply


def ask_policy(agent: Agent, question: str) -> Reply:
    return run(agent, PolicyQuestion(), question)


def test_a_chinese_policy_question_cites_the_english_passage_in_chinese(agent):
    answer = "您可以在收货后30天内退货，电子产品是15天。"
    talker = chinese_model(agent, [], answer)
    reply = ask_policy(talker, "我买的东西多长时间内可以退货？")
    assert reply.intent == "policy" and reply.citations
    assert reply.citations[0]["doc"] == "returns"
    assert reply.generated and not reply.fallback, reply.validation_problems
    assert reply.text.startswith(answer + "（来源：returns.md，“")
    # The model was given the English passage and told to answer in Chinese.
    policy_prompt = next(p for p in _prompts_seen(talker) if "客服助手" in p)
    assert "简体中文" in policy_prompt


def test_a_chinese_policy_answer_with_an_invented_number_falls_back(agent):
    talker = chinese_model(agent, [], "您可以在收货后六十天内退货。")
    reply = ask_policy(talker, "我买的东西多长时间内可以退货？")
    assert reply.citations and reply.citations[0]["doc"] == "returns"
    assert reply.fallback and any("60" in p for p in reply.validation_problems)
    # Code cannot translate the passage: the template says it is the English original.
    assert reply.text.startswith("以下是本店政策中的相关内容（英文原文）：")
    assert "（来源：returns.md" in reply.text and "六十天" not in reply.text


@pytest.mark.parametrize(
    ("question", "doc"),
    [("运费是多少？", "shipping"), ("保修多久？", "warranty"), ("可以取消订单吗？", "faq")],
)
def test_chinese_policy_words_find_their_english_passages(agent, question, doc):
    reply = ask_policy(agent, question)  # no model: the passage, said to be the English original
    assert reply.citations and reply.citations[0]["doc"] == doc
    assert reply.text.startswith("以下是本店政策中的相关内容（英文原文）：")


def test_code_decided_replies_are_chinese(agent):
    """No model: order status, a return decision, a decline and the hand-off, in Chinese."""
    status = run(agent, OrderStatus(order_id="CA-2016-152156"), "订单到哪里了？", CUSTOMER)
    assert status.text.startswith("订单 CA-2016-152156（")
    assert "目前已送达" in status.text and not re.search(r"\b(is|was|the)\b", status.text)
    refund = run(agent, ReturnRequest(order_id="CA-2016-152156"), "可以退货吗？", CUSTOMER)
    assert "CA-2016-152156" in refund.text and "无法退货" in refund.text
    declined = run(agent, Decline(reason="discount"), "给我打个折吧")
    assert declined.text.startswith("我无法修改价格或提供折扣")
    handed = run(agent, Handoff(), "转人工", CUSTOMER)
    assert handed.ticket_id and f"工单 #{handed.ticket_id}" in handed.text
