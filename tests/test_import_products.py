"""Bring your own store (issue 14): product exports from Shopify, WooCommerce and a generic
JSONL with a mapping, each imported into a store of its own, reported row by row, served, and
re-imported incrementally. The fixtures in tests/fixtures/import/ are ours: the same outdoor
store in three formats, each with broken rows, drafts and (Shopify) a BOM and a non-UTF-8 line.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from assistant.agent import Agent
from assistant.cli import main as cli_main
from assistant.conversation import ConversationState
from assistant.llm import ScriptedChatModel
from retrieval.db import Database, ProductRow, VariantRow
from retrieval.importing import ImportReport, StoreRegistry, image_urls
from retrieval.importing.money import PriceError, parse_money
from retrieval.importing.products import detect_format, import_products
from retrieval.importing.registry import display_name_for
from retrieval.importing.tables import ProductDetailRow
from retrieval.sources import get_source
from retrieval.stack import RetrievalStack
from retrieval.store import PRODUCTS

from .conftest import make_settings

FIXTURES = Path(__file__).parent / "fixtures" / "import"
SHOPIFY = FIXTURES / "shopify_products.csv"
WOO = FIXTURES / "woocommerce_products.csv"
JSONL = FIXTURES / "generic_products.jsonl"
MAPPING = FIXTURES / "generic_mapping.yaml"
NAMES = {
    "Trail Rain Jacket",
    "Merino Hiking T-Shirt",
    "Daypack 20L",
    "Insulated Water Bottle",
    "Two-Person Tent",
    "Down Sleeping Bag",
    "Expedition GPS Watch",
    "Trekking Poles",
}
# (store, file, mapping, the broken rows: line → what the reason says, skipped on purpose)
CASES = {
    "shopify": (
        SHOPIFY,
        None,
        {
            25: "unparseable price 'call us'",
            26: "missing price",
            27: "has no product row",
            29: "duplicate SKU 'NP-DP20-RED' (first on line 11)",
            30: "unknown currency symbol '₿'",
        },
        {"draft": 1, "archived": 1},
    ),
    "woo": (
        WOO,
        None,
        {
            28: "unparseable price 'call us'",
            29: "missing price",
            30: "Parent 'id:999' is not a variable product",
            31: "duplicate SKU 'NP-DP20-RED' (first on line 13)",
            32: "unknown currency symbol '₿'",
        },
        {"draft": 1, "private": 1},
    ),
    "jsonl": (
        JSONL,
        MAPPING,
        {
            19: "unparseable price 'call us'",
            20: "missing price",
            21: "not valid JSON",
            22: "duplicate SKU 'NP-DP20-RED' (first on line 9)",
            23: "unknown currency symbol '₿'",
        },
        {"draft": 1},
    ),
}


def _import(settings, file: Path, store: str, encoder, **kwargs) -> ImportReport:
    return import_products(settings, file, store=store, encoder=encoder, **kwargs)


@pytest.fixture(scope="module")
def stores(tmp_path_factory, encoder) -> dict[str, tuple[RetrievalStack, ImportReport]]:
    """Each fixture imported into a store of its own (its own data dir, so its own database in
    the PostgreSQL pass too), served by its own stack."""
    out = {}
    for store, (file, mapping, _bad, _skipped) in CASES.items():
        settings = make_settings(tmp_path_factory.mktemp(store), llm_backend="none")
        report = _import(settings, file, store, encoder, mapping=mapping, max_errors=5)
        served = settings.model_copy(update={"catalogue": store})
        stack = RetrievalStack.build(served)
        stack.encoder = encoder
        out[store] = (stack, report)
    return out


# Reports -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("store", list(CASES))
def test_each_format_imports_and_reports_broken_rows_with_their_lines(stores, store):
    stack, report = stores[store]
    file, _mapping, bad, skipped = CASES[store]
    assert report.ok and report.committed, report.summary()
    assert report.format == {"shopify": "shopify", "woo": "woocommerce", "jsonl": "jsonl"}[store]
    assert {e.line: e.file for e in report.errors} == dict.fromkeys(bad, file.name)
    for e in report.errors:
        assert bad[e.line] in e.reason, (e.line, e.reason)
    assert report.rejected == len(bad) == 5
    assert dict(report.skipped) == skipped
    names = {p.name for p in stack.catalogue.products}
    assert names >= NAMES and not names & {"Camp Stove", "Old Canteen", "Guided Tour Voucher"}
    assert report.added == report.accepted == len(names)
    assert report.embedded == report.accepted and stack.store.count(PRODUCTS) == len(names)
    summary = report.summary()
    for line in bad:
        assert f"{file.name}:{line}: error" in summary


def test_shopify_bom_non_utf8_and_bad_image_urls_are_warnings(stores):
    _stack, report = stores["shopify"]
    warnings = {(w.line, w.reason.split(";")[0]) for w in report.warnings}
    assert (22, "not valid UTF-8") in warnings  # read as Windows-1252, the row kept
    assert any(w.line == 22 and "javascript:" in w.reason for w in report.warnings)
    poles = stores["shopify"][0].catalogue.get("trekking-poles")
    assert "Légère carbon poles" in poles.features  # the BOM did not hide the Handle column


@pytest.mark.parametrize("store", list(CASES))
def test_the_catalogue_model_holds_variants_clean_text_images_and_regular_prices(stores, store):
    stack, _report = stores[store]
    cat = stack.catalogue
    jacket = next(p for p in cat.products if p.name == "Trail Rain Jacket")
    assert jacket.price == 129.0 and jacket.brand == "Northpeak"
    assert "waterproof, breathable shell for wet hikes & windy ridges" in jacket.features
    assert "Sealed seams. Packs into its own pocket" in jacket.features
    assert "<" not in jacket.features and "track()" not in jacket.features
    tent = next(p for p in cat.products if p.name == "Two-Person Tent")
    assert "Light and quick. Sets up in three minutes." in tent.features
    watch = next(p for p in cat.products if p.name == "Expedition GPS Watch")
    assert watch.price == 1299.0  # "$1,299.00"
    with stack.db.session() as s:
        variants = {
            v.id: v for v in s.scalars(select(VariantRow).where(VariantRow.product_id == jacket.id))
        }
        detail = s.get(ProductDetailRow, jacket.id)
    assert set(variants) == {"NP-RJ-BLK-M", "NP-RJ-BLK-L", "NP-RJ-GRN-M", "NP-RJ-GRN-L"}
    assert variants["NP-RJ-GRN-M"].options == {"color": "Green", "size": "M"}
    assert not variants["NP-RJ-GRN-L"].available and variants["NP-RJ-BLK-L"].available
    # The compare-at / regular price is kept as a fact, never turned into a discount.
    assert detail is not None and detail.regular_price == 159.0
    assert "159" not in jacket.features and "%" not in jacket.features
    assert image_urls(stack.db, [jacket.id])[jacket.id].endswith("rain-jacket-black.jpg")
    assert stack.store_name == display_name_for(store)  # the import's, not a constant
    assert stack.currency == "USD"


def test_detect_format_from_the_header():
    assert detect_format(SHOPIFY) == "shopify"
    assert detect_format(WOO) == "woocommerce"
    assert detect_format(JSONL) == "jsonl"


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("29.99", 29.99, None),
        ("$1,299.00", 1299.0, "USD"),
        ("1.299,00 €", 1299.0, "EUR"),
        ("EUR 12", 12.0, "EUR"),
        ("12,50", 12.5, None),
        ("1,299", 1299.0, None),
        ("£3", 3.0, "GBP"),
    ],
)
def test_prices_parse(text, amount, currency):
    money = parse_money(text)
    assert (money.amount, money.currency) == (amount, currency)


@pytest.mark.parametrize(
    ("text", "store", "reason"),
    [
        ("call us", None, "unparseable price"),
        ("", None, "missing price"),
        ("₿5", None, "unknown currency symbol"),
        ("-$5", None, "negative price"),
        ("€5", "USD", "is in EUR, but the store's currency is USD"),
    ],
)
def test_bad_prices_say_why(text, store, reason):
    with pytest.raises(PriceError, match=re.escape(reason)):
        parse_money(text, store)


# Chat: the same questions answered on each store ----------------------------------------------------
@pytest.mark.parametrize("store", list(CASES))
def test_the_same_chat_questions_are_answered_on_each_store(stores, store):
    stack, _report = stores[store]
    agent = Agent(stack, None)
    jacket = agent.turn(ConversationState(), "I need a rain jacket")
    assert jacket.products[0].name == "Trail Rain Jacket"
    assert "$129.00" in jacket.text
    tent = agent.turn(ConversationState(), "a tent under $300")
    assert tent.products[0].name == "Two-Person Tent" and tent.products[0].price == 249.0
    state = ConversationState()
    shirt = agent.turn(state, "a merino t-shirt")
    assert shirt.products[0].name == "Merino Hiking T-Shirt"
    size = agent.turn(state, "do you have this in size M?")
    assert size.text.startswith("Yes, Merino Hiking T-Shirt"), size.text
    # The scripted model's words are checked against the imported product's own text.
    good = Agent(stack, ScriptedChatModel(lambda msgs: "[1] is waterproof and breathable."))
    reply = good.turn(ConversationState(), "a waterproof jacket")
    assert reply.generated and not reply.validation_problems, reply.validation_problems
    assert "Trail Rain Jacket is waterproof and breathable." in reply.text
    bad = Agent(stack, ScriptedChatModel(lambda msgs: "[1] is 20% off today, only $99.00."))
    reply = bad.turn(ConversationState(), "a waterproof jacket")
    assert reply.fallback and "$99.00" not in reply.text and "20%" not in reply.text


def test_an_imported_store_is_a_catalogue_source(stores):
    stack, _report = stores["woo"]
    source = get_source("woo", stack.settings)
    assert source.display_name == "Woo" and getattr(source, "in_database", False)
    data = source.load(stack.settings.raw_dir)
    assert {p.name for p in data.products} == {p.name for p in stack.catalogue.products}
    assert stack.is_indexed()
    with pytest.raises(ValueError, match="or an imported store: \\['woo'\\]"):
        get_source("nope", stack.settings)


# Incremental, dry run, max errors, failures ---------------------------------------------------------
def _edit(src: Path, dst: Path, *pairs: tuple[str, str]) -> Path:
    data = src.read_bytes()
    for old, new in pairs:
        assert data.count(old.encode()) >= 1, old
        data = data.replace(old.encode(), new.encode())
    dst.write_bytes(data)
    return dst


def _details(db: Database) -> dict[str, tuple[str, object]]:
    with db.session() as s:
        return {
            r.product_id: (r.row_hash, r.updated_at) for r in s.scalars(select(ProductDetailRow))
        }


@pytest.fixture
def own_store(tmp_path, encoder):
    """A fresh data dir with the Shopify fixture imported into 'outdoor'."""
    settings = make_settings(tmp_path / "data", llm_backend="none")
    report = _import(settings, SHOPIFY, "outdoor", encoder, max_errors=5)
    assert report.ok, report.summary()
    stack = RetrievalStack.build(settings.model_copy(update={"catalogue": "outdoor"}))
    stack.encoder = encoder
    return settings, stack


def test_a_second_import_touches_only_the_changed_rows(own_store, tmp_path, encoder):
    settings, stack = own_store
    before = _details(stack.db)
    assert stack.catalogue.get("two-person-tent").price == 249.0  # a running app serves it
    assert stack._watch is not None
    stack._watch.every = stack._watch._next = 0.0  # look at the manifest at every use
    changed = _edit(
        SHOPIFY,
        tmp_path / "changed.csv",
        ("CW-TENT-2P,,shopify,10,deny,manual,249.00", "CW-TENT-2P,,shopify,10,deny,manual,239.00"),
        ("Keeps drinks cold for 24 hours.", "Keeps drinks cold for 36 hours."),
    )
    again = _import(settings, SHOPIFY, "outdoor", encoder, max_errors=5)
    assert (again.added, again.updated, again.removed, again.embedded) == (0, 0, 0, 0)
    assert again.unchanged == again.accepted == 9 and _details(stack.db) == before
    report = _import(settings, changed, "outdoor", encoder, max_errors=5)
    assert (report.added, report.updated, report.unchanged) == (0, 2, 7), report.summary()
    assert report.embedded == 2  # re-embedded: exactly the two changed products
    after = _details(stack.db)
    moved = {pid for pid in after if after[pid] != before[pid]}
    assert moved == {"two-person-tent", "insulated-water-bottle"}
    with stack.db.session() as s:
        assert s.get(ProductRow, "two-person-tent").price == 239.0
    assert stack.store.existing_hashes(PRODUCTS).keys() == after.keys()
    # The running app reloads the store once the new catalogue is complete (vectors too).
    assert stack.catalogue.get("two-person-tent").price == 239.0
    manifest = StoreRegistry(settings.data_dir).get("outdoor")
    assert manifest.version == manifest.indexed == 2  # the same file again changed nothing
    assert len(manifest.imports) == 3


def test_prune_removes_products_the_file_no_longer_has(own_store, tmp_path, encoder):
    settings, stack = own_store
    lines = SHOPIFY.read_bytes().split(b"\r\n")
    without = tmp_path / "without-gps.csv"
    without.write_bytes(b"\r\n".join(ln for ln in lines if not ln.startswith(b"expedition-gps")))
    kept = _import(settings, without, "outdoor", encoder, max_errors=5)
    assert kept.removed == 0 and kept.ok
    pruned = _import(settings, without, "outdoor", encoder, max_errors=5, prune=True)
    assert pruned.removed == 1 and pruned.ok, pruned.summary()
    with stack.db.session() as s:
        assert s.get(ProductRow, "expedition-gps-watch") is None
        assert not s.scalars(
            select(VariantRow).where(VariantRow.product_id == "expedition-gps-watch")
        ).all()
    assert "expedition-gps-watch" not in stack.store.existing_hashes(PRODUCTS)
    # A product turned draft leaves the store without --prune.
    rows = without.read_bytes().split(b"\r\n")
    k = next(i for i, ln in enumerate(rows) if ln.startswith(b"trekking-poles,"))
    assert rows[k].endswith(b",active")
    rows[k] = rows[k][: -len(b"active")] + b"draft"
    draft = tmp_path / "draft.csv"
    draft.write_bytes(b"\r\n".join(rows))
    report = _import(settings, draft, "outdoor", encoder, max_errors=5)
    assert report.removed == 1 and report.skipped["draft"] == 2, report.summary()
    assert "trekking-poles" not in RetrievalStack.build(stack.settings).catalogue


def test_dry_run_writes_nothing(tmp_path, encoder):
    settings = make_settings(tmp_path / "data", llm_backend="none")
    report = _import(settings, SHOPIFY, "dry", encoder, max_errors=5, dry_run=True)
    assert report.ok and not report.committed and report.added == 9
    assert not (settings.data_dir / "stores").exists()
    assert StoreRegistry(settings.data_dir).names() == []


def test_max_errors_sets_the_exit_code_and_writes_nothing_beyond_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOPASSIST_DATA_DIR", str(tmp_path / "data"))
    args = ["import", "products", str(SHOPIFY), "--store", "strict", "--no-index", "--quiet"]
    assert cli_main(args) == 1
    out = capsys.readouterr().out
    assert "shopify_products.csv:25: error [Variant Price]: unparseable price 'call us'" in out
    assert "REJECTED: 5 rejected records exceed --max-errors 0" in out
    assert not StoreRegistry(tmp_path / "data").exists("strict")
    assert cli_main([*args, "--max-errors", "4"]) == 1
    assert cli_main([*args, "--max-errors", "5"]) == 0
    assert StoreRegistry(tmp_path / "data").get("strict").version == 1
    assert cli_main([*args, "--max-errors", "5", "--dry-run", "--json"]) == 0
    assert '"unchanged": 9' in capsys.readouterr().out


def test_a_failed_import_leaves_the_old_store_serving(own_store, tmp_path, encoder, monkeypatch):
    settings, stack = own_store
    agent = Agent(stack, None)
    assert agent.turn(ConversationState(), "a tent").products[0].price == 249.0
    assert stack._watch is not None
    stack._watch.every = stack._watch._next = 0.0
    before, vectors = _details(stack.db), stack.store.existing_hashes(PRODUCTS)
    changed = _edit(
        SHOPIFY,
        tmp_path / "changed.csv",
        ("CW-TENT-2P,,shopify,10,deny,manual,249.00", "CW-TENT-2P,,shopify,10,deny,manual,199.00"),
    )
    # Too many rejected rows: nothing is written.
    refused = _import(settings, changed, "outdoor", encoder)
    assert refused.exceeded and refused.exit_code() == 1 and not refused.committed
    # The database fails half way through the write: the transaction rolls back.
    from retrieval.importing import writer

    real = writer.bulk_insert
    calls = []

    def failing(conn, model, rows):
        calls.append(model)
        if len(calls) == 2:
            raise writer.ImportFailure("disk full (simulated)")
        real(conn, model, rows)

    monkeypatch.setattr(writer, "bulk_insert", failing)
    failed = _import(settings, changed, "outdoor", encoder, max_errors=5)
    assert failed.failure == "disk full (simulated)" and not failed.committed
    assert _details(stack.db) == before
    assert stack.store.existing_hashes(PRODUCTS) == vectors  # Chroma untouched
    assert agent.turn(ConversationState(), "a tent").products[0].price == 249.0
    fresh = RetrievalStack.build(stack.settings)
    fresh.encoder = encoder
    assert fresh.catalogue.get("two-person-tent").price == 249.0
    assert StoreRegistry(settings.data_dir).get("outdoor").version == 1
    monkeypatch.setattr(writer, "bulk_insert", real)
    done = _import(settings, changed, "outdoor", encoder, max_errors=5)
    assert done.committed and done.updated == 1
    assert agent.turn(ConversationState(), "a tent").products[0].price == 199.0


def test_store_names_are_checked(tmp_path, encoder):
    settings = make_settings(tmp_path / "data", llm_backend="none")
    with pytest.raises(ValueError, match="built-in demo store"):
        _import(settings, SHOPIFY, "superstore", encoder)
    with pytest.raises(ValueError, match="lower-case"):
        _import(settings, SHOPIFY, "My Store", encoder)
    report = _import(settings, tmp_path / "missing.csv", "fine", encoder)
    assert report.failure and "no such file" in report.failure and report.exit_code() == 1
    shutil.rmtree(settings.data_dir / "stores", ignore_errors=True)


def test_a_generic_csv_with_a_mapping(tmp_path):
    settings = make_settings(tmp_path / "data", llm_backend="none")
    items = tmp_path / "items.csv"
    items.write_text(
        "item,label,cost,kind,colour\n"
        'A1,Glazed Mug,"€12,50",Kitchen > Mugs,Blue\n'
        'A1,Glazed Mug,"€12,50",Kitchen > Mugs,Red\n'
        "B2,Teapot,call us,Kitchen > Teapots,\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "id: item\nname: label\nprice: cost\ncategory: kind\noptions:\n  color: colour\n"
    )
    report = import_products(
        settings, items, store="mugs", mapping=mapping, max_errors=1, index=False
    )
    assert report.ok and report.format == "csv" and report.accepted == 1, report.summary()
    assert [(e.line, e.reason) for e in report.errors] == [(4, "unparseable price 'call us'")]
    assert StoreRegistry(settings.data_dir).get("mugs").currency == "EUR"  # from the prices
    data = get_source("mugs", settings).load(settings.raw_dir)
    assert [(p.name, p.price, p.category, p.sub_category) for p in data.products] == [
        ("Glazed Mug", 12.5, "Kitchen", "Mugs")
    ]
    assert sorted(v.options["color"] for v in data.variants) == ["Blue", "Red"]
    mapping.write_text("id: item\nname: label\nprice: cost\nbrand: maker\n")
    typo = import_products(settings, items, store="mugs", mapping=mapping, dry_run=True)
    assert typo.failure == "the file has no column 'maker' (named by the mapping)"
    bare = import_products(settings, items, store="mugs", dry_run=True)
    assert bare.failure and "pass --mapping" in bare.failure
