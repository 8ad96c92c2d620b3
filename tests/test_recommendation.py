"""Events, profiles, the scoring core, the home page, training and A/B tests on real data."""

from datetime import datetime, timedelta

import numpy as np
import pytest

from retrieval.ab import Experiment, Variant, ab_report, log_click, log_exposures, wilson
from retrieval.events import ingest, user_events
from retrieval.home import build_home
from retrieval.items import ItemFeatures
from retrieval.profile import Profile
from retrieval.scoring import FEATURES, Context, ScoringCore, ScoringModel, ScoringParams, mmr
from retrieval.train import TrainConfig, train_scoring_model
from tests.support import CUSTOMER


@pytest.fixture(scope="module")
def svc(stack):
    return stack.recommendations()


def tiny_items() -> ItemFeatures:
    v = np.eye(4, dtype=np.float32)
    return ItemFeatures.from_attributes(
        ["a", "b", "c", "d"],
        v,
        ["X", "X", "Y", "Y"],
        ["x1", "x2", "y1", "y2"],
        ["B1", None, "B2", "B2"],
        np.array([10.0, 20.0, 100.0, 200.0]),
    )


def test_profile_decay_favours_recent_events():
    items = tiny_items()
    day = 86400.0
    p = Profile("u", items, half_life_days=30)
    p.add(0, "purchase", 0.0)
    p.add(2, "purchase", 30 * day)  # one half-life later: weighs twice as much
    share = p.category_share()
    assert share[1] == pytest.approx(2 / 3) and share[0] == pytest.approx(1 / 3)
    assert p.explain().startswith("mostly shops for Y → y1")


def test_event_weights_and_price_band():
    items = tiny_items()
    p = Profile("u", items)
    p.add(0, "view", 0.0)
    p.add(1, "purchase", 0.0)
    assert p.history[1] == pytest.approx(5 * p.history[0])  # purchase 1.0 vs view 0.2
    mu, sd = p.price_band()
    assert np.expm1(mu) == pytest.approx(np.sqrt(11 * 21) - 1, rel=0.3)
    assert Profile("new", items).explain().startswith("new visitor")


def test_event_changes_next_ranking_without_rebuild(svc):
    user = "AA-10315"
    before = [i.id for i in build_home(svc, user).sections[0].items]
    phone = next(p for p in svc.catalogue.products if p.sub_category == "Copiers")
    res = svc.record(
        [
            {
                "user_id": user,
                "type": "add_to_cart",
                "product_id": phone.id,
                "session_id": "test-session",
            }
        ]
    )
    assert res.accepted and not res.errors
    after_page = build_home(svc, user)
    after = [i.id for i in after_page.sections[0].items]
    assert after != before
    assert any(svc.catalogue.get(i).sub_category == "Copiers" for i in after[:5])
    assert phone.id not in after_page.item_ids(), "the item just added is not shown back"


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ({"user_id": "u1", "type": "click", "product_id": "NOPE-1"}, "unknown_product"),
        ({"user_id": "u1", "type": "teleport", "product_id": "FUR-CH-10000454"}, "invalid"),
        ({"user_id": "u1", "type": "click"}, "invalid"),
        ({"user_id": "", "type": "click", "product_id": "FUR-CH-10000454"}, "invalid"),
        (
            {
                "user_id": "u1",
                "type": "click",
                "product_id": "FUR-CH-10000454",
                "ts": (datetime.utcnow() + timedelta(days=2)).isoformat(),
            },
            "future_timestamp",
        ),
        (
            {"user_id": "u1", "type": "click", "product_id": "FUR-CH-10000454", "bogus": 1},
            "invalid",
        ),
        ({"user_id": "u1", "type": "search"}, "invalid"),
    ],
)
def test_bad_events_are_rejected_and_the_batch_survives(stack, event, code):
    good = {"user_id": "u-batch", "type": "view", "product_id": "FUR-CH-10000454"}
    res = ingest(stack.db, [good, event, dict(good)], lambda p: p in stack.catalogue)
    assert [e.code for e in res.errors] == [code]
    assert res.errors[0].index == 1 and res.errors[0].message
    assert len(res.accepted) == 2


def test_duplicate_event_id_is_stored_once(stack):
    ev = {"id": "evt-dup-1", "user_id": "u-dup", "type": "click", "product_id": "FUR-CH-10000454"}
    first = ingest(stack.db, [ev], lambda p: True)
    again = ingest(stack.db, [ev], lambda p: True)
    assert first.accepted == ["evt-dup-1"] and again.duplicates == ["evt-dup-1"]
    in_batch = ingest(
        stack.db, [{**ev, "id": "evt-dup-2"}, {**ev, "id": "evt-dup-2"}], lambda p: True
    )
    assert in_batch.accepted == ["evt-dup-2"] and in_batch.duplicates == ["evt-dup-2"]
    assert len([e for e in user_events(stack.db, "u-dup")]) == 2


def test_seeded_history_is_real_purchases(stack):
    events = user_events(stack.db, CUSTOMER)
    seeded = [e for e in events if e.origin == "seed"]
    assert seeded and all(e.type == "purchase" for e in seeded)


def test_core_contributions_sum_to_score(svc):
    profile = svc.profile(CUSTOMER)
    ranked = svc.core.score(profile, Context(), np.arange(50))
    total = ranked.contributions.sum(axis=1) + svc.core.model.bias
    assert np.allclose(total, ranked.scores, atol=1e-4)
    assert list(ranked.names[: len(FEATURES)]) == list(FEATURES)
    assert np.all(np.diff(ranked.scores) <= 1e-6)


def test_query_dominates_when_given(svc, stack):
    q = stack.encoder.encode_one("a stapler")
    profile = svc.profile(CUSTOMER)
    ranked = svc.core.full_rank(profile, Context(query_vec=q), k=5, diversify=False)
    names = [svc.catalogue.products[i].name.lower() for i in ranked.items]
    assert sum("stapl" in n for n in names) >= 3


def test_mmr_diversifies(svc):
    profile = svc.profile(CUSTOMER)
    plain = svc.core.full_rank(profile, Context(), k=10, diversify=False)
    diverse = svc.core.with_params(ScoringParams(mmr_lambda=0.5)).full_rank(
        profile, Context(), k=10
    )
    subs = lambda r: len({svc.catalogue.products[i].sub_category for i in r.items})  # noqa: E731
    assert subs(diverse) >= subs(plain)
    assert len(mmr(plain, svc.items.vectors, 3, 0.5)) == 3


def test_home_page_sections_and_rules(svc):
    page = build_home(svc, CUSTOMER)
    keys = [s.key for s in page.sections]
    assert keys[0] == "for-you" and "because" in keys and "popular-in-categories" in keys
    ids = page.item_ids()
    assert len(ids) == len(set(ids)), "no item appears twice"
    profile = svc.profile(CUSTOMER)
    for pid in ids:
        idx = svc.items.position[pid]
        if idx in profile.purchased:
            assert svc.items.consumable[idx], "durables already bought are not re-recommended"
    assert all(i.reason for s in page.sections for i in s.items)


def test_cold_start_home_is_popular_and_diverse(svc):
    page = build_home(svc, None)
    assert page.cold_start and page.sections[0].key == "popular"
    cats = {i.category for s in page.sections for i in s.items}
    assert cats == {"Furniture", "Office Supplies", "Technology"}
    assert len({i.sub_category for i in page.sections[0].items}) >= 5


def test_small_training_run_saves_and_loads(svc, tmp_path):
    model = train_scoring_model(
        svc.items, svc.interaction_log(), TrainConfig(negatives=5, epochs=50, max_users=200)
    )
    assert model.meta["examples"] > 200 and 0 <= model.meta["validation_auc"] <= 1
    path = model.save(tmp_path)
    again = ScoringModel.load_latest(tmp_path)
    assert path.exists() and again.version == model.version
    assert np.allclose(again.weights, model.weights)
    core = ScoringCore(svc.items, again)
    assert len(core.full_rank(svc.profile(CUSTOMER), Context(), k=5)) == 5


def test_missing_or_bad_model_falls_back(tmp_path, caplog):
    assert ScoringModel.load_latest(tmp_path).version == "default"
    (tmp_path / "LATEST").write_text("scoring-broken.json")
    (tmp_path / "scoring-broken.json").write_text("{not json")
    assert ScoringModel.load_latest(tmp_path).version == "default"
    assert "default weights" in caplog.text


def test_ab_bucketing_is_stable_and_balanced():
    exp = Experiment("home-diversity", (Variant("control", 0.5), Variant("diverse", 0.5)))
    first = [exp.assign(f"user-{i}").name for i in range(2000)]
    assert first == [exp.assign(f"user-{i}").name for i in range(2000)]
    share = first.count("diverse") / len(first)
    assert 0.45 < share < 0.55
    other = Experiment("other", exp.variants)
    assert [other.assign(f"user-{i}").name for i in range(200)] != first[:200]
    with pytest.raises(ValueError, match="unknown scoring params"):
        Experiment("bad", (Variant("x", params={"nope": 1}),))
    assert (
        Variant("d", params={"mmr_lambda": 0.5}).scoring_params(ScoringParams()).mmr_lambda == 0.5
    )


def test_ab_report_ctr_ci_and_test(stack):
    for i in range(200):
        log_exposures(stack.db, "exp-t", "control", f"u{i}", ["p"])
        log_exposures(stack.db, "exp-t", "treat", f"v{i}", ["p"])
    for i in range(20):
        log_click(stack.db, "exp-t", "control", f"u{i}", "p")
    for i in range(50):
        log_click(stack.db, "exp-t", "treat", f"v{i}", "p")
    r = ab_report(stack.db, "exp-t")
    control, treat = r.variants
    assert (control.exposures, control.clicks, treat.clicks) == (200, 20, 50)
    assert control.ci_low < 0.10 < control.ci_high
    assert r.p_value < 0.001 and r.z > 0
    lo, hi = wilson(0, 10)
    assert lo == 0 and 0 < hi < 0.35


def test_recommend_runs_the_whole_pipeline_once(svc, monkeypatch):
    from retrieval.constraints import parse

    encoded: list[str] = []
    real_encode = svc.search.encoder.encode_one
    monkeypatch.setattr(
        svc.search.encoder, "encode_one", lambda t: encoded.append(t) or real_encode(t)
    )
    reads: list[str | None] = []
    real_profile = svc.profile
    monkeypatch.setattr(svc, "profile", lambda u: reads.append(u) or real_profile(u))
    c = parse("chairs under $200", svc.catalogue.vocabulary)
    recs = svc.recommend(CUSTOMER, c, k=3)
    assert len(encoded) == 1 and reads == [CUSTOMER]
    assert len(recs.items) == 3 and len({r.name.lower() for r in recs.items}) == 3
    assert all(r.price <= 200 and r.sub_category == "Chairs" for r in recs.items)
    assert {r.id for r in recs.items} <= set(recs.candidate_ids)
    assert all(
        r.reason and set(r.contributions) == set(FEATURES) | {"long_tail"} for r in recs.items
    )


def test_ranked_take_keeps_rows_aligned(svc):
    profile = svc.profile(CUSTOMER)
    ranked = svc.core.score(profile, Context(), np.arange(20))
    rows = np.array([5, 0, 3])
    sub = ranked.take(rows)
    assert list(sub.items) == [ranked.items[r] for r in rows]
    assert np.allclose(sub.contributions, ranked.contributions[rows])
    assert np.allclose(sub.features, ranked.features[rows])
    assert len(ranked.head(4)) == 4
