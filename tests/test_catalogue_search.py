"""The real Superstore catalogue, indexed and searched in embedded Chroma and a real Chroma server."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.constraints import parse
from retrieval.sources import get_source
from retrieval.sources.superstore import unit_price
from retrieval.store import PRODUCTS


def test_superstore_records(stack):
    data = get_source("superstore").load(stack.settings.raw_dir)
    assert len(data.products) == 1862
    assert len(data.customers) == 793
    assert len(data.orders) == 5009
    assert sum(len(o.lines) for o in data.orders) == 9994
    chair = next(p for p in data.products if p.id == "FUR-CH-10000454")
    assert chair.price == pytest.approx(731.94 / 3)  # Sales / Quantity / (1 - 0)
    assert unit_price(100.0, 2, 0.2) == pytest.approx(62.5)


def test_electronics_source(stack):
    data = get_source("electronics").load(stack.settings.raw_dir)
    assert len(data.products) > 500
    assert all(p.price > 0 for p in data.products)
    assert any(p.rating for p in data.products) and any(p.features for p in data.products)


def test_unknown_catalogue():
    with pytest.raises(ValueError, match="unknown catalogue"):
        get_source("nope")


def test_search_respects_constraints(any_stack):
    search = any_stack.search()
    c = parse("ergonomic chair under $200", search.catalogue.vocabulary)
    resp = search.search(c, k=10)
    assert resp.hits, "a real catalogue has chairs under $200"
    for h in resp.hits:
        assert h.product.sub_category == "Chairs" and h.product.price <= 200
    assert "chair" in resp.hits[0].product.name.lower()
    scores = [h.score for h in resp.hits]
    assert scores == sorted(scores, reverse=True)


def test_brand_exclusion(any_stack):
    search = any_stack.search()
    c = parse("binders but not Avery", search.catalogue.vocabulary)
    hits = search.search(c, k=20).hits
    assert hits and all(h.product.brand != "Avery" for h in hits)


def test_hnsw_agrees_with_exact(any_stack):
    """Chroma's HNSW (through `where`) and the exact mirror return the same products."""
    search = any_stack.search()
    for q in ["binders under $30", "a phone headset", "Xerox paper", "tables over $500"]:
        c = parse(q, search.catalogue.vocabulary)
        exact = [h.product.id for h in search.search(c, k=10, plan="exact").hits]
        hnsw = [h.product.id for h in search.search(c, k=10, plan="hnsw").hits]
        assert len(exact) == len(hnsw)
        assert len(set(exact) & set(hnsw)) >= min(9, len(exact)), q


def test_reindex_is_idempotent_and_incremental(any_stack):
    before = any_stack.store.count(PRODUCTS)
    report = any_stack.index()
    assert report.embedded == 0 and report.removed == 0
    assert any_stack.store.count(PRODUCTS) == before == 1862
    # A changed product is re-embedded; a stale one is removed.
    cat = any_stack.catalogue
    p = cat.products[0]
    any_stack.store.upsert(
        PRODUCTS,
        [p.id, "STALE-1"],
        np.stack([cat.vectors[0]] * 2),
        [{"content_hash": "old", "price": 1.0}, {"content_hash": "x"}],
    )
    report = any_stack.index()
    assert (report.embedded, report.removed) == (1, 1)
    assert any_stack.store.count(PRODUCTS) == 1862


def test_search_cli_json(stack):
    env = {"SHOPASSIST_DATA_DIR": str(stack.settings.data_dir), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "search", "--json", "-k", "5", "Avery labels"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 5
    assert set(rows[0]) == {"id", "name", "category", "sub_category", "price", "score"}
    assert all(r["name"].startswith("Avery") for r in rows)


def test_search_cli_bad_query(stack):
    env = {"SHOPASSIST_DATA_DIR": str(stack.settings.data_dir), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "search", "chairs under $abc"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
        timeout=120,
    )
    assert out.returncode == 2 and "cannot read a price" in out.stderr
    assert "Traceback" not in out.stderr


# Type-of-thing search through the recommendation pipeline (the shipped enrichment is loaded by
# `stack.index()`, as `make index` does).


def _picks(stack, query: str, k: int = 3):
    svc = stack.recommendations()
    c = parse(query, stack.catalogue.vocabulary)
    return c, svc.recommend(None, c, k=k, query_text=query).items


def test_index_loads_the_shipped_enrichment(stack):
    cat = stack.catalogue
    assert len(cat.enrichment) >= 0.95 * len(cat), "make index embeds the enriched text"
    i = next(i for i, p in enumerate(cat.products) if "Swing-Arm" in p.name)
    assert cat.enrichment[cat.products[i].id].product_type in cat.text(i)


def test_paper_shredder_returns_shredders(stack):
    c, picks = _picks(stack, "I need a paper shredder")
    assert not c.sub_categories and c.soft_categories == {"Paper"}
    assert picks and all("shredder" in r.name.lower() for r in picks), [r.name for r in picks]


def test_desk_lamp_under_40_returns_desk_lamps_under_40(stack):
    c, picks = _picks(stack, "I need a desk lamp under $40")
    assert c.max_price == 40
    names = [r.name for r in picks]
    assert len(picks) == 3 and all(r.price <= 40 for r in picks)
    for n in names:
        low = n.lower()
        assert "lamp" in low and not any(w in low for w in ("floor", "bulb", "torchiere")), names


def test_phone_headset_returns_headsets(stack):
    c, picks = _picks(stack, "phone headset")
    assert not c.sub_categories and c.soft_categories == {"Phones"}
    assert all("headset" in r.name.lower() for r in picks), [r.name for r in picks]


def test_reasons_quote_the_product_words_not_the_message(stack):
    msg = "hi, I'm setting up a small home office. I need a desk chair "
    _, picks = _picks(stack, msg)
    assert picks and all(r.sub_category == "Chairs" for r in picks)
    for r in picks:
        assert "setting up" not in r.reason and len(r.reason) < 120, r.reason
    assert any("“desk chair”" in r.reason for r in picks), [r.reason for r in picks]


def test_sort_orders_the_final_picks(stack):
    _, picks = _picks(stack, "the cheapest bookcases", k=5)
    prices = [r.price for r in picks]
    assert len(picks) == 5 and prices == sorted(prices)
    assert all(r.sub_category == "Bookcases" for r in picks)


def test_attribute_words_boost_matching_products(stack):
    svc = stack.recommendations()
    c = parse("black chairs", stack.catalogue.vocabulary)
    assert c.attributes == {"black"}
    with_attr = svc.recommend(None, c, k=5).items
    assert sum("black" in r.name.lower() for r in with_attr) >= 3, [r.name for r in with_attr]


def test_query_with_attributes_and_sort_picks():
    from retrieval.recommend import Recommendation, query_with_attributes, sort_picks

    assert query_with_attributes("black chair", frozenset({"black", "mesh"})) == "black chair mesh"
    recs = [Recommendation(str(i), f"p{i}", "c", "s", price) for i, price in enumerate([5, 1, 3])]
    assert [r.price for r in sort_picks(recs, "price_asc", {})] == [1, 3, 5]
    assert [r.price for r in sort_picks(recs, "price_desc", {})] == [5, 3, 1]
    assert [r.id for r in sort_picks(recs, "rating", {"2": 4.5, "0": 3.0})] == ["2", "0", "1"]
    assert sort_picks(recs, None, {}) == recs == sort_picks(recs, "relevance", {})


def test_labelled_search_set_is_built_from_its_rules(stack):
    """evals/search/queries.yaml is what its rules give on the real catalogue (never edited by
    hand), with at least 60 queries, each with a relevant product."""
    from evals.search.labels import load_queries, load_rules, resolve

    products = get_source("superstore").load(stack.settings.raw_dir).products
    built = resolve(load_rules(), products)
    assert load_queries() == built
    assert len(built) >= 60 and all(q.relevant for q in built)


def test_search_metrics():
    from evals.search.labels import ndcg_at, precision_at

    rel = {"a": 2, "b": 1}
    assert ndcg_at(["a", "b", "x"], rel) == pytest.approx(1.0)
    assert ndcg_at(["x", "y"], rel) == 0.0
    assert 0 < ndcg_at(["b", "a"], rel) < 1
    assert precision_at(["a", "x", "b"], rel) == pytest.approx(2 / 3)
    assert precision_at(["a"], rel) == pytest.approx(1 / 3), "a short list counts its gaps"
