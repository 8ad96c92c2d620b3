"""Home-page latency (p50/p99) at the real catalogue and at 100k items, and scoring throughput.

The baseline measured in the same run is a plain popularity ranking over the same items (one
argsort), so the ratio shows what personalisation, co-purchase, MMR and reasons cost.

    python bench/home.py [--sizes real,100000] [--users 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Latency, fmt_ms, fmt_ratio, ratio, settle  # noqa: E402
from retrieval.catalogue import CatalogueIndex  # noqa: E402
from retrieval.home import build_home  # noqa: E402
from retrieval.recommend import RecommendationService  # noqa: E402
from retrieval.scoring import Context, ScoringModel  # noqa: E402
from retrieval.settings import get_settings  # noqa: E402
from retrieval.stack import RetrievalStack  # noqa: E402


def synthetic_catalogue(real: CatalogueIndex, n: int, seed: int = 0) -> CatalogueIndex:
    """The real catalogue plus perturbed copies (new ids, jittered prices, noisy vectors)."""
    rng = np.random.default_rng(seed)
    products = list(real.products)
    vecs = [real.vectors]
    copies = 0
    while len(products) < n:
        copies += 1
        take = min(len(real.products), n - len(products))
        noise = rng.normal(0, 0.05, (take, real.vectors.shape[1])).astype(np.float32)
        v = real.vectors[:take] + noise
        vecs.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        products += [
            replace(p, id=f"{p.id}~{copies}", price=round(p.price * rng.uniform(0.8, 1.2), 2))
            for p in real.products[:take]
        ]
    return CatalogueIndex(products, np.concatenate(vecs))


def run(stack: RetrievalStack, catalogue: CatalogueIndex, users: list[str], label: str) -> dict:
    t = time.perf_counter()
    svc = RecommendationService(
        catalogue, stack.db, stack.clock(), ScoringModel.load_latest(stack.settings.scoring_dir)
    )
    setup_s = time.perf_counter() - t
    for u in users[:5]:
        build_home(svc, u)  # warm caches and profiles
    for u in users:
        svc.profile(u)
    settle()
    home_ms, pop_ms = [], []
    for u in users:
        t = time.perf_counter()
        build_home(svc, u)
        home_ms.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        np.argsort(-svc.items.popularity)[:24]  # baseline: unpersonalised popularity
        pop_ms.append((time.perf_counter() - t) * 1e3)
    cold = []
    for _ in range(50):
        t = time.perf_counter()
        build_home(svc, None)
        cold.append((time.perf_counter() - t) * 1e3)
    # Scoring throughput: full-catalogue scoring for a warm profile.
    profile = svc.profile(users[0])
    all_items = np.arange(len(catalogue))
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        svc.core.score(profile, Context(), all_items)
    per_s = reps * len(catalogue) / (time.perf_counter() - t)
    h, p, c = Latency.of(home_ms), Latency.of(pop_ms), Latency.of(cold)
    return {
        "catalogue": label,
        "items": len(catalogue),
        "setup_s": round(setup_s, 2),
        "home": h.as_json(),
        "cold_start": c.as_json(),
        "popularity_baseline": p.as_json(),
        "p99_vs_baseline": ratio(h.p99, p.p99),
        "scoring_candidates_per_s": per_s,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="real,100000")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    stack = RetrievalStack.build(get_settings())
    real = stack.catalogue
    from sqlalchemy import select

    from retrieval.db import CustomerRow

    with stack.db.session() as s:
        users = list(s.scalars(select(CustomerRow.id).order_by(CustomerRow.id)))[: args.users]
    rows = []
    for size in args.sizes.split(","):
        cat = real if size == "real" else synthetic_catalogue(real, int(size))
        rows.append(run(stack, cat, users, size))
    print(
        "| catalogue | items | home p50 ms | home p99 ms | cold p99 ms | popularity p99 ms "
        "| home p99 / popularity | scoring candidates/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['catalogue']} | {r['items']:,} | {fmt_ms(r['home']['p50_ms'])} | "
            f"{fmt_ms(r['home']['p99_ms'])} | {fmt_ms(r['cold_start']['p99_ms'])} | "
            f"{fmt_ms(r['popularity_baseline']['p99_ms'])} | {fmt_ratio(r['p99_vs_baseline'])} | "
            f"{r['scoring_candidates_per_s']:,.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
