"""The web front ends' string tables (assistant/web/locales): both languages have the same
keys and placeholders, the widget gets its part, and English text from `retrieval/` (section
titles, reasons) is shown in Chinese. No app, no model: milliseconds."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from assistant.lang import LANGUAGES
from assistant.web.i18n import (
    placeholders,
    reason_text,
    section_title,
    t,
    table,
    widget_strings,
)
from assistant.web.routers.widget import widget_source
from assistant.web.schemas import ChatRequest
from assistant.web.ui_render import cart_head_html, why_html

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_every_language_has_the_same_keys_and_placeholders(lang):
    english, other = table("en"), table(lang)
    assert set(other) == set(english), (
        f"missing in {lang}: {sorted(set(english) - set(other))}; "
        f"only in {lang}: {sorted(set(other) - set(english))}"
    )
    for key, text in english.items():
        assert placeholders(other[key]) == placeholders(text), key
        assert other[key].strip(), key


def test_the_chinese_table_is_chinese():
    assert [k for k, v in table("zh").items() if not HAN.search(v)] == []


def test_a_missing_key_falls_back_to_english_and_unknown_languages_are_english():
    assert t("zh", "ui.send") == "发送"
    assert t("fr", "ui.send") == t(None, "ui.send") == "Send"
    assert t("zh-CN", "ui.item_id", id="OFF-1") == "商品编号 OFF-1"


def test_the_widget_is_served_with_its_strings():
    strings = widget_strings()
    assert set(strings) == set(LANGUAGES) and set(strings["zh"]) == set(strings["en"])
    source = widget_source().decode()
    served = json.loads(re.search(r"var STRINGS = (\{.*?\});\n", source).group(1))
    assert served == strings
    assert "SHOPASSIST_STRINGS" not in source.split("var STRINGS", 1)[1].split(";", 1)[0]


def test_reasons_and_section_titles_in_chinese():
    # The words retrieval/explain.py and retrieval/home.py write.
    reason = "Often bought with Hon Chair, which you bought; popular with other shoppers in Chairs"
    assert (
        reason_text(reason, "zh") == "常与你买过的 Hon Chair 一起购买；在 Chairs 中深受其他顾客欢迎"
    )
    assert reason_text("Often bought with Hon Chair", "zh") == "常与 Hon Chair 一起购买"
    assert (
        reason_text("In your usual price range (around $120)", "zh")
        == "在你的常用价位内（约 $120）"
    )
    assert reason_text("Matches “desk chair”", "zh") == "符合“desk chair”"
    assert reason_text("Something new; a popular pick in Binders", "zh") == (
        "Something new；Binders 中的热门之选"
    )
    assert reason_text(reason, "en") == reason
    assert section_title("top-office-supplies", "Top picks in Office Supplies", "zh") == (
        "Office Supplies 精选"
    )
    assert section_title("because", "Because you bought A, B", "zh") == "因为你买过 A, B"
    assert section_title("popular", "Popular right now", "zh") == "当前热门"
    assert section_title("new-kind", "Something else", "zh") == "Something else"


def test_the_why_this_view_and_cart_in_chinese():
    item = {
        "id": "P1",
        "name": "<b>Chair</b>",
        "reason": "Popular with other shoppers in Chairs",
        "contributions": {"popularity": 0.4, "price_fit": -0.1},
    }
    html = why_html(item, "zh")
    assert "为什么推荐“&lt;b&gt;Chair&lt;/b&gt;”？" in html  # escaped, translated
    assert "深受顾客欢迎" in html and "符合你的常用价位" in html and "绿色" in html
    assert "Why “&lt;b&gt;Chair&lt;/b&gt;”?" in why_html(item)  # English unchanged
    assert "我的购物车" in cart_head_html({"count": 2, "total": 3.5}, "zh")
    assert "2 items · $3.50" in cart_head_html({"count": 2, "total": 3.5})


def test_chat_request_language():
    assert ChatRequest(message="hi", lang="zh-Hans").lang == "zh"
    assert ChatRequest(message="hi").lang is None
    with pytest.raises(ValidationError, match="unsupported language"):
        ChatRequest(message="hi", lang="fr")


def test_search_constraints_and_reasons_read_in_chinese():
    from assistant.i18n import constraints_text

    said = constraints_text("Chairs; under $100.00; not HON, Hon", "zh")
    assert said == "Chairs；$100.00以下；不要 HON, Hon"
    assert constraints_text("$10.00–$30.00", "zh") == "$10.00至$30.00"
    assert constraints_text("Chairs; under $100.00", "en") == "Chairs; under $100.00"
    assert reason_text("Matches “chair”; popular with other shoppers in Chairs", "zh") == (
        "符合“chair”；在 Chairs 中深受其他顾客欢迎"
    )
