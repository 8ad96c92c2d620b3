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
