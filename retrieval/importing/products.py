"""`import_products`: a product export into an imported store.

1. **Parse and validate**, streaming: rows are read one at a time (with a progress bar), each
   problem reported with file, line and reason; nothing crashes on bad input.
2. **Diff** each product's row hash against the store's: unchanged products are dropped at
   once; only changed and new ones are staged.
3. **Commit** in one transaction, unless more records were rejected than `max_errors` allows or
   this is a dry run (then nothing is written). The store that was serving keeps serving
   throughout: readers see the old catalogue until the commit.
4. **Index**, after the commit only: the products whose embedded text or metadata changed are
   embedded again (the index hashes decide), removed ones leave Chroma.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from ..db import Database
from ..settings import Settings
from . import generic, shopify, woocommerce
from .common import ParseContext
from .generic import Mapping, MappingError
from .money import check_currency
from .readers import iter_csv, iter_jsonl, read_header
from .registry import StoreRegistry, check_store_name, store_database_url
from .report import ImportReport
from .writer import ImportFailure, Staging, commit, existing_hashes

if TYPE_CHECKING:
    from ..embed import Encoder

log = logging.getLogger(__name__)
FORMATS = ("shopify", "woocommerce", "csv", "jsonl")


def detect_format(path: Path) -> str:
    """shopify / woocommerce from the CSV header, jsonl from the extension or a leading '{',
    else a generic csv."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return "jsonl"
    header = read_header(path)
    if shopify.looks_like(header):
        return "shopify"
    if woocommerce.looks_like(header):
        return "woocommerce"
    return "csv"


@contextlib.contextmanager
def _store_lock(registry: StoreRegistry, store: str) -> Iterator[None]:
    """One import into a store at a time (another waits for nothing: it fails at once)."""
    path = registry.directory(store) / ".import.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ImportFailure(f"another import into {store!r} is running") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _rows(
    fmt: str, path: Path, ctx: ParseContext, mapping: Mapping | None, progress: bool
) -> Iterator[Any]:
    report = ctx.report
    if fmt == "jsonl":
        m = mapping or Mapping.default()
        return generic.parse(iter_jsonl(path, report, progress=progress), ctx, m)
    rows = iter_csv(path, report, progress=progress)
    if fmt == "shopify":
        return shopify.parse(rows, ctx)
    if fmt == "woocommerce":
        return woocommerce.parse(rows, ctx)
    m = mapping or Mapping.default()
    m.check_header(read_header(path), explicit=mapping is not None)
    return generic.parse(rows, ctx, m)


def import_products(
    settings: Settings,
    path: Path,
    *,
    store: str,
    format: str | None = None,
    mapping: Path | None = None,
    dry_run: bool = False,
    max_errors: int = 0,
    prune: bool = False,
    display_name: str | None = None,
    currency: str | None = None,
    index: bool = True,
    progress: bool = False,
    encoder: Encoder | None = None,
) -> ImportReport:
    """Import a product file into `store` (created when new) and return the report. Never
    raises on bad input: problems are in the report, and `report.exit_code()` is non-zero when
    the import was refused or failed."""
    path = Path(path)
    check_store_name(store)
    report = ImportReport("products", store, str(path), format or "auto", dry_run, max_errors)
    registry = StoreRegistry(settings.data_dir)
    try:
        if format is not None and format not in FORMATS:
            raise ImportFailure(f"unknown format {format!r}; choose one of {FORMATS}")
        if not path.is_file():
            raise ImportFailure(f"{path}: no such file")
        report.format = fmt = format or detect_format(path)
        loaded = Mapping.load(mapping) if mapping else None
        known = registry.exists(store)
        manifest = registry.get_or_new(store, display_name)
        store_currency = (
            check_currency(currency)
            if currency
            else (loaded.currency if loaded and loaded.currency else None)
            or (manifest.currency if known else None)
        )
        lock = contextlib.nullcontext() if dry_run else _store_lock(registry, store)
        with lock:
            _run(
                settings,
                path,
                fmt,
                loaded,
                report,
                store_currency,
                prune,
                index,
                progress,
                encoder,
                display_name,
            )
    except (ImportFailure, MappingError, ValueError, OSError) as exc:
        report.failure = str(exc)
    except SQLAlchemyError as exc:  # the transaction rolled back: nothing was written
        log.exception("import into %s failed", store)
        report.failure = f"database error, nothing written: {exc.__class__.__name__}: {exc}"
    return report


def _run(
    settings: Settings,
    path: Path,
    fmt: str,
    mapping: Mapping | None,
    report: ImportReport,
    currency: str | None,
    prune: bool,
    index: bool,
    progress: bool,
    encoder: Encoder | None,
    display_name: str | None,
) -> None:
    store = report.store
    t0 = time.perf_counter()
    registry = StoreRegistry(settings.data_dir)
    fresh = report.dry_run and not registry.exists(store) and not settings.database_url
    # A dry run for a new store creates nothing, not even its database.
    db = None if fresh else Database(store_database_url(settings, store))
    ctx = ParseContext(path.name, report, currency=currency)
    staging = Staging(store, path.name, existing_hashes(db, store))
    for item in _rows(fmt, path, ctx, mapping, progress):
        staging.add(item, ctx)
    removed = staging.removals(ctx, prune)
    staging.check_variant_ids(db, ctx, removed)
    report.currency = ctx.currency or "USD"
    report.added, report.updated = staging.counts()
    report.unchanged, report.removed = staging.unchanged, len(removed)
    report.seconds["parse"] = round(time.perf_counter() - t0, 3)
    if report.exceeded or report.dry_run:
        return
    if not staging.seen and not removed and not staging.existing:
        raise ImportFailure("no products to import")
    t1 = time.perf_counter()
    assert db is not None
    report.kept_referenced = commit(db, staging, removed)
    report.removed -= report.kept_referenced
    report.committed = True
    staging.staged.clear()  # free the staged rows before embedding
    manifest = registry.get_or_new(store, display_name)
    if display_name:
        manifest.display_name = display_name
    manifest.currency = report.currency
    manifest.record(
        {
            "kind": "products",
            "file": str(path),
            "format": fmt,
            "accepted": report.accepted,
            "rejected": report.rejected,
            "added": report.added,
            "updated": report.updated,
            "removed": report.removed,
        },
        changed=bool(report.added or report.updated or report.removed or report.kept_referenced),
    )
    registry.save(manifest)
    report.seconds["store"] = round(time.perf_counter() - t1, 3)
    db.engine.dispose()
    if index:
        _index(settings, report, progress, encoder)


def _index(
    settings: Settings, report: ImportReport, progress: bool, encoder: Encoder | None
) -> None:
    """Embed what the commit changed (after it, never before). A failure here leaves the
    database committed and the old vectors in place: `shopassist index` finishes the job."""
    from ..stack import RetrievalStack

    t = time.perf_counter()
    try:
        stack = RetrievalStack.build(settings.model_copy(update={"catalogue": report.store}))
        if encoder is not None:
            stack.encoder = encoder
        result = stack.index(progress=progress)
        report.embedded = result.embedded
    except Exception as exc:  # Chroma or the model: the catalogue is stored, say what's left
        log.exception("indexing the imported store failed")
        report.failure = (
            f"the products were stored, but embedding them failed ({exc}); "
            f"run `SHOPASSIST_CATALOGUE={report.store} shopassist index`"
        )
    report.seconds["index"] = round(time.perf_counter() - t, 3)
