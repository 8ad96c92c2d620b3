"""Search benchmark: index throughput, latency and recall@10 of raw Chroma, exact numpy and our
planner; and search quality (nDCG@10, precision@3) on the labelled query set.

Runs on the bundled Superstore data in a temporary data dir (only data/raw is read), then on
synthetic catalogues built by repeating and perturbing the real one. Prints a markdown report;
--json FILE writes every number.

Quality runs `RecommendationService.recommend` (the app's search → score → MMR, anonymous
shopper, k=10) over evals/search/queries.yaml in four set-ups measured in the same run: plain
or LLM-enriched embedded text × the old parser (every category word mentioned filters) or the
compound-noun rule (a category word inside a compound only boosts), and the enriched set-up once
without its type boost (ScoringParams.type_boost = 0). The baseline is the behaviour before these
changes: plain text, the old parser, and no type, accessory or attribute boosts; ratios are
against it.

    .venv/bin/python bench/search.py                 # real catalogue, 100k items, quality (~6 min)
    .venv/bin/python bench/search.py --quick         # smoke run: 5k items, few queries, no quality
    .venv/bin/python bench/search.py --quality       # the quality section only (~3 min)
    .venv/bin/python bench/search.py --sizes real,20000,100000 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    REPO,
    Latency,
    Stopwatch,
    fmt_ms,
    fmt_num,
    fmt_ratio,
    markdown_table,
    ratio,
    settle,
    timed,
)

from retrieval.catalogue import CatalogueIndex, product_metadata  # noqa: E402
from retrieval.constraints import Constraints  # noqa: E402
from retrieval.embed import Encoder  # noqa: E402
from retrieval.search import EXACT_SCAN_MAX, ProductSearch  # noqa: E402
from retrieval.settings import apply_offline_env, get_settings  # noqa: E402
from retrieval.sources.base import Product  # noqa: E402
from retrieval.store import PRODUCTS, VectorStore  # noqa: E402

log = logging.getLogger("bench.search")
K = 10
SELECTIVE_MAX = 0.05  # "selective": the filter keeps at most 5% of the catalogue
SELECTIVE_MIN = 0.003

# Shopper phrasings for the unfiltered set; the rest are fragments of real product names.
PHRASES = [
    "ergonomic office chair",
    "wireless headset for calls",
    "cheap printer paper",
    "heavy duty binder",
    "bookcase for a small office",
    "conference room table",
    "phone with a good camera",
    "desk lamp",
    "storage boxes with lids",
    "colored pencils for kids",
    "shredder for home office",
    "envelopes for invoices",
    "label maker",
    "stapler that doesn't jam",
    "wall clock",
    "usb keyboard and mouse",
    "fax machine",
    "copier for a busy office",
    "paper clips and fasteners",
    "microwave for the break room",
]
ADJECTIVES = ["good", "cheap", "durable", "popular", "best", "simple", "quality", "modern"]


# --------------------------------------------------------------------------- query set


@dataclass(frozen=True)
class QuerySpec:
    group: str  # unfiltered | filtered | selective
    constraints: Constraints


def _price_cut(values: np.ndarray, q: float) -> float:
    v = float(np.percentile(values, q))
    return float(round(v)) if v >= 10 else round(v, 1)


def build_queries(products: list[Product], n: int, seed: int) -> list[QuerySpec]:
    """~n unfiltered, ~n filtered (mixed selectivity) and ~n selective (<=5% kept) queries."""
    rng = np.random.default_rng(seed)
    price = np.array([p.price for p in products])
    sub = np.array([p.sub_category for p in products])
    cat = np.array([p.category for p in products])
    brand = np.array([p.brand or "" for p in products])
    subs = sorted(set(sub))
    cats = sorted(set(cat))
    counts = {b: int((brand == b).sum()) for b in set(brand) if b}
    big_brands = sorted(b for b, c in counts.items() if c >= 12) or sorted(
        sorted(counts, key=lambda b: (-counts[b], b))[:10]
    )

    def frac(c: Constraints) -> float:
        m = np.ones(len(products), dtype=bool)
        if c.min_price is not None:
            m &= price >= c.min_price
        if c.max_price is not None:
            m &= price <= c.max_price
        if c.categories:
            m &= np.isin(cat, list(c.categories))
        if c.sub_categories:
            m &= np.isin(sub, list(c.sub_categories))
        if c.brands:
            m &= np.isin(brand, list(c.brands))
        if c.exclude_brands:
            m &= ~np.isin(brand, list(c.exclude_brands))
        return float(m.mean())

    def pick(seq):
        return seq[int(rng.integers(len(seq)))]

    out: list[QuerySpec] = []
    names = [p.name for p in products]
    for i in range(n):
        if i < min(len(PHRASES), n // 2):
            text = PHRASES[i]
        else:
            text = " ".join(pick(names).split()[:4]).lower()
        out.append(QuerySpec("unfiltered", Constraints(text=text)))

    def brand_and_sub() -> tuple[str, str]:
        """A big brand and one of the sub-categories it sells in."""
        b = pick(big_brands)
        return b, pick(sorted(set(sub[brand == b])))

    def template(t: int) -> Constraints:
        s = pick(subs)
        in_sub = price[sub == s]
        adj = pick(ADJECTIVES)
        if t == 0:
            return Constraints(text=f"{adj} {s.lower()}", sub_categories=frozenset({s}))
        if t == 1:
            hi = _price_cut(in_sub, rng.uniform(30, 80))
            return Constraints(
                text=f"{adj} {s.lower()} under ${hi}", max_price=hi, sub_categories=frozenset({s})
            )
        if t == 2:
            c = pick(cats)
            hi = _price_cut(price[cat == c], rng.uniform(30, 70))
            return Constraints(
                text=f"{c.lower()} under ${hi}", max_price=hi, categories=frozenset({c})
            )
        if t == 3:
            b = pick(big_brands)
            return Constraints(text=f"{b} products", brands=frozenset({b}))
        if t == 4:
            b, s = brand_and_sub()
            return Constraints(
                text=f"{b} {s.lower()}", brands=frozenset({b}), sub_categories=frozenset({s})
            )
        if t == 5:
            lo = _price_cut(price, rng.uniform(10, 50))
            hi = _price_cut(price, rng.uniform(60, 95))
            return Constraints(
                text=f"{adj} gift between ${lo} and ${hi}", min_price=lo, max_price=hi
            )
        if t == 6:
            lo = _price_cut(in_sub, rng.uniform(5, 40))
            hi = _price_cut(in_sub, rng.uniform(55, 95))
            return Constraints(
                text=f"{s.lower()} between ${lo} and ${hi}",
                min_price=lo,
                max_price=max(hi, lo),
                sub_categories=frozenset({s}),
            )
        if t == 7:
            c = pick(cats)
            return Constraints(text=f"{adj} {c.lower()}", categories=frozenset({c}))
        if t == 8:
            b, s = brand_and_sub()
            return Constraints(
                text=f"{s.lower()} but not {b}",
                sub_categories=frozenset({s}),
                exclude_brands=frozenset({b}),
            )
        two = frozenset(rng.choice(subs, size=2, replace=False).tolist())
        return Constraints(text=" or ".join(sorted(x.lower() for x in two)), sub_categories=two)

    for i in range(n):
        c = template(i % 10)
        while frac(c) == 0:
            c = template(i % 10)
        out.append(QuerySpec("filtered", c))

    seen: set[Constraints] = set()
    tries = 0
    while sum(q.group == "selective" for q in out) < n and tries < 100 * n:
        tries += 1
        c = template(pick([1, 4, 6, 1, 6]))
        f = frac(c)
        if SELECTIVE_MIN <= f <= SELECTIVE_MAX and c not in seen:
            seen.add(c)
            out.append(QuerySpec("selective", c))
    return out


# --------------------------------------------------------------------------- search methods


class ExactAll:
    """Brute force: score every vector, then apply the filter (the ground truth)."""

    def __init__(self, cat: CatalogueIndex) -> None:
        self.cat = cat

    def search(self, q: np.ndarray, c: Constraints, k: int) -> tuple[list[int], int]:
        scores = self.cat.vectors @ q
        mask = self.cat.mask(c)
        scores[~mask] = -np.inf
        matched = int(mask.sum())
        kk = min(k, matched)
        if kk == 0:
            return [], 0
        part = np.argpartition(-scores, kk - 1)[:kk]
        return part[np.argsort(-scores[part], kind="stable")].tolist(), matched


class Bucketed:
    """Exact search over a copy of the catalogue sorted by sub-category: a filter naming
    sub-categories scans only their contiguous row ranges (views, no gather), and the other
    predicates are evaluated on those ranges only."""

    def __init__(self, cat: CatalogueIndex) -> None:
        vocab, codes = cat._codes["sub_category"]
        order = np.argsort(codes, kind="stable")
        self.order = order
        self.vectors = np.ascontiguousarray(cat.vectors[order])
        self.price = cat.price[order]
        self.codes = {a: cat._codes[a][1][order] for a in ("category", "brand")}
        self.vocab = {a: cat._codes[a][0] for a in ("category", "brand")}
        sorted_codes = codes[order]
        self.bounds: dict[str, tuple[int, int]] = {}
        for name, code in vocab.items():
            lo, hi = np.searchsorted(sorted_codes, [code, code + 1])
            self.bounds[name] = (int(lo), int(hi))
        self.n = len(order)
        self.cat = cat

    def _segment_mask(self, lo: int, hi: int, c: Constraints) -> np.ndarray | None:
        m: np.ndarray | None = None

        def add(x: np.ndarray) -> None:
            nonlocal m
            m = x if m is None else (m & x)

        p = self.price[lo:hi]
        if c.min_price is not None:
            add(p >= c.min_price - 1e-9)
        if c.max_price is not None:
            add(p <= c.max_price + 1e-9)
        for attr, values, neg in (
            ("category", c.categories, False),
            ("brand", c.brands, False),
            ("brand", c.exclude_brands, True),
        ):
            if values:
                wanted = [self.vocab[attr][v] for v in values if v in self.vocab[attr]]
                hit = np.isin(self.codes[attr][lo:hi], np.array(wanted, dtype=np.int32))
                add(~hit if neg else hit)
        return m

    def search(self, q: np.ndarray, c: Constraints, k: int) -> tuple[list[int], int]:
        if c.sub_categories:
            segs = [self.bounds[s] for s in c.sub_categories if s in self.bounds]
        else:
            segs = [(0, self.n)]
        all_rows: list[np.ndarray] = []
        all_scores: list[np.ndarray] = []
        matched = 0
        for lo, hi in segs:
            m = self._segment_mask(lo, hi, c)
            if m is None:
                rows = np.arange(lo, hi)
                scores = self.vectors[lo:hi] @ q
            else:
                sel = np.flatnonzero(m)
                if sel.size * 4 < (hi - lo):  # sparse: gather; dense: scan the view and mask
                    rows = lo + sel
                    scores = self.vectors[rows] @ q
                else:
                    s = self.vectors[lo:hi] @ q
                    rows, scores = lo + sel, s[sel]
            matched += rows.size
            all_rows.append(rows)
            all_scores.append(scores)
        rows = np.concatenate(all_rows) if all_rows else np.zeros(0, dtype=np.int64)
        scores = np.concatenate(all_scores) if all_scores else np.zeros(0, dtype=np.float32)
        if c.exclude_ids:
            keep = ~np.isin(self.order[rows], self.cat.indices(c.exclude_ids))
            rows, scores = rows[keep], scores[keep]
            matched = int(rows.size)
        kk = min(k, rows.size)
        if kk == 0:
            return [], 0
        part = np.argpartition(-scores, kk - 1)[:kk]
        best = part[np.argsort(-scores[part], kind="stable")]
        return self.order[rows[best]].tolist(), matched


# --------------------------------------------------------------------------- measurement


@dataclass
class MethodResult:
    latency: Latency
    recall_mean: float
    recall_min: float
    plans: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            **self.latency.as_json(),
            "recall_at_10_mean": self.recall_mean,
            "recall_at_10_min": self.recall_min,
            "plans": self.plans,
        }


def recall(
    got: list[int], truth_scores: np.ndarray, mask: np.ndarray, kth: float, want: int
) -> float:
    """Tie-aware recall@k: a returned row counts when it passes the filter and scores at least
    the exact k-th best (duplicate products share vectors, so ids alone would undercount)."""
    if want == 0:
        return 1.0
    good = sum(1 for i in set(got) if mask[i] and truth_scores[i] >= kth - 1e-5)
    return min(good, want) / want


def run_size(
    label: str,
    cat: CatalogueIndex,
    store: VectorStore,
    encoder: Encoder,
    queries: list[QuerySpec],
    qvecs: np.ndarray,
    reps: int,
    exact_scan_max: int,
) -> dict:
    search = ProductSearch(cat, encoder, store, exact_scan_max=exact_scan_max)
    exact_all = ExactAll(cat)
    settle()
    bucketed, build_ms = timed(lambda: Bucketed(cat))
    masks = [cat.mask(q.constraints) for q in queries]
    truth_scores = [cat.vectors @ v for v in qvecs]
    kth: list[float] = []
    for ts, m in zip(truth_scores, masks, strict=True):
        s = np.sort(ts[m])[::-1]
        kth.append(float(s[min(K, s.size) - 1]) if s.size else float("inf"))

    def chroma(i: int) -> list[int]:
        c = queries[i].constraints
        hits = store.query(PRODUCTS, qvecs[i], K, where=c.to_where())
        return [cat.position[h.id] for h in hits if h.id in cat.position]

    def planner(plan: str) -> Callable[[int], tuple[list[int], str]]:
        def run(i: int) -> tuple[list[int], str]:
            r = search.search(queries[i].constraints, K, query_vec=qvecs[i], plan=plan)
            return [cat.position[h.product.id] for h in r.hits], r.plan

        return run

    methods: dict[str, Callable[[int], object]] = {
        "chroma-hnsw": chroma,
        "exact-all": lambda i: exact_all.search(qvecs[i], queries[i].constraints, K)[0],
        "planner": planner("auto"),
        "planner-exact": planner("exact"),
        "bucketed-exact": lambda i: bucketed.search(qvecs[i], queries[i].constraints, K)[0],
    }
    groups = sorted({q.group for q in queries}, key=["unfiltered", "filtered", "selective"].index)
    out: dict = {"label": label, "items": len(cat), "bucketed_build_ms": build_ms, "groups": {}}
    for g in groups:
        idx = [i for i, q in enumerate(queries) if q.group == g]
        kept = np.array([masks[i].mean() for i in idx])
        # Warm up every method on every query of the group.
        for fn in methods.values():
            for i in idx:
                fn(i)
        samples: dict[str, list[float]] = {m: [] for m in methods}
        recalls: dict[str, list[float]] = {m: [] for m in methods}
        plans: dict[str, dict[str, int]] = {m: {} for m in methods}
        settle()
        for rep in range(reps):
            order = idx if rep % 2 == 0 else idx[::-1]
            for i in order:
                for name, fn in methods.items():  # interleaved: drift hits every method alike
                    res, ms = timed(lambda fn=fn, i=i: fn(i))
                    samples[name].append(ms)
                    if rep == 0:
                        if isinstance(res, tuple):
                            res, plan = res
                            plans[name][plan] = plans[name].get(plan, 0) + 1
                        want = min(K, int(masks[i].sum()))
                        recalls[name].append(recall(res, truth_scores[i], masks[i], kth[i], want))
        gres = {}
        for name in methods:
            r = np.array(recalls[name])
            gres[name] = MethodResult(
                Latency.of(samples[name]), float(r.mean()), float(r.min()), plans[name]
            )
        out["groups"][g] = {
            "queries": len(idx),
            "kept_mean": float(kept.mean()),
            "kept_min": float(kept.min()),
            "kept_max": float(kept.max()),
            "methods": gres,
        }
        log.info("%s/%s done", label, g)
    return out


# --------------------------------------------------------------------------- catalogues


def index_real(
    workdir: Path, encoder: Encoder, limit: int | None = None
) -> tuple[CatalogueIndex, VectorStore, dict]:
    """The real Superstore catalogue, indexed through the app's own indexer into a temp dir.
    With a limit (--quick), only the first `limit` products are embedded and upserted."""
    from retrieval.sources import get_source
    from retrieval.stack import RetrievalStack

    data_dir = workdir / "real"
    data_dir.mkdir(parents=True)
    (data_dir / "raw").symlink_to(REPO / "data" / "raw", target_is_directory=True)
    settings = get_settings(data_dir=data_dir, chroma_url=None, database_url=None)
    if limit:
        products = get_source("superstore").load(settings.raw_dir).products[:limit]
        store = VectorStore.from_settings(settings)
        vecs, embed_ms = timed(lambda: encoder.encode([p.embedding_text() for p in products]))
        _, upsert_ms = timed(
            lambda: store.upsert(
                PRODUCTS, [p.id for p in products], vecs, [product_metadata(p) for p in products]
            )
        )
        n, e, u = len(products), embed_ms / 1e3, upsert_ms / 1e3
        stats = {
            "products": n,
            "embed_s": e,
            "upsert_s": u,
            "embed_upsert_products_per_s": n / (e + u),
            "embed_products_per_s": n / e,
            "upsert_vectors_per_s": n / u,
            "end_to_end_s": e + u,
            "end_to_end_products_per_s": n / (e + u),
        }
        return CatalogueIndex(products, vecs), store, stats
    stack = RetrievalStack.build(settings)
    stack.encoder = encoder
    embed_sw, upsert_sw = Stopwatch(), Stopwatch()
    orig_encode, orig_upsert = encoder.encode, stack.store.upsert
    encoder.encode = embed_sw.wrap(orig_encode)  # type: ignore[method-assign]
    stack.store.upsert = upsert_sw.wrap(orig_upsert)  # type: ignore[method-assign]
    try:
        report = stack.index()
    finally:
        del encoder.encode  # back to the class method
        del stack.store.upsert
    n = report.embedded
    stats = {
        "products": n,
        "embed_s": embed_sw.seconds,
        "upsert_s": upsert_sw.seconds,
        "embed_upsert_products_per_s": n / (embed_sw.seconds + upsert_sw.seconds),
        "embed_products_per_s": n / embed_sw.seconds,
        "upsert_vectors_per_s": n / upsert_sw.seconds,
        "end_to_end_s": report.seconds,
        "end_to_end_products_per_s": report.products_per_s,
    }
    return stack.catalogue, stack.store, stats


def synthetic(
    base: CatalogueIndex, n: int, seed: int, noise: float
) -> tuple[list[Product], np.ndarray]:
    """n items: copies of the real catalogue with new ids, jittered prices and perturbed vectors."""
    rng = np.random.default_rng(seed)
    m = len(base)
    src = np.arange(n) % m
    rep = np.arange(n) // m
    vecs = base.vectors[src] + rng.normal(0.0, noise, size=(n, base.vectors.shape[1])).astype(
        np.float32
    )
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    jitter = np.exp(rng.normal(0.0, 0.1, size=n))
    products = [
        dataclasses.replace(
            base.products[s],
            id=f"{base.products[s].id}~{r:03d}",
            price=max(0.01, round(base.products[s].price * j, 2)),
        )
        for s, r, j in zip(src.tolist(), rep.tolist(), jitter.tolist(), strict=True)
    ]
    return products, vecs.astype(np.float32)


def index_synthetic(
    workdir: Path, base: CatalogueIndex, n: int, seed: int, noise: float
) -> tuple[CatalogueIndex, VectorStore, dict]:
    products, vecs = synthetic(base, n, seed, noise)
    settings = get_settings(
        data_dir=workdir / f"synthetic-{n}",
        catalogue="superstore",
        chroma_url=None,
        database_url=None,
    )
    store = VectorStore.from_settings(settings)
    metas = [product_metadata(p) for p in products]
    t = time.perf_counter()
    store.upsert(PRODUCTS, [p.id for p in products], vecs, metas)
    upsert_s = time.perf_counter() - t
    assert store.count(PRODUCTS) == n
    return (
        CatalogueIndex(products, vecs),
        store,
        {"items": n, "upsert_s": upsert_s, "upsert_vectors_per_s": n / upsert_s},
    )


# --------------------------------------------------------------------------- quality


# (name, enriched vectors, compound-noun rule, ScoringParams overrides)
_NO_SOFT = {"type_boost": 0.0, "accessory_penalty": 0.0, "attribute_boost": 0.0}
QUALITY_SETUPS: tuple[tuple[str, bool, bool, dict], ...] = (
    ("before: plain, old parser, no soft boosts", False, False, _NO_SOFT),
    ("plain, compound rule", False, True, {}),
    ("enriched, old parser", True, False, {}),
    ("enriched, compound rule, no type boost", True, True, {"type_boost": 0.0}),
    ("enriched, compound rule", True, True, {}),
)


def quality(workdir: Path, encoder: Encoder, enrichment_file: Path, reps: int = 1) -> dict:
    """nDCG@10 and precision@3 on the labelled set in each set-up (see the module docstring)."""
    from evals.search.labels import load_queries, ndcg_at, precision_at
    from retrieval.catalogue import CatalogueIndex as Cat
    from retrieval.constraints import parse
    from retrieval.enrichment import EnrichmentStore, enriched_text, read_file
    from retrieval.events import seed_purchases_from_orders
    from retrieval.recommend import RecommendationService
    from retrieval.scoring import ScoringModel
    from retrieval.stack import RetrievalStack

    data_dir = workdir / "quality"
    data_dir.mkdir(parents=True)
    (data_dir / "raw").symlink_to(REPO / "data" / "raw", target_is_directory=True)
    settings = get_settings(data_dir=data_dir, chroma_url=None, database_url=None, enrichment=False)
    stack = RetrievalStack.build(settings)
    stack.encoder = encoder
    stack.index()  # plain text: the database (catalogue, orders) and the plain vectors
    seed_purchases_from_orders(stack.db)
    plain = stack.catalogue
    header, _ = read_file(enrichment_file)
    store = EnrichmentStore(stack.db)
    imported = store.import_file(enrichment_file, plain.products)
    enrich = store.lookup(plain.products)
    texts = [enriched_text(p, enrich.get(p.id)) for p in plain.products]
    vecs, embed_ms = timed(lambda: encoder.encode(texts))
    enriched = Cat(plain.products, vecs, enrich)
    model = ScoringModel.load_latest(REPO / "data" / "models" / "scoring")
    clock = stack.clock()
    services = {
        False: RecommendationService(
            plain, stack.db, clock, model, search=ProductSearch(plain, encoder)
        ),
        True: RecommendationService(
            enriched, stack.db, clock, model, search=ProductSearch(enriched, encoder)
        ),
    }
    queries = load_queries()
    vocab = plain.vocabulary
    out: dict = {
        "queries": len(queries),
        "scoring_model": model.version,
        "enrichment": {
            "file": str(
                enrichment_file.relative_to(REPO)
                if enrichment_file.is_relative_to(REPO)
                else enrichment_file
            ),
            "model_sha256": header["model_sha256"],
            "prompt_version": header["prompt_version"],
            "products_enriched": len(enrich),
            "imported": imported,
            "embed_s": embed_ms / 1e3,
        },
        "setups": {},
    }
    for name, use_enriched, rule, overrides in QUALITY_SETUPS:
        svc = services[use_enriched]
        # None: the service's own core (and its per-shopper statistics cache), as the app runs.
        params = dataclasses.replace(svc.core.params, **overrides) if overrides else None
        svc.recommend(None, parse("warm up", vocab), k=10)
        lat: list[float] = []
        per_query = []
        settle()  # once per set-up: a full collection costs ~1 s with torch and Chroma loaded
        for q in queries:
            c = parse(q.query, vocab, compound_rule=rule)
            ids: list[str] = []
            for _ in range(reps):
                recs, ms = timed(
                    lambda s=svc, c=c, q=q, p=params: s.recommend(
                        None, c, k=10, query_text=q.query, params=p
                    )
                )
                lat.append(ms)
                ids = [r.id for r in recs.items]
            per_query.append(
                {
                    "query": q.query,
                    "ndcg_at_10": ndcg_at(ids, q.relevant, 10),
                    "precision_at_3": precision_at(ids, q.relevant, 3),
                    "top3": [svc.catalogue.get(i).name for i in ids[:3]],
                    "reasons": [r.reason for r in recs.items[:3]],
                    "where": c.to_where(),
                    "soft": sorted(c.soft_categories),
                }
            )
        out["setups"][name] = {
            "ndcg_at_10": float(np.mean([r["ndcg_at_10"] for r in per_query])),
            "precision_at_3": float(np.mean([r["precision_at_3"] for r in per_query])),
            "latency": Latency.of(lat).as_json(),
            "per_query": per_query,
        }
        log.info("quality %s done", name)
    base = out["setups"][QUALITY_SETUPS[0][0]]
    for v in out["setups"].values():
        v["ndcg_ratio"] = ratio(v["ndcg_at_10"], base["ndcg_at_10"])
        v["p3_ratio"] = ratio(v["precision_at_3"], base["precision_at_3"])
        v["p50_ratio"] = ratio(v["latency"]["p50_ms"], base["latency"]["p50_ms"])
    return out


def render_quality(q: dict) -> str:
    e = q["enrichment"]
    lines = [
        "## Search quality on the labelled set",
        "",
        f"{q['queries']} queries (evals/search/queries.yaml); RecommendationService.recommend, "
        f"anonymous shopper, k=10, scoring model {q['scoring_model']}. "
        f"Enrichment: {e['products_enriched']:,} products from "
        f"{e['file']} (prompt {e['prompt_version']}, model sha256 {e['model_sha256'][:12]}…). "
        "Ratios against the first row (the behaviour before), measured in the same run.",
        "",
    ]
    rows = []
    for name, v in q["setups"].items():
        rows.append(
            [
                name,
                fmt_num(v["ndcg_at_10"]),
                fmt_ratio(v["ndcg_ratio"]),
                fmt_num(v["precision_at_3"]),
                fmt_ratio(v["p3_ratio"]),
                fmt_ms(v["latency"]["p50_ms"]),
                fmt_ms(v["latency"]["p99_ms"]),
            ]
        )
    lines.append(
        markdown_table(
            ["set-up", "nDCG@10", "vs baseline", "P@3", "vs baseline", "p50 ms", "p99 ms"], rows
        )
    )
    lines += ["", "Type-of-thing queries, top 3 (enriched, compound rule):", ""]
    final = q["setups"][QUALITY_SETUPS[-1][0]]["per_query"]
    first = {r["query"]: r for r in q["setups"][QUALITY_SETUPS[0][0]]["per_query"]}
    rows = []
    for r in final:
        if r["query"] in SHOW_QUERIES:
            b = first[r["query"]]
            rows.append(
                [
                    r["query"],
                    f"{fmt_num(b['ndcg_at_10'])} → {fmt_num(r['ndcg_at_10'])}",
                    "; ".join(n[:40] for n in r["top3"]),
                ]
            )
    lines.append(markdown_table(["query", "nDCG@10 baseline → final", "top 3"], rows))
    return "\n".join(lines)


SHOW_QUERIES = {
    "desk lamp",
    "I need a desk lamp under $40",
    "paper shredder",
    "I need a paper shredder",
    "phone headset",
    "ergonomic chair",
    "chair mat",
    "binder clips",
    "phone charger",
    "surge protector",
    "bookcase",
}


# --------------------------------------------------------------------------- report


def embedding_stats(encoder: Encoder, queries: list[QuerySpec]) -> tuple[np.ndarray, dict]:
    texts = [q.constraints.text for q in queries]
    encoder.encode(texts[:4])  # warm-up
    singles = [timed(lambda t=t: encoder.encode_one(t))[1] for t in texts[: min(60, len(texts))]]
    vecs, batch_ms = timed(lambda: encoder.encode(texts))
    return vecs, {
        "single": Latency.of(singles).as_json(),
        "batch_texts_per_s": len(texts) / (batch_ms / 1e3),
    }


def render(result: dict) -> str:
    lines = ["# Search benchmark", ""]
    m = result["meta"]
    lines.append(
        f"{m['machine']}; k={K}; {m['reps']} timed pass(es) per query after a warm-up; "
        f"planner exact-scan threshold {m['exact_scan_max']:,} rows; "
        f"numpy BLAS threads: {m['blas_threads']}; "
        f"selective = {SELECTIVE_MIN:.1%}–{SELECTIVE_MAX:.0%} of items kept."
    )
    lines.append("")
    ix = result["index"]
    lines.append("## Index throughput")
    lines.append("")
    rows = [
        [
            f"real ({ix['real']['products']:,} products)",
            f"{ix['real']['embed_upsert_products_per_s']:.0f}",
            f"{ix['real']['embed_products_per_s']:.0f}",
            f"{ix['real']['upsert_vectors_per_s']:.0f}",
            f"{ix['real']['end_to_end_s']:.1f} s ({ix['real']['end_to_end_products_per_s']:.0f}/s)",
        ]
    ]
    for s in ix.get("synthetic", []):
        rows.append(
            [
                f"synthetic {s['items']:,}",
                "–",
                "–",
                f"{s['upsert_vectors_per_s']:.0f}",
                f"upsert {s['upsert_s']:.1f} s",
            ]
        )
    lines.append(
        markdown_table(
            [
                "catalogue",
                "embed+upsert products/s",
                "embed/s",
                "Chroma upsert vec/s",
                "end to end (build_index)",
            ],
            rows,
        )
    )
    e = result["embedding"]
    lines.append("")
    lines.append(
        f"Query embedding (excluded below): single query p50 {fmt_ms(e['single']['p50_ms'])}"
        f" ms / p99 {fmt_ms(e['single']['p99_ms'])} ms; batched "
        f"{e['batch_texts_per_s']:.0f} queries/s."
    )
    lines.append("")
    lines.append("## Latency and recall@10 (against exact brute force over the same vectors)")
    lines.append("")
    rows = []
    for size in result["sizes"]:
        for g, gr in size["groups"].items():
            for name, mr in gr["methods"].items():
                plans = ", ".join(f"{k} {v}" for k, v in sorted(mr["plans"].items()))
                rows.append(
                    [
                        f"{size['label']} ({size['items']:,})",
                        g,
                        gr["queries"],
                        f"{gr['kept_mean']:.1%}",
                        name,
                        fmt_ms(mr["p50_ms"]),
                        fmt_ms(mr["p99_ms"]),
                        fmt_num(mr["recall_at_10_mean"]),
                        fmt_num(mr["recall_at_10_min"], 2),
                        plans,
                    ]
                )
    lines.append(
        markdown_table(
            [
                "catalogue",
                "queries",
                "n",
                "kept (mean)",
                "method",
                "p50 ms",
                "p99 ms",
                "recall@10",
                "min recall",
                "planner plans",
            ],
            rows,
        )
    )
    lines.append("")
    lines.append("## Planner against raw Chroma (same run)")
    lines.append("")
    rows = []
    for r in result["ratios"]:
        rows.append(
            [
                r["catalogue"],
                r["group"],
                fmt_ratio(r["p99_ratio"]),
                fmt_ratio(r["p50_ratio"]),
                fmt_ms(r["planner_p99_ms"]),
                fmt_num(r["planner_recall"]),
                r["target"],
            ]
        )
    lines.append(
        markdown_table(
            [
                "catalogue",
                "queries",
                "planner p99 / Chroma p99",
                "planner p50 / Chroma p50",
                "planner p99 ms",
                "planner recall@10",
                "target",
            ],
            rows,
        )
    )
    lines.append("")
    lines.append(
        "Target (TARGETS.md): filtered p99 < 30 ms with recall@10 ≥ 0.95; faster than raw "
        "Chroma on selective filters."
    )
    return "\n".join(lines)


def ratios(sizes: list[dict]) -> list[dict]:
    out = []
    for size in sizes:
        for g, gr in size["groups"].items():
            p, c = gr["methods"]["planner"], gr["methods"]["chroma-hnsw"]
            r = {
                "catalogue": f"{size['label']} ({size['items']:,})",
                "group": g,
                "p99_ratio": ratio(p["p99_ms"], c["p99_ms"]),
                "p50_ratio": ratio(p["p50_ms"], c["p50_ms"]),
                "planner_p99_ms": p["p99_ms"],
                "planner_recall": p["recall_at_10_mean"],
            }
            if g == "unfiltered":
                r["target"] = "– (no filter target)"
            else:
                ok = p["p99_ms"] < 30 and p["recall_at_10_mean"] >= 0.95
                if g == "selective":
                    ok = ok and p["p99_ms"] < c["p99_ms"]
                r["target"] = "met" if ok else "MISSED"
            out.append(r)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--sizes",
        default=None,
        help='comma list of "real" and synthetic item counts (default "real,100000")',
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 300 real products + 5k synthetic items, 10 queries per group, one pass",
    )
    ap.add_argument("--queries", type=int, default=None, help="queries per group (default 50)")
    ap.add_argument("--reps", type=int, default=None, help="timed passes per query (default 3)")
    ap.add_argument(
        "--noise",
        type=float,
        default=0.015,
        help="per-dimension Gaussian noise on synthetic vectors (default 0.015)",
    )
    ap.add_argument(
        "--exact-scan-max",
        type=int,
        default=EXACT_SCAN_MAX,
        help=f"planner threshold in rows (default: the app's {EXACT_SCAN_MAX:,})",
    )
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit numpy's BLAS pool (threadpoolctl); default: as the app runs",
    )
    ap.add_argument(
        "--real-limit",
        type=int,
        default=None,
        help="embed only the first N real products (--quick: 300; default: all 1,862)",
    )
    ap.add_argument(
        "--quality",
        action="store_true",
        help="only the search-quality section (nDCG@10, P@3 on evals/search/queries.yaml)",
    )
    ap.add_argument("--no-quality", action="store_true", help="skip the search-quality section")
    ap.add_argument(
        "--enrichment-file",
        type=Path,
        default=None,
        help="enrichment JSONL.gz for the quality section (default: the shipped Superstore file)",
    )
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the encoder")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path, default=None, help="also write every number here")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="temp data dir to use and keep (default: a fresh one, removed after)",
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    a = ap.parse_args(argv)
    a.sizes = a.sizes or ("real,5000" if a.quick else "real,100000")
    a.queries = a.queries or (10 if a.quick else 50)
    a.reps = a.reps or (1 if a.quick else 3)
    if a.quick and a.real_limit is None:
        a.real_limit = 300
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(message)s",
    )
    apply_offline_env()
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads, user_api="blas")
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    synth_sizes = [int(s) for s in sizes if s != "real"]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shopassist-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        encoder = Encoder(batch_size=64, threads=args.threads)
        encoder.encode(["warm up the model"])  # model load is not indexing time
        from retrieval.enrichment import shipped_file

        enrichment_file = args.enrichment_file or shipped_file("superstore")
        if args.quality:
            q = quality(workdir, encoder, enrichment_file)
            print("# Search benchmark\n\n" + render_quality(q))
            if args.json:
                args.json.write_text(json.dumps({"quality": q}, indent=2, default=str))
            return 0
        log.info("indexing the real catalogue in %s", workdir)
        real_cat, real_store, real_stats = index_real(workdir, encoder, args.real_limit)
        queries = build_queries(real_cat.products, args.queries, args.seed)
        qvecs, emb = embedding_stats(encoder, queries)
        result: dict = {
            "meta": {
                "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), Python "
                f"{platform.python_version()}",
                "reps": args.reps,
                "queries_per_group": args.queries,
                "exact_scan_max": args.exact_scan_max,
                "noise": args.noise,
                "seed": args.seed,
                "blas_threads": args.blas_threads or "default",
            },
            "index": {"real": real_stats, "synthetic": []},
            "embedding": emb,
            "queries": [
                {"group": q.group, "where": q.constraints.to_where(), "text": q.constraints.text}
                for q in queries
            ],
            "sizes": [],
        }
        runs: list[dict] = []
        if "real" in sizes:
            runs.append(
                run_size(
                    "real",
                    real_cat,
                    real_store,
                    encoder,
                    queries,
                    qvecs,
                    args.reps,
                    args.exact_scan_max,
                )
            )
        for n in synth_sizes:
            log.info("building a synthetic catalogue of %d items", n)
            cat, store, stats = index_synthetic(workdir, real_cat, n, args.seed, args.noise)
            result["index"]["synthetic"].append(stats)
            runs.append(
                run_size(
                    "synthetic", cat, store, encoder, queries, qvecs, args.reps, args.exact_scan_max
                )
            )
            del cat, store
        for r in runs:
            r["groups"] = {
                g: {**v, "methods": {k: m.as_json() for k, m in v["methods"].items()}}
                for g, v in r["groups"].items()
            }
        result["sizes"] = runs
        result["ratios"] = ratios(runs)
        report = render(result)
        if not (args.quick or args.no_quality):
            result["quality"] = quality(workdir, encoder, enrichment_file)
            report += "\n\n" + render_quality(result["quality"])
        print(report)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2, default=str))
        return 0
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
