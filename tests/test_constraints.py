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
