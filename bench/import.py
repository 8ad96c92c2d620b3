"""Import benchmark: a generated Shopify product CSV of 100k products (about 300k rows with
variants and images), imported into a fresh store.

Reports, each from this run:

- **parse + validate + store** (embedding excluded): products/s and rows/s over --repeat fresh
  imports (p50, min, max), against the 5,000 products/s target;
- **peak memory** of the importing process (its own ru_maxrss; each import runs in a fresh
  child process), against the 2 GB target, next to the same process's size before importing;
- **incremental re-imports**: the same file again (nothing to write), and the file with 1% of
  the products changed (only those rewritten), as ratios of the first import's time;
- **embedding and indexing** separately, on the first --embed products (encoding plus Chroma
  upserts, products/s), and what the whole catalogue would take at that rate.

    python bench/import.py [--products 100000] [--repeat 3] [--embed 2000] [--quick]
                           [--workdir DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Latency, fmt_ratio, markdown_table, ratio  # noqa: E402

TARGET_PRODUCTS_PER_S = 5000.0
TARGET_PEAK_MB = 2048.0
HEADER = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Option1 Linked To", "Option2 Name", "Option2 Value",
    "Option2 Linked To", "Option3 Name", "Option3 Value", "Option3 Linked To", "Variant SKU",
    "Variant Grams", "Variant Inventory Tracker", "Variant Inventory Qty",
    "Variant Inventory Policy", "Variant Fulfillment Service", "Variant Price",
    "Variant Compare At Price", "Variant Requires Shipping", "Variant Taxable", "Variant Barcode",
    "Image Src", "Image Position", "Image Alt Text", "Gift Card", "SEO Title", "SEO Description",
    "Variant Image", "Variant Weight Unit", "Variant Tax Code", "Cost per item", "Status",
]  # fmt: skip
_COL = {name: i for i, name in enumerate(HEADER)}
ADJECTIVES = [
    "Merino",
    "Trail",
    "Alpine",
    "Coastal",
    "Urban",
    "Classic",
    "Rugged",
    "Light",
    "Summit",
    "Heritage",
    "Waxed",
    "Organic",
    "Insulated",
    "Packable",
    "Stretch",
    "Everyday",
    "Vintage",
    "Quilted",
    "Recycled",
    "Thermal",
    "Ultralight",
    "Canvas",
]
NOUNS = {
    "Apparel & Accessories > Clothing > Outerwear": ["Jacket", "Parka", "Vest", "Shell"],
    "Apparel & Accessories > Clothing > Shirts & Tops": ["T-Shirt", "Polo", "Hoodie", "Henley"],
    "Apparel & Accessories > Clothing > Pants": ["Chinos", "Joggers", "Hiking Pants"],
    "Apparel & Accessories > Shoes": ["Trail Runner", "Hiking Boot", "Sneaker", "Sandal"],
    "Luggage & Bags > Backpacks": ["Daypack", "Backpack", "Sling Bag"],
    "Home & Garden > Kitchen & Dining > Drinkware": ["Mug", "Water Bottle", "Tumbler"],
    "Sporting Goods > Outdoor Recreation > Camping & Hiking > Tents": ["Tent", "Shelter"],
    "Sporting Goods > Outdoor Recreation > Camping & Hiking > Sleeping Bags": ["Sleeping Bag"],
    "Electronics > Audio > Headphones": ["Headphones", "Earbuds"],
    "Home & Garden > Lighting > Lamps": ["Desk Lamp", "Lantern", "Headlamp"],
}
COLORS = ["Black", "Navy", "Olive", "Grey", "Red", "Sand", "Blue", "White"]
SIZES = ["XS", "S", "M", "L", "XL"]
PHRASES = [
    "Built for long days outside and easy to care for.",
    "A <strong>lightweight</strong> design that packs down small.",
    "Made from recycled materials &amp; finished by hand.",
    "Breathable, quick-drying and comfortable in any weather.",
    "Tested on the trail by our own team for a full season.",
    "Reinforced where it wears first, so it lasts for years.",
]


def generate(path: Path, products: int, seed: int = 7) -> int:
    """Write the CSV (streamed); returns the number of data rows."""
    rng = random.Random(seed)
    vendors = [f"Brand{n:02d}" for n in range(60)]
    cats = list(NOUNS)
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(products):
            cat = cats[i % len(cats)]
            noun = rng.choice(NOUNS[cat])
            handle = f"{rng.choice(ADJECTIVES).lower()}-{noun.lower().replace(' ', '-')}-{i:06d}"
            body = "<p>" + " ".join(rng.sample(PHRASES, 3)) + "</p><ul><li>Style " + str(i)
            body += "</li><li>Machine washable</li></ul>"
            base = round(rng.uniform(9, 400), 2)
            # A third one version; the rest colour (x size), 2-4 versions; every product a
            # second image on a row of its own: about 3 rows per product in all.
            kind = rng.random()
            if kind < 0.35:
                versions: list[tuple[str, ...]] = [()]
                names: tuple[str, ...] = ("Title",)
            elif kind < 0.7:
                versions = [(c,) for c in rng.sample(COLORS, rng.choice((2, 3)))]
                names = ("Color",)
            else:
                versions = [(c, s) for c in rng.sample(COLORS, 1) for s in rng.sample(SIZES, 2)]
                names = ("Color", "Size")
            for v, values in enumerate(versions):
                row = [""] * len(HEADER)
                row[_COL["Handle"]] = handle
                if v == 0:
                    row[_COL["Title"]] = f"{rng.choice(ADJECTIVES)} {noun} {i}"
                    row[_COL["Body (HTML)"]] = body
                    row[_COL["Vendor"]] = rng.choice(vendors)
                    row[_COL["Product Category"]] = cat
                    row[_COL["Type"]] = noun
                    row[_COL["Tags"]] = f"{noun.lower()}, outdoor, new"
                    row[_COL["Published"]] = "TRUE"
                    row[_COL["Status"]] = "active"
                    row[_COL["Image Src"]] = f"https://cdn.example.com/p/{handle}-1.jpg"
                    row[_COL["Image Position"]] = "1"
                for k, name in enumerate(names):
                    if v == 0:
                        row[_COL[f"Option{k + 1} Name"]] = name
                    row[_COL[f"Option{k + 1} Value"]] = values[k] if values else "Default Title"
                row[_COL["Variant SKU"]] = f"SKU-{i:06d}-{v}"
                row[_COL["Variant Inventory Tracker"]] = "shopify"
                row[_COL["Variant Inventory Qty"]] = str(rng.randint(0, 40))
                row[_COL["Variant Inventory Policy"]] = "deny"
                row[_COL["Variant Price"]] = f"{base + v:.2f}"
                if rng.random() < 0.2:
                    row[_COL["Variant Compare At Price"]] = f"{base * 1.25:.2f}"
                w.writerow(row)
                rows += 1
            for position in range(2, 3 if rng.random() < 0.8 else 4):
                row = [""] * len(HEADER)
                row[_COL["Handle"]] = handle
                row[_COL["Image Src"]] = f"https://cdn.example.com/p/{handle}-{position}.jpg"
                row[_COL["Image Position"]] = str(position)
                w.writerow(row)
                rows += 1
    return rows


def change_some(src: Path, dst: Path, every: int) -> int:
    """A copy of `src` with every `every`-th product's first price raised by 1; returns how
    many products changed."""
    changed = 0
    seen = 0
    with (
        src.open(newline="", encoding="utf-8") as fi,
        dst.open("w", newline="", encoding="utf-8") as fo,
    ):
        r, w = csv.reader(fi), csv.writer(fo)
        w.writerow(next(r))
        for row in r:
            if row[_COL["Title"]]:
                seen += 1
                if seen % every == 0:
                    row[_COL["Variant Price"]] = f"{float(row[_COL['Variant Price']]) + 1:.2f}"
                    changed += 1
            w.writerow(row)
    return changed


def _child(args: tuple[str, str, str, bool, int | None]) -> dict[str, Any]:
    """One import in a fresh process: its report and its own peak memory."""
    data_dir, csv_path, store, index, limit = args
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from retrieval.importing.products import import_products
    from retrieval.settings import get_settings

    settings = get_settings(data_dir=Path(data_dir), enrichment=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out: dict[str, Any] = {}
    encoder = None
    if index:  # load and warm the model first: its start-up is not indexing throughput
        from retrieval.embed import make_encoder

        t = time.perf_counter()
        encoder = make_encoder(settings)
        encoder.encode(["warm up"])
        out["model_load_s"] = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    report = import_products(settings, Path(csv_path), store=store, index=index, encoder=encoder)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out | {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak,
        "before_mb": before,
        "ok": report.ok,
        "failure": report.failure,
        "rows": report.rows,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "embedded": report.embedded,
        "phases": report.seconds,
    }


def run_child(pool: Any, data_dir: Path, csv_path: Path, store: str, index: bool = False) -> dict:
    out = pool.apply(_child, ((str(data_dir), str(csv_path), store, index, None),))
    if not out["ok"]:
        raise SystemExit(f"import failed: {out['failure']}")
    return out


def head_products(src: Path, dst: Path, products: int) -> None:
    """The first `products` products of `src` (all their rows)."""
    n = 0
    with (
        src.open(newline="", encoding="utf-8") as fi,
        dst.open("w", newline="", encoding="utf-8") as fo,
    ):
        r, w = csv.reader(fi), csv.writer(fo)
        w.writerow(next(r))
        for row in r:
            if row[_COL["Title"]]:
                n += 1
                if n > products:
                    break
            w.writerow(row)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--products", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="fresh first imports timed")
    ap.add_argument(
        "--embed", type=int, default=2000, help="products embedded for throughput (0: none)"
    )
    ap.add_argument("--quick", action="store_true", help="5,000 products, 1 repeat, 200 embedded")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.products, args.repeat, args.embed = 5000, 1, 200
    load0 = os.getloadavg()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / "products.csv"
    t = time.perf_counter()
    rows = generate(csv_path, args.products)
    gen_s = time.perf_counter() - t
    size_mb = csv_path.stat().st_size / 2**20
    ctx = multiprocessing.get_context("spawn")
    firsts: list[dict] = []
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        for k in range(args.repeat):
            d = work / f"fresh{k}"
            shutil.rmtree(d, ignore_errors=True)
            firsts.append(run_child(pool, d, csv_path, "bench"))
        d = work / "fresh0"
        same = run_child(pool, d, csv_path, "bench")
        changed_csv = work / "products-changed.csv"
        n_changed = change_some(csv_path, changed_csv, 100)
        changed = run_child(pool, d, changed_csv, "bench")
        embedded: dict[str, Any] = {"embedded": 0, "phases": {}}
        if args.embed:
            sample_csv = work / "sample.csv"
            head_products(csv_path, sample_csv, args.embed)
            e = work / "embed"
            shutil.rmtree(e, ignore_errors=True)
            embedded = run_child(pool, e, sample_csv, "bench", index=True)

    rates = [f["accepted"] / f["seconds"] for f in firsts]
    cpu_rates = [f["accepted"] / f["cpu_seconds"] for f in firsts]
    cpu_p50 = sorted(cpu_rates)[len(cpu_rates) // 2]
    secs = [f["seconds"] * 1e3 for f in firsts]
    lat = Latency.of(secs)
    p50_rate = sorted(rates)[len(rates) // 2]
    first_s = lat.p50 / 1e3
    peak = max(f["peak_mb"] for f in firsts + [same, changed])
    index_s = embedded["phases"].get("index", float("nan"))
    embed_rate = embedded["embedded"] / index_s if index_s else float("nan")
    result = {
        "products": args.products,
        "rows": rows,
        "csv_mb": size_mb,
        "generate_s": gen_s,
        "first_import": {
            "runs": firsts,
            "seconds_p50": first_s,
            "products_per_s_p50": p50_rate,
            "products_per_s_min": min(rates),
            "products_per_s_max": max(rates),
            "rows_per_s_p50": rows / first_s,
            "products_per_cpu_s_p50": cpu_p50,
        },
        "load_average": [load0, os.getloadavg()],
        "reimport_same": same,
        "reimport_changed": {**changed, "changed_products": n_changed},
        "embedding": {**embedded, "products_per_s": embed_rate},
        "peak_mb": peak,
    }
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print("# Import benchmark\n")
    print(
        f"{args.products:,} products, {rows:,} rows, {size_mb:.0f} MB Shopify CSV "
        f"(generated in {gen_s:.1f}s); {cores} cores; each import in a fresh process.\n"
    )
    load1 = os.getloadavg()
    print(
        f"Load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end: on a machine "
        "shared with other work, wall time stretches; the importer runs on one core, so its "
        "CPU time (products per CPU second) is what an idle core would see.\n"
    )
    print("## Parse + validate + store (embedding excluded)\n")
    table = [
        [
            "first import (fresh store)",
            f"{first_s:.2f}",
            f"{p50_rate:,.0f} (min {min(rates):,.0f}, max {max(rates):,.0f})",
            f"{rows / first_s:,.0f}",
            f"{firsts[0]['added']:,} added, {firsts[0]['rejected']} rejected",
        ],
        [
            "same file again",
            f"{same['seconds']:.2f}",
            f"{same['accepted'] / same['seconds']:,.0f}",
            f"{rows / same['seconds']:,.0f}",
            f"{same['unchanged']:,} unchanged, {same['updated']} updated",
        ],
        [
            f"{n_changed:,} products changed (1%)",
            f"{changed['seconds']:.2f}",
            f"{changed['accepted'] / changed['seconds']:,.0f}",
            f"{rows / changed['seconds']:,.0f}",
            f"{changed['updated']:,} updated, {changed['unchanged']:,} unchanged",
        ],
    ]
    table[0].insert(3, f"{cpu_p50:,.0f}")
    table[1].insert(3, f"{same['accepted'] / same['cpu_seconds']:,.0f}")
    table[2].insert(3, f"{changed['accepted'] / changed['cpu_seconds']:,.0f}")
    headers = ["run", "seconds (p50)", "products/s (wall)", "products/CPU s", "rows/s", "result"]
    print(markdown_table(headers, table))
    print()
    print(f"- first import p50 {lat.p50 / 1e3:.2f}s over {lat.n} runs (p99 {lat.p99 / 1e3:.2f}s)")
    print(
        f"- products/s / target {TARGET_PRODUCTS_PER_S:,.0f}: wall "
        f"{fmt_ratio(ratio(p50_rate, TARGET_PRODUCTS_PER_S))}, per CPU second "
        f"{fmt_ratio(ratio(cpu_p50, TARGET_PRODUCTS_PER_S))}"
    )
    print(
        f"- re-import of the same file / first import: "
        f"{fmt_ratio(ratio(same['seconds'], first_s))}; with 1% changed: "
        f"{fmt_ratio(ratio(changed['seconds'], first_s))}"
    )
    print(
        f"- peak memory {peak:,.0f} MB (the process held {firsts[0]['before_mb']:,.0f} MB "
        f"before importing); / target {TARGET_PEAK_MB:,.0f} MB: "
        f"{fmt_ratio(ratio(peak, TARGET_PEAK_MB))}"
    )
    phases = firsts[0]["phases"]
    print(
        f"- phases of the first run: parse+validate+diff {phases.get('parse', 0):.2f}s, "
        f"store (one transaction) {phases.get('store', 0):.2f}s"
    )
    print("\n## Embedding and indexing (separately)\n")
    if not args.embed:
        print("- not measured (--embed 0)")
    else:
        print(
            f"- {embedded['embedded']:,} products embedded and written to Chroma in {index_s:.1f}s: "
            f"{embed_rate:,.1f} products/s (model loaded first, in "
            f"{embedded.get('model_load_s', 0):.1f}s); the whole catalogue at that rate: "
            f"{args.products / embed_rate / 60:,.1f} min"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
