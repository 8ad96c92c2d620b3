"""LLM enrichment without a model: validation, the cache (keys, resume), the shipped file, the
embedded text and the `shopassist enrich` wiring, driven by a scripted fake completer."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

import pytest

from assistant.enrich import PROMPT_VERSION, SYSTEM_PROMPT, run_enrichment
from retrieval.db import Database
from retrieval.enrichment import (
    SCHEMA,
    CacheKey,
    Enrichment,
    EnrichmentInvalid,
    EnrichmentStore,
    enriched_text,
    facts_hash,
    grounded,
    product_facts,
    read_file,
    shipped_file,
    validate,
)
from retrieval.sources.base import Product

LAMP = Product(
    "FUR-1",
    "Westinghouse Mesh Shade Clip-On Gooseneck Lamp, Black",
    "Furniture",
    "Furnishings",
    14.14,
    "t",
)
SHREDDER = Product(
    "OFF-1",
    "Fellowes Powershred HS-440 4-Sheet High Security Shredder",
    "Office Supplies",
    "Machines",
    154.99,
    "t",
)
CHAIR = Product("FUR-2", "Global Leather Task Chair, Black", "Furniture", "Chairs", 89.99, "t")
PRODUCTS = [LAMP, SHREDDER, CHAIR]
KEY = CacheKey("a" * 64, PROMPT_VERSION)
ANSWERS = {
    LAMP.name: {
        "product_type": "desk lamp",
        "typical_use": "lighting a desk",
        "room": "office",
        "attributes": ["black", "clip-on", "red"],
        "suits": "desk workers",
    },
    SHREDDER.name: {
        "product_type": "paper shredder",
        "typical_use": "destroying documents",
        "room": "office",
        "attributes": ["4-sheet"],
        "suits": "small offices",
    },
    CHAIR.name: {
        "product_type": "task chair",
        "typical_use": "sitting at a desk",
        "room": "office",
        "attributes": ["leather", "mesh"],
        "suits": "desk workers",
    },
}


class FakeModel:
    """Answers from a script keyed by product name; records what it was asked."""

    def __init__(self, answers=ANSWERS, fail_after: int | None = None) -> None:
        self.answers = dict(answers)
        self.calls: list[str] = []
        self.fail_after = fail_after

    def __call__(self, system: str, user: str, schema: dict) -> str:
        assert system == SYSTEM_PROMPT and schema == SCHEMA
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt  # the run is killed mid-way
        self.calls.append(user)
        name = user.split(" (")[0]
        answer = self.answers[name]
        return answer if isinstance(answer, str) else json.dumps(answer)


@pytest.fixture
def store(tmp_path) -> EnrichmentStore:
    return EnrichmentStore(Database(f"sqlite:///{tmp_path / 'e.db'}"))


def test_the_model_sees_only_the_products_own_facts():
    facts = product_facts(replace(CHAIR, features="Padded arms", rating=4.5, price=1.0))
    assert facts == "Global Leather Task Chair, Black (Furniture > Chairs). Features: Padded arms"
    assert "4.5" not in facts and "$" not in facts


def test_validation_keeps_grounded_attributes_only():
    e = validate(LAMP, json.dumps(ANSWERS[LAMP.name]))
    assert e.product_type == "desk lamp"
    assert e.attributes == ("black", "clip-on"), "red is not in the name: a guess, dropped"
    assert validate(CHAIR, ANSWERS[CHAIR.name]).attributes == ("leather",)
    assert grounded("brushed steel", "Tensor Brushed-Steel Lamp")
    assert not grounded("steel", "Tensor Stainless Lamp") and not grounded("", "x")


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1, 2]", json.dumps({"product_type": ""}), json.dumps({"typical_use": "x"})],
)
def test_unusable_answers_are_refused(raw):
    with pytest.raises(EnrichmentInvalid):
        validate(LAMP, raw)


def test_validation_normalises_room_and_lengths():
    e = validate(LAMP, {**ANSWERS[LAMP.name], "room": "moon base", "suits": "x" * 200})
    assert e.room == "any" and len(e.suits) <= 50


def test_enrichment_is_cached_and_resumed(store):
    model = FakeModel()
    r = run_enrichment(PRODUCTS, store, model, KEY, batch_size=2)
    assert (r.enriched, r.cached, r.failed) == (3, 0, 0) and len(model.calls) == 3
    again = FakeModel()
    r = run_enrichment(PRODUCTS, store, again, KEY)
    assert (r.enriched, r.cached) == (0, 3) and again.calls == [], "nothing left to do"
    assert store.lookup(PRODUCTS)[SHREDDER.id].product_type == "paper shredder"


def test_cache_key_is_product_facts_model_and_prompt(store):
    run_enrichment(PRODUCTS, store, FakeModel(), KEY)
    renamed = replace(CHAIR, name="Global Leather Task Chair, Brown")
    model = FakeModel({**ANSWERS, renamed.name: ANSWERS[CHAIR.name]})
    run_enrichment([LAMP, SHREDDER, renamed], store, model, KEY)
    assert model.calls == [product_facts(renamed)], "only the changed product again"
    assert renamed.id not in store.lookup([renamed], CacheKey("b" * 64, PROMPT_VERSION))
    for key in (CacheKey("b" * 64, PROMPT_VERSION), CacheKey(KEY.model_sha, "enrich-v0")):
        m = FakeModel()
        run_enrichment(PRODUCTS, store, m, key)
        assert len(m.calls) == 3, key
    # The price is not a fact the model sees: a price change costs no model call.
    assert facts_hash(replace(LAMP, price=99.0)) == facts_hash(LAMP)


def test_an_interrupted_run_keeps_finished_batches(store):
    with pytest.raises(KeyboardInterrupt):
        run_enrichment(PRODUCTS, store, FakeModel(fail_after=2), KEY, batch_size=2)
    assert set(store.lookup(PRODUCTS)) == {LAMP.id, SHREDDER.id}
    rest = FakeModel()
    r = run_enrichment(PRODUCTS, store, rest, KEY, batch_size=2)
    assert rest.calls == [product_facts(CHAIR)] and r.cached == 2


def test_invalid_answers_stay_missing_and_are_retried(store):
    r = run_enrichment(PRODUCTS, store, FakeModel({**ANSWERS, CHAIR.name: "{oops"}), KEY)
    assert (r.enriched, r.failed) == (2, 1)
    assert [p.id for p in store.missing(PRODUCTS, KEY)] == [CHAIR.id]
    r = run_enrichment(PRODUCTS, store, FakeModel(), KEY)
    assert (r.enriched, r.cached) == (1, 2)


def test_refresh_recomputes(store):
    run_enrichment(PRODUCTS, store, FakeModel(), KEY)
    model = FakeModel({**ANSWERS, LAMP.name: {**ANSWERS[LAMP.name], "product_type": "task lamp"}})
    run_enrichment(PRODUCTS, store, model, KEY, refresh=True)
    assert len(model.calls) == 3 and store.lookup([LAMP])[LAMP.id].product_type == "task lamp"


def test_export_and_import_round_trip(store, tmp_path):
    run_enrichment(PRODUCTS, store, FakeModel(), KEY)
    path = tmp_path / "enrichment-test.jsonl.gz"
    assert store.export(path, PRODUCTS, KEY, "test") == 3
    header, records = read_file(path)
    assert header["model_sha256"] == KEY.model_sha and header["prompt_version"] == PROMPT_VERSION
    assert [r["id"] for r in records] == sorted(p.id for p in PRODUCTS)
    assert path.read_bytes() == (store.export(path, PRODUCTS, KEY, "test") and path.read_bytes())
    other = EnrichmentStore(Database(f"sqlite:///{tmp_path / 'other.db'}"))
    changed = replace(SHREDDER, name="Some Other Shredder")
    assert other.import_file(path, [LAMP, changed, CHAIR]) == 2, "changed facts: not imported"
    got = other.lookup([LAMP, CHAIR])
    assert got[LAMP.id] == store.lookup([LAMP])[LAMP.id]
    assert other.missing([LAMP, CHAIR], KEY) == []


def test_not_an_enrichment_file(tmp_path):
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt") as fh:
        fh.write('{"hello": 1}\n')
    with pytest.raises(ValueError, match="not a shopassist enrichment file"):
        read_file(bad)


def test_enriched_text_puts_the_type_next_to_the_name():
    e = Enrichment("desk lamp", "lighting a desk", "office", ("black", "clip-on"), "desk workers")
    text = enriched_text(LAMP, e)
    assert text.startswith(f"{LAMP.name}. Furniture > Furnishings. desk lamp. for lighting a desk")
    assert "black, clip-on" in text and "office use" in text
    assert enriched_text(LAMP, None) == LAMP.embedding_text()


def test_index_texts_load_the_shipped_file(tmp_path, monkeypatch):
    from retrieval import indexer
    from retrieval.settings import get_settings

    db = Database(f"sqlite:///{tmp_path / 'i.db'}")
    store = EnrichmentStore(db)
    run_enrichment(PRODUCTS, store, FakeModel(), KEY)
    shipped = tmp_path / "enrichment-superstore.jsonl.gz"
    store.export(shipped, PRODUCTS, KEY, "superstore")
    monkeypatch.setattr(indexer, "shipped_file", lambda catalogue: shipped)
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    on = indexer.index_texts(get_settings(data_dir=tmp_path), fresh, PRODUCTS)
    assert "desk lamp" in on[LAMP.id] and "paper shredder" in on[SHREDDER.id]
    off = indexer.index_texts(get_settings(data_dir=tmp_path, enrichment=False), fresh, PRODUCTS)
    assert off[LAMP.id] == LAMP.embedding_text()
    assert indexer.index_hash(LAMP, on[LAMP.id]) != indexer.index_hash(LAMP, off[LAMP.id])


def test_enrich_command_with_a_fake_model(tmp_path, monkeypatch, capsys):
    """`shopassist enrich` end to end on the real catalogue: first 5 products, exported."""
    from assistant import cli, enrich
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "data")
    monkeypatch.setattr(cli, "get_settings", lambda: settings)

    class Any:
        calls = 0

        def __call__(self, system, user, schema):
            Any.calls += 1
            return json.dumps(
                {
                    "product_type": "thing",
                    "typical_use": "",
                    "room": "any",
                    "attributes": [],
                    "suits": "",
                }
            )

    monkeypatch.setattr(enrich, "llamacpp_completer", lambda *a, **k: (Any(), "c" * 64))
    out = tmp_path / "out.jsonl.gz"
    assert cli.main(["enrich", "--limit", "5", "--quiet", "--export", str(out)]) == 0
    assert Any.calls == 5
    assert "5 enriched, 0 cached" in capsys.readouterr().out
    header, records = read_file(out)
    assert header["catalogue"] == "superstore" and len(records) == 5
    assert cli.main(["enrich", "--limit", "5", "--quiet"]) == 0 and Any.calls == 10
    assert "5 cached" in capsys.readouterr().out
    # `make index` on another data dir: the shipped file is loaded, no model runs.
    import retrieval.enrichment

    other = make_settings(tmp_path / "other")
    monkeypatch.setattr(cli, "get_settings", lambda: other)
    monkeypatch.setattr(retrieval.enrichment, "shipped_file", lambda catalogue: out)
    assert cli.main(["enrich", "--shipped", "--quiet"]) == 0 and Any.calls == 10
    assert f"loaded 5 enrichments from {out} (0 already cached)" in capsys.readouterr().out
    assert cli.main(["enrich", "--shipped", "--quiet"]) == 0
    assert "loaded 0 enrichments" in capsys.readouterr().out, "loaded once"


def test_the_shipped_superstore_file_loads():
    from assistant.llm.model_files import MODELS
    from retrieval.sources import get_source
    from tests.conftest import RAW

    path = shipped_file("superstore")
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `shopassist enrich --export`")
    header, records = read_file(path)
    assert header["model_sha256"] == MODELS["qwen0.5b"].sha256
    assert header["prompt_version"] == PROMPT_VERSION and header["catalogue"] == "superstore"
    products = {p.id: p for p in get_source("superstore").load(RAW).products}
    assert len(records) >= 0.95 * len(products), "the file covers the catalogue"
    for rec in records:
        p = products[rec["id"]]
        assert rec["facts_hash"] == facts_hash(p)
        assert validate(p, rec) == Enrichment.from_json(rec), "shipped as the validator reads it"


def test_a_type_that_names_what_the_product_is_for_is_replaced():
    bulb = replace(LAMP, name="Electrix 20W Halogen Replacement Bulb for Zoom-In Desk Lamp")
    e = validate(bulb, {"product_type": "desk lamp", "attributes": ["halogen", "bulb"]})
    assert e.product_type == "bulb" and e.attributes == ("halogen",)
    kept = validate(
        replace(LAMP, name="G.E. Halogen Desk Lamp Bulbs"), {"product_type": "desk lamp bulb"}
    )
    assert kept.product_type == "desk lamp bulb"


@pytest.mark.parametrize(
    ("phrase", "ptype", "score"),
    [
        (("desk", "lamp"), "desk lamp", 1.0),
        (("desk", "lamp"), "Lamps", 0.5),  # the parent type: it may be a desk lamp
        (("desk", "lamp"), "floor lamp", 0.0),  # a sibling: it is not
        (("desk", "lamp"), "desk lamp bulb", 0.0),
        (("headset",), "bluetooth headset", 0.5),  # a kind of what was asked for
        (("phone", "headset"), "phone headset", 1.0),
        ((), "lamp", 0.0),
    ],
)
def test_type_match(phrase, ptype, score):
    from retrieval.enrichment import type_match

    assert type_match(phrase, ptype) == score
