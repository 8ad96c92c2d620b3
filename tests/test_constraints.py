import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.constraints import MAX_QUERY_CHARS, ConstraintError, Constraints, Vocabulary, parse

VOCAB = Vocabulary(
    categories=frozenset({"Furniture", "Office Supplies", "Technology"}),
    sub_categories=frozenset(
        {"Chairs", "Binders", "Phones", "Paper", "Tables", "Labels", "Supplies", "Bookcases"}
    ),
    brands=frozenset({"Avery", "Hon", "Xerox", "Wilson Jones"}),
)


@pytest.mark.parametrize(
    ("query", "lo", "hi"),
    [
        ("chairs under $50", None, 50.0),
        ("chairs below 50 dollars", None, 50.0),
        ("binders between 100 and 300", 100.0, 300.0),
        ("binders between $300 and $100", 100.0, 300.0),
        ("$100-$300 phones", 100.0, 300.0),
        ("phones over $1,200", 1200.0, None),
        ("tables at most 1.5k", None, 1500.0),
        ("paper around $40", 30.0, 50.0),
        ("a nice chair", None, None),
    ],
)
def test_price_ranges(query, lo, hi):
    c = parse(query, VOCAB)
    assert (c.min_price, c.max_price) == (lo, hi)


def test_categories_brands_and_exclusions():
    c = parse("Avery labels under $20", VOCAB)
    assert c.brands == {"Avery"} and c.sub_categories == {"Labels"} and c.max_price == 20
    c = parse("binders but not Avery", VOCAB)
    assert c.exclude_brands == {"Avery"} and not c.brands
    c = parse("office supplies from Wilson Jones", VOCAB)
    assert c.categories == {"Office Supplies"} and c.brands == {"Wilson Jones"}
    assert not c.sub_categories, "'Supplies' inside 'Office Supplies' is not a sub-category"


def test_where_filter_shape():
    assert parse("a nice chair", Vocabulary()).to_where() is None
    assert parse("under $50", VOCAB).to_where() == {"price": {"$lte": 50.0}}
    where = parse("not Avery binders between 10 and 30", VOCAB).to_where()
    assert where == {
        "$and": [
            {"price": {"$gte": 10.0}},
            {"price": {"$lte": 30.0}},
            {"sub_category": "Binders"},
            {"brand": {"$nin": ["Avery"]}},
        ]
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\u200b\u200b", "empty"),
        ("chairs under $abc", "cannot read a price"),
        ("chairs under -5", "negative"),
        ("chairs under $-5", "negative"),
        ("x" * 10_000, "too long"),
    ],
)
def test_bad_input_gets_a_clear_error(query, message):
    with pytest.raises(ConstraintError, match=message):
        parse(query, VOCAB)


def test_not_text_is_an_error():
    with pytest.raises(ConstraintError):
        parse(None, VOCAB)  # type: ignore[arg-type]


def test_unicode_is_normalised():
    c = parse("ＣＨＡＩＲＳ ｕｎｄｅｒ ＄５０", VOCAB)
    assert c.max_price == 50 and c.sub_categories == {"Chairs"}
    c = parse("Stühle für Büro 🪑 under $80", VOCAB)
    assert c.max_price == 80 and "Stühle" in c.text


def test_refinement_merge():
    first = parse("binders under $30", VOCAB)
    second = parse("not Avery", VOCAB)
    merged = first.merged_with(second)
    assert merged.max_price == 30 and merged.exclude_brands == {"Avery"}
    assert merged.sub_categories == {"Binders"}
    again = merged.merged_with(Constraints(brands=frozenset({"Avery"})))
    assert again.brands == {"Avery"} and not again.exclude_brands


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=MAX_QUERY_CHARS + 50))
def test_parser_never_crashes(text):
    try:
        c = parse(text, VOCAB)
    except ConstraintError:
        return
    if c.min_price is not None:
        assert c.min_price >= 0
    if c.min_price is not None and c.max_price is not None:
        assert c.min_price <= c.max_price


# The compound-noun rule: a category word filters only as the head noun of its noun phrase.
FULL = Vocabulary(
    categories=VOCAB.categories,
    sub_categories=VOCAB.sub_categories
    | frozenset({"Art", "Storage", "Furnishings", "Machines", "Accessories", "Appliances"}),
    brands=VOCAB.brands,
)


@pytest.mark.parametrize(
    ("query", "soft"),
    [
        ("I need a paper shredder", {"Paper"}),
        ("phone headset", {"Phones"}),
        ("a chair mat for carpet", {"Chairs"}),
        ("binder clips", {"Binders"}),
        ("paper shredder under $100", {"Paper"}),
        ("storage boxes with lids", {"Storage"}),
        ("art supplies for kids", {"Art", "Supplies"}),  # a generic head filters nothing
        ("table lamp", {"Tables"}),
    ],
)
def test_category_word_inside_a_compound_only_boosts(query, soft):
    c = parse(query, FULL)
    assert not c.sub_categories and not c.categories, c
    assert c.soft_categories == soft
    assert c.to_where() in (None, {"price": {"$lte": 100.0}}), "soft slots never filter"


@pytest.mark.parametrize(
    ("query", "hard"),
    [
        ("chairs under $200", {"Chairs"}),
        ("binders", {"Binders"}),
        ("show me bookcases", {"Bookcases"}),
        ("I need a desk chair", {"Chairs"}),
        ("printer paper", {"Paper"}),
        ("paper for my printer", {"Paper"}),
        ("ergonomic chair with arms", {"Chairs"}),
        ("tables and chairs", {"Tables", "Chairs"}),
        ("phones, black", {"Phones"}),
        ("the cheapest binders please", {"Binders"}),
        ("Avery labels under $20", {"Labels"}),
    ],
)
def test_category_named_as_the_thing_filters(query, hard):
    c = parse(query, FULL)
    assert c.sub_categories == hard and not c.soft_categories


def test_old_rule_is_kept_for_measurement():
    c = parse("I need a paper shredder", FULL, compound_rule=False)
    assert c.sub_categories == {"Paper"} and not c.soft_categories


def test_desk_lamp_has_no_category_filter_but_keeps_the_budget():
    c = parse("I need a desk lamp under $40", FULL)
    assert c.max_price == 40 and c.text == "desk lamp"
    assert not (c.categories or c.sub_categories or c.soft_categories)


def test_attributes_and_sort():
    c = parse("the cheapest black ergonomic chairs", FULL)
    assert c.attributes == {"black", "ergonomic"}
    assert c.sort == "price_asc" and c.text == "black ergonomic chairs"
    assert parse("best rated phones", FULL).sort == "rating"
    assert parse("most expensive tables", FULL).sort == "price_desc"
    assert parse("tables", FULL).sort is None
    assert c.to_where() == {"sub_category": "Chairs"}, "attributes and sort never filter"
    assert c.describe() == "Chairs; black, ergonomic; cheapest first"


def test_merge_soft_slots_and_topic_change():
    chairs = parse("black chairs under $300", FULL)
    arms = chairs.merged_with(Constraints(attributes=frozenset({"armless"})))
    assert arms.sub_categories == {"Chairs"} and arms.attributes == {"black", "armless"}
    shredder = chairs.merged_with(parse("a paper shredder", FULL))
    # A new thing asked for: the old category filter and attribute words go, the budget stays.
    assert not shredder.sub_categories and shredder.soft_categories == {"Paper"}
    assert not shredder.attributes and shredder.max_price == 300
    cheap = shredder.merged_with(Constraints(sort="price_asc"))
    assert cheap.sort == "price_asc" and cheap.soft_categories == {"Paper"}


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("desk lamps", ("desk", "lamp")),
        ("hi, I'm setting up a small home office. I need a desk chair ", ("desk", "chair")),
        ("speakerphone for conference calls", ("speakerphone",)),
        ("paper for my printer", ("paper",)),
        ("storage boxes with lids", ("storage", "box")),
        ("under", ()),
    ],
)
def test_head_phrase(text, phrase):
    from retrieval.constraints import head_phrase

    assert head_phrase(text) == phrase
