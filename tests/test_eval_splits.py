"""Split correctness on the real data sets: no leakage, temporal order, determinism."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from retrieval.evaluation.data import InteractionData, Split
from retrieval.evaluation.datasets import (
    ML100K_DIR,
    ONLINE_RETAIL_TAR,
    SUPERSTORE_CSV,
    load_ml100k,
    load_online_retail,
    load_superstore,
    read_retail_baskets,
    retail_category,
)

from .eval_fixtures import DATA, need


@pytest.fixture(scope="module")
def superstore() -> Split:
    return load_superstore(need(DATA / SUPERSTORE_CSV))


@pytest.fixture(scope="module")
def ml100k() -> Split:
    return load_ml100k(need(DATA / ML100K_DIR))


@pytest.fixture(scope="module")
def retail() -> Split:
    return load_online_retail(need(DATA / ONLINE_RETAIL_TAR))


def _pairs(d: InteractionData) -> Counter:
    return Counter(zip(d.user.tolist(), d.item.tolist(), strict=True))


def _max_ts(d: InteractionData) -> np.ndarray:
    out = np.full(d.n_users, -np.inf)
    np.maximum.at(out, d.user, d.ts)
    return out


def _check_nested(split: Split) -> None:
    """valid.train + valid targets sit inside train, and valid precedes test in time."""
    v = split.valid
    assert v is not None
    assert not (_pairs(v.train) - _pairs(split.train))
    train_pairs = _pairs(split.train)
    for u, items in v.test.items():
        assert u in split.test  # 3+ events means the user is also tested
        assert all((u, i) in train_pairs for i in items)
    assert len(v.train) < len(split.train)


def test_superstore_last_order_is_test(superstore: Split) -> None:
    df = pd.read_csv(DATA / SUPERSTORE_CSV, dtype={"Order ID": str})
    orders = df.drop_duplicates("Order ID").sort_values(["Customer ID", "Order Date", "Order ID"])
    last = orders.groupby("Customer ID").tail(1).set_index("Customer ID")["Order ID"]
    n_orders = orders.groupby("Customer ID").size()
    tr = superstore.train
    uid = {u: k for k, u in enumerate(tr.user_ids)}
    iid = {i: k for k, i in enumerate(tr.item_ids)}
    held_out_lines = 0
    for cust, order in last.items():
        lines = df[df["Order ID"] == order]
        if n_orders[cust] < 2:
            assert uid[cust] not in superstore.test  # a single order stays in train, untested
            continue
        held_out_lines += len(lines)
        assert superstore.test[uid[cust]] == {iid[p] for p in lines["Product ID"]}
    # Every line of every held-out order left train, and nothing else did.
    assert len(tr) == len(df) - held_out_lines
    # Temporal order: the test order is on or after every train order of that user.
    dates = df.drop_duplicates("Order ID").set_index("Order ID")["Order Date"]
    max_train = _max_ts(tr)
    for cust, order in last.items():
        if n_orders[cust] >= 2:
            test_ts = pd.Timestamp(dates[order]).timestamp()
            assert max_train[uid[cust]] <= test_ts
    assert 0.0 <= superstore.notes["target_repeat_share"] < 0.05
    _check_nested(superstore)


def test_superstore_side_info(superstore: Split) -> None:
    tr = superstore.train
    assert tr.n_items == 1862 and tr.n_users == 793
    assert len(set(tr.item_category)) == 17
    assert tr.item_price is not None and np.all(tr.item_price > 0)
    assert all(t.strip() for t in tr.item_text)


def test_ml100k_leave_last_out(ml100k: Split) -> None:
    tr = ml100k.train
    assert (tr.n_users, tr.n_items) == (943, 1682)
    assert len(tr) + len(ml100k.test) == 100_000
    assert all(len(s) == 1 for s in ml100k.test.values())
    pairs = _pairs(tr)
    max_train = _max_ts(tr)
    raw = pd.read_csv(DATA / ML100K_DIR / "ml-100k.inter", sep="\t")
    raw.columns = ["u", "i", "r", "ts"]
    ts_of = {(str(u), str(i)): t for u, i, t in raw[["u", "i", "ts"]].itertuples(index=False)}
    for u, items in ml100k.test.items():
        (i,) = items
        assert (u, i) not in pairs  # no leak
        assert ts_of[(tr.user_ids[u], tr.item_ids[i])] >= max_train[u]  # temporal order
    assert tr.item_category[0] == "Animation" and "Toy Story" in tr.item_text[0]
    _check_nested(ml100k)


def test_online_retail_leave_one_item_out(retail: Split) -> None:
    tr = retail.train
    baskets = read_retail_baskets(DATA / ONLINE_RETAIL_TAR)
    assert tr.n_users == len(baskets) == 4372
    assert len(tr) + len(retail.test) == sum(len(b) for b in baskets)
    pairs = _pairs(tr)
    assert max(pairs.values()) == 1  # baskets are sets
    for u, items in retail.test.items():
        (i,) = items
        assert tr.item_ids[i] in baskets[u] and (u, i) not in pairs
        assert len(baskets[u]) >= 2
    _check_nested(retail)
    # Deterministic for a seed, different for another.
    again = load_online_retail(DATA / ONLINE_RETAIL_TAR)
    assert again.test == retail.test
    other = load_online_retail(DATA / ONLINE_RETAIL_TAR, seed=1)
    assert other.test != retail.test


def test_retail_category_uses_head_noun() -> None:
    assert retail_category("WHITE HANGING HEART T-LIGHT HOLDER") == "lighting"
    assert retail_category("SET OF 3 CAKE TINS PANTRY DESIGN") == "kitchen & dining"
    assert retail_category("JUMBO BAG RED RETROSPOT") == "bags"
    assert retail_category("POSTAGE") == "unknown"
