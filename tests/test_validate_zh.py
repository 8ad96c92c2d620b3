"""The validator on Chinese text: sentences, prices, percentages, dates, ids, brands, discount and
promise words, and the claims a Chinese sentence makes about a product. No model, no stack."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.generate import _SENTENCE_END, gap_after, generate_checked
from assistant.llm import ScriptedChatModel
from assistant.turn.grounded import ItemRefs
from assistant.validate import (
    PROMO,
    Facts,
    check,
    dates_in,
    order_ids_in,
    percents_in,
    prices_in,
    zh_number,
    zh_numbers_in,
)
from retrieval.catalogue import CatalogueIndex
from retrieval.sources.base import Product

CHAIR = Product(
    "FUR-CH-10000001",
    "Hon Mesh Task Chair",
    "Furniture",
    "Chairs",
    120.0,
    "superstore",
    brand="Hon",
    features="Black mesh back, adjustable arms, 5 casters",
)
DESK = Product(
    "FUR-TA-10000002", "Bretford Writing Desk", "Furniture", "Tables", 349.99, "superstore"
)
OTHER = Product(
    "FUR-CH-10000003",
    "Global Leather Executive Chair",
    "Furniture",
    "Chairs",
    1299.0,
    "x",
    brand="Global",
)


@pytest.fixture(scope="module")
def catalogue() -> CatalogueIndex:
    return CatalogueIndex([CHAIR, DESK, OTHER], np.zeros((3, 384), np.float32))


def facts(catalogue, user_text: str = "", **kw) -> Facts:
    return Facts([CHAIR.id, DESK.id], catalogue, user_text=user_text, **kw)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("这把椅子只要120元。", [120.0]),
        ("售价¥349.99，很划算。", [349.99]),
        ("价格是$120，", [120.0]),
        ("一百二十美元就能买到。", [120.0]),
        ("１２０元", [120.0]),  # full-width digits
        ("￥１２０", [120.0]),
        ("大约30块钱", [30.0]),
        ("120块", [120.0]),
        ("1.2万元", [12000.0]),
        ("$120元", [120.0]),  # one price, not two
        ("一块白板", []),  # a board, not one yuan
        ("三个抽屉", []),
    ],
)
def test_prices_in_chinese_formats(text, values):
    assert [p.value for p in prices_in(text)] == values
    for p in prices_in(text):
        assert text[p.start : p.start + len(p.text)] == p.text  # positions in the original


def test_chinese_numerals():
    cases = {"一百二十": 120, "十五": 15, "两百五": 250, "一百零五": 105, "九十九点九": 99.9}
    cases |= {"一千二百九十九": 1299, "3千": 3000, "1.2万": 12000, "１２０": 120}
    assert {k: zh_number(k) for k in cases} == cases
    assert zh_number("椅子") is None
    assert zh_numbers_in("三十天内退货，两个工作日，一个订单，五年保修") == ["30", "2", "5"]


def test_real_chinese_prices_pass_and_invented_ones_fail(catalogue):
    ok = check(
        "Hon Mesh Task Chair只要120元，Bretford Writing Desk是349.99美元。", facts(catalogue)
    )
    assert ok.ok, ok.problems
    assert ok.cited_ids == [CHAIR.id, DESK.id]
    for bad in [
        "Hon Mesh Task Chair现在只要99元。",
        "这把椅子只要九十九元。",
        "这把椅子的价格是￥９９。",
        "这把椅子只要$99。",
        "这把椅子只要99美元！",
    ]:
        verdict = check(bad, facts(catalogue))
        assert not verdict.ok, bad
        assert any("price $99.00" in p for p in verdict.problems), verdict.problems
    # The same rule as in English: the shopper's own budget may be repeated.
    assert check("这些都在一百五十元以内。", facts(catalogue, "我想要150元以下的椅子")).ok
    assert check("这些都在150美元以内。", facts(catalogue, "一百五十元以下的椅子")).ok


@pytest.mark.parametrize(
    "bad",
    [
        "现在购买可以打八折。",
        "这把椅子正在打折。",
        "我们可以给您优惠。",
        "下单即享包邮。",
        "这张桌子免费送货上门。",
        "我保证这是最好的椅子。",
        "使用优惠券可以再便宜一些。",
        "这把椅子有折扣。",
    ],
)
def test_chinese_discount_and_promise_words_are_caught(catalogue, bad):
    verdict = check(bad, facts(catalogue))
    assert "promises a discount or promotion" in verdict.problems
    assert check(bad, facts(catalogue, allow_promo_words=True)).ok  # policy passages may


def test_chinese_percentages_dates_ids_and_brands(catalogue):
    assert percents_in("收取10%的费用，百分之十五，１５％") == ["10%", "15%", "15%"]
    assert not check("可以再便宜20%。", facts(catalogue)).ok
    assert not check("退货需收取百分之二十的费用。", facts(catalogue, percents={"10%"})).ok
    assert check("退货需收取百分之十的费用。", facts(catalogue, percents={"10%"})).ok
    # Ids and dates between Han characters ("\b" finds no edge there).
    assert order_ids_in("订单CA-2016-152156已送达") == ["CA-2016-152156"]
    assert dates_in("于2016年11月8日下单，11月11日发货") == ["2016-11-08", "????-11-11"]
    known = facts(catalogue, order_ids={"CA-2016-152156"}, dates={"2016-11-08", "2016-11-11"})
    assert check("订单CA-2016-152156于2016年11月8日下单，11月11日发货。", known).ok
    assert not check("订单CA-2016-999999已经发货了。", known).ok
    assert not check("您的订单会在2016年12月1日送达。", known).ok
    assert not check("您的订单会在12月1日送达。", known).ok
    assert not check("推荐您看看FUR-CH-10000003这款椅子。", known).ok
    assert not check("Global牌的椅子更舒服。", facts(catalogue)).ok  # no candidate's brand
    assert check("Hon牌的椅子很舒服。", facts(catalogue)).ok


def test_chinese_scaffolding_and_narration_are_rejected(catalogue):
    assert not check("顾客：我想要一把椅子，这把很合适。", facts(catalogue)).ok
    assert not check("商品：Hon Mesh Task Chair，很适合您。", facts(catalogue)).ok
    assert not check("这位顾客想要一把舒适的椅子。", facts(catalogue)).ok
    assert not check("我是一个AI助手，可以帮您挑选。", facts(catalogue)).ok
    assert check("这把椅子很适合长时间办公。", facts(catalogue)).ok


def test_sentences_end_at_chinese_marks():
    text = "这款椅子很好。那款也不错！您喜欢哪一款？ Yes it is. Price $12.99 ok.\n太好了!这款"
    assert _SENTENCE_END.split(text) == [
        "这款椅子很好。",
        "那款也不错！",
        "您喜欢哪一款？",
        "Yes it is.",
        "Price $12.99 ok.",
        "太好了!",
        "这款",
    ]
    assert gap_after("很好。") == "" and gap_after("Fine.") == " "


def test_generation_checks_each_chinese_sentence(catalogue):
    refs = ItemRefs.of([CHAIR, DESK])
    good = "[1]有可调节扶手，很适合长时间办公。[2]是一张书写桌。"
    gen = generate_checked(
        ScriptedChatModel([good]), [("user", "hi")], facts(catalogue), render=refs.render
    )
    assert not gen.failed and len(gen.sentences) == 2
    assert (
        gen.text
        == "Hon Mesh Task Chair有可调节扶手，很适合长时间办公。Bretford Writing Desk是一张书写桌。"
    )
    # The first sentence passes and is kept; the invented price stops the rest.
    bad = "[1]很适合您的书房。[2]今天只要一百元！"
    gen = generate_checked(
        ScriptedChatModel([bad]), [("user", "hi")], facts(catalogue), render=refs.render
    )
    assert gen.failed and gen.sentences == ["Hon Mesh Task Chair很适合您的书房。"]
    assert any("price $100.00" in p for p in gen.problems)


def test_chinese_claims_must_be_in_the_listing():
    claims = ItemRefs.of([CHAIR, DESK]).claims_check("有没有黑色的椅子")
    assert claims("Hon Mesh Task Chair是黑色的，带可调节扶手。") == []
    assert claims("Hon Mesh Task Chair是真皮的。") == [
        "claims '真皮' (leather), which the listing does not say"
    ]
    assert claims("Bretford Writing Desk是可折叠的。")  # the desk's text says nothing of it
    assert claims("Hon Mesh Task Chair有五个脚轮。") == []  # "5 casters"
    assert claims("Hon Mesh Task Chair有六个脚轮。") == [
        "states the number 6, which the listing does not hold"
    ]
    assert claims("Hon Mesh Task Chair有６个脚轮。")  # full-width 6


def test_english_promo_words_are_unchanged():
    assert PROMO.search("Use code SAVE20 for a discount")
    assert not PROMO.search("A hands-free, BPA-free bottle")
