"""`import_products`: parse, validate, diff by row hash, commit all-or-nothing, then index."""

from __future__ import annotations

from pathlib import Path

from ..settings import Settings
from .report import ImportReport


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
) -> ImportReport:
    raise NotImplementedError("landing next")
