"""The steps every import of an existing store shares (customers, orders): check the request,
open the store, read the format, hold the store's lock, write all or nothing, record it.

`run_import` never raises on bad input: a refusal or failure is the report's `failure`, and
`report.exit_code()` is non-zero for it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from ..db import Database
from ..settings import Settings
from .columns import MappingError
from .products import _store_lock as store_lock
from .registry import StoreRegistry, check_store_name, store_database_url
from .report import ImportReport
from .writer import ImportFailure

T = TypeVar("T")
# (path, format, the generic file's columns or None, report, registry, database)
Run = Callable[[Path, str, "dict[str, str] | None", ImportReport, StoreRegistry, Database], None]


def open_store(settings: Settings, store: str) -> tuple[StoreRegistry, Database]:
    """The imported store's registry and database; it must exist (products come first)."""
    registry = StoreRegistry(settings.data_dir)
    if not registry.exists(check_store_name(store)):
        raise ImportFailure(
            f"there is no imported store {store!r}: import its products first "
            f"(`shopassist import products FILE --store {store}`)"
        )
    return registry, Database(store_database_url(settings, store))


def run_import(
    kind: str,
    settings: Settings,
    path: Path,
    *,
    store: str,
    format: str | None,
    formats: tuple[str, ...],
    dry_run: bool,
    max_errors: int,
    detect: Callable[[Path], str],
    columns: Callable[[Path, str], dict[str, str]],
    run: Run,
) -> ImportReport:
    """One import of `kind` into an existing store: `detect` reads the format from the file,
    `columns` the generic formats' column mapping, `run` parses and writes."""
    path = Path(path)
    report = ImportReport(kind, store, str(path), format or "auto", dry_run, max_errors)
    try:
        if format is not None and format not in formats:
            raise ImportFailure(f"unknown format {format!r}; choose one of {formats}")
        if not path.is_file():
            raise ImportFailure(f"{path}: no such file")
        registry, db = open_store(settings, store)
        report.format = fmt = format or detect(path)
        mapped = None if fmt == "shopify" else columns(path, fmt)
        with contextlib.nullcontext() if dry_run else store_lock(registry, store):
            run(path, fmt, mapped, report, registry, db)
    except (ImportFailure, MappingError, ValueError, OSError) as exc:
        report.failure = str(exc)
        report.committed = False
    return report


def write_all_or_nothing(db: Database, report: ImportReport, write: Callable[[Session], T]) -> T:
    """`write` in one transaction, committed only when the report allows it (not a dry run, no
    more rejected rows than allowed); the time it took is the report's "store" step."""
    t = time.perf_counter()
    with Session(db.engine) as s:
        tx = s.begin()
        out = write(s)
        if report.dry_run or not report.ok:
            tx.rollback()
        else:
            tx.commit()
            report.committed = True
    report.seconds["store"] = round(time.perf_counter() - t, 3)
    return out


def record_import(
    registry: StoreRegistry, report: ImportReport, path: Path, fmt: str, **extra: Any
) -> None:
    """The committed import in the store's history (its manifest)."""
    manifest = registry.get(report.store)
    manifest.record(
        {
            "kind": report.kind,
            "file": path.name,
            "format": fmt,
            "accepted": report.accepted,
            "rejected": report.rejected,
            **extra,
        }
    )
    registry.save(manifest)
