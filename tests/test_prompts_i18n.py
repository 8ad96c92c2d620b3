"""Templates per language: English and Simplified Chinese files with the same keys, the same
variables and the same parts; a library bound to a language renders that language's file."""

from __future__ import annotations

import re

import pytest
from jinja2 import Environment, meta

from assistant.prompts import BASE_LANGUAGE, PromptError, PromptLibrary, system_prompt_runs
from assistant.validate import word_runs

LANGUAGES = ("zh",)
# Every prompt the model writes a reply from: a Chinese conversation needs each in Chinese.
REPLY_PROMPTS = ("recommend", "ask", "policy", "smalltalk", "support")
# Code-decided replies: every key must exist in every language.
TEMPLATE_SETS = ("replies", "account")
_env = Environment()


@pytest.fixture(scope="module")
def lib() -> PromptLibrary:
    return PromptLibrary()


def _variables(source: str) -> set[str]:
    return set(meta.find_undeclared_variables(_env.parse(source)))


@pytest.mark.parametrize("name", TEMPLATE_SETS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_set_has_every_key_in_every_language(lib, name, language):
    for n, version in lib.names():
        if n != name:
            continue
        files = lib.translations(name, version)
        assert language in files, f"{name}.v{version} has no {language} file"
        english, other = files[BASE_LANGUAGE], files[language]
        missing = english.template_keys() - other.template_keys()
        extra = other.template_keys() - english.template_keys()
        assert not missing, f"{other.label} lacks {sorted(missing)}"
        assert not extra, f"{other.label} has keys English lacks: {sorted(extra)}"


def test_translations_match_their_english_file(lib):
    """Same parts, declared variables and Jinja variables per part: a translation that needs a
    value code does not pass (or drops one it does) fails here, not in a shopper's chat."""
    checked = 0
    for prompt in lib.files():
        if prompt.language == BASE_LANGUAGE:
            continue
        english = lib.translations(prompt.name, prompt.version)[BASE_LANGUAGE]
        assert set(prompt.parts) == set(english.parts), prompt.label
        assert prompt.variables == english.variables, prompt.label
        for part, source in prompt.parts.items():
            assert _variables(source) == _variables(english.parts[part]), (prompt.label, part)
            checked += 1
    assert checked > 60


@pytest.mark.parametrize("name", REPLY_PROMPTS)
def test_the_latest_reply_prompts_are_in_chinese(lib, name):
    zh = lib.for_language("zh").get(name)
    assert zh.language == "zh" and zh.version == lib.get(name).version
    assert "简体中文" in zh.parts["system"]  # the model is told which language to write
    assert "[1]" in zh.parts["system"] or name in {"policy", "smalltalk", "support"}


def test_a_bound_library_renders_its_language_and_falls_back_to_english(lib):
    zh = lib.for_language("zh")
    assert lib.for_language("zh") is zh and zh.for_language("en") is lib.for_language("en")
    assert lib.text("replies", "greeting", name="Ada").startswith("Hi Ada!")
    assert zh.text("replies", "greeting", name="Ada").startswith("您好，Ada！")
    assert zh.text("replies", "greeting", name=None).startswith("您好！")
    # No Chinese understanding prompt: the model reads the English one in either language.
    assert zh.get("understand") is lib.get("understand")
    assert zh.get("recommend", 1) is lib.get("recommend", 1)  # an old pinned version
    assert lib.for_language(None) is lib.for_language("en")
    with pytest.raises(PromptError):
        zh.text("replies", "order_not_found")  # StrictUndefined, as in English


def test_chinese_templates_render_the_facts_code_gives_them(lib):
    zh = lib.for_language("zh")
    lead = zh.text("replies", "recommend_lead", n=3, constraints="Chairs", personal=True)
    assert lead == "为您挑选了 3 件商品（Chairs），参考了您以往的购买记录："
    item = zh.text(
        "replies",
        "recommend_item",
        name="Hon Deluxe Fabric Upholstered Stacking Chairs",
        price=1299.5,
        sub_category="Chairs",
        reason="fits",
    )
    # The product's name stays as the catalogue has it; the words around it are Chinese.
    assert item == "Hon Deluxe Fabric Upholstered Stacking Chairs，$1299.50（Chairs）：fits。"
    status = zh.text("replies", "status_text", status="delivered")
    assert status == "已送达"
    order = zh.text(
        "replies",
        "order_status",
        order_id="CA-2016-152156",
        items=zh.text("replies", "order_items", n=2, first="Bush Bookcase", more=1),
        order_date="2016-11-08",
        status_text=status,
        ship_date="2016-11-11",
        ship_mode="Second Class",
        tracking=None,
        eta=None,
    )
    assert order.startswith("订单 CA-2016-152156（2 件商品：Bush Bookcase等（另有 1 种））")
    assert "目前已送达。已于 2016-11-11 通过 Second Class 发货。" in order
    refused = zh.text(
        "replies",
        "return_decision",
        eligible=False,
        product="Bush Bookcase",
        order_id="CA-2016-152156",
        deadline="2016-12-08",
        fee=None,
        refund=None,
        reason=zh.text("replies", "return_reason", code="window_expired", deadline="2016-12-08"),
    )
    assert refused == (
        "抱歉，订单 CA-2016-152156 中的 Bush Bookcase 无法退货：退货期限已于 2016-12-08 结束。"
    )
    assert zh.text("replies", "return_refused_word") in refused
    cancel = zh.text(
        "account",
        "propose_cancel",
        order_id="#W123",
        items="Office Chair",
        reason="ordered by mistake",
        amount=12.5,
        refund_to="gift card 1",
        gift_card=True,
    )
    assert (
        cancel
        == "请确认：取消订单 #W123（Office Chair），原因是下错了单。$12.50 将立即退回到 gift card 1。"
    )
    # No stray spaces from YAML folding inside Chinese text.
    assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", order + refused + cancel)


def test_every_chinese_template_renders_without_english_glue(lib):
    """Each zh key renders with plain sample values; what is not a value is not English words
    ("the", "and", "your") but Chinese."""
    zh, en = lib.for_language("zh"), lib
    sample: dict[str, object] = {
        "name": "X",
        "n": 2,
        "constraints": "",
        "personal": False,
        "order_id": "CA-1",
        "reason": "r",
        "code": "window_expired",
        "deadline": "2016-12-08",
        "status": "delivered",
    }
    for key in sorted(zh.get("replies").template_keys()):
        source = zh.get("replies").parts[f"templates.{key}"]
        needed = _variables(source) - set(sample)
        if needed:  # loops and nested facts: covered by the tests above
            continue
        text = zh.text("replies", key, **sample)
        assert not re.search(r"\b(the|and|your|you|with|please)\b", text, re.I), (key, text)
        assert text != en.text("replies", key, **sample) or key in {"policy_answer"}, key


def test_fingerprints_and_leak_runs_cover_the_translations(lib):
    from evals.regress.runner import prompt_fingerprints

    prints = prompt_fingerprints()
    assert {"replies.v1", "replies.v1.zh", "recommend.v5.zh", "account.v1.zh"} <= set(prints)
    runs = system_prompt_runs(lib)
    system = lib.for_language("zh").get("recommend").parts["system"]
    copied = system.splitlines()[1]  # a reply that repeats the Chinese system prompt leaks it
    assert word_runs(copied) & runs


def test_a_translation_must_have_an_english_file(tmp_path):
    (tmp_path / "greet.v1.zh.yaml").write_text(
        "name: greet\nversion: 1\ntemplates:\n  hi: 你好\n", encoding="utf-8"
    )
    with pytest.raises(PromptError, match="no English file"):
        PromptLibrary(tmp_path)
    (tmp_path / "greet.v1.yaml").write_text(
        "name: greet\nversion: 1\ntemplates:\n  hi: hello\n", encoding="utf-8"
    )
    lib = PromptLibrary(tmp_path)
    assert lib.names() == [("greet", 1)]
    assert lib.for_language("zh").text("greet", "hi") == "你好"
    assert lib.text("greet", "hi") == "hello"


def test_prices_are_shown_in_the_stores_currency():
    from assistant.prompts import PromptLibrary

    euro = PromptLibrary().with_currency("€")
    line = euro.text(
        "replies", "recommend_item", name="Trail Shoe", price=89.5, sub_category="Shoes", reason="x"
    )
    assert "€89.50" in line and "$" not in line
    assert "€89.50" in euro.for_language("zh").text(
        "replies", "recommend_item", name="Trail Shoe", price=89.5, sub_category="Shoes", reason="x"
    )
    assert "$89.50" in PromptLibrary().text(
        "replies", "recommend_item", name="Trail Shoe", price=89.5, sub_category="Shoes", reason="x"
    )


def test_the_validator_reads_prices_in_other_currencies():
    from assistant.validate import PRICE

    found = [m.group(1) or m.group(2) for m in PRICE.finditer("€12.50, 9 £ or 30.00 EUR and $4")]
    assert found == ["12.50", "9", "30.00", "4"]
