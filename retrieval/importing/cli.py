"""`shopassist import <kind> FILE`: products here; orders and customers register themselves in
`IMPORT_KINDS` (a configure function for their arguments and a handler)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings

Handler = Callable[[argparse.Namespace, "Settings"], int]
Configure = Callable[[argparse.ArgumentParser], None]


def common_arguments(p: argparse.ArgumentParser) -> None:
    """The options every import kind takes."""
    p.add_argument("file", type=Path, help="the export to import (CSV or JSONL)")
    p.add_argument(
        "--store",
        default=None,
        help="the imported store's name (lower-case, e.g. acme-outfitters); default: "
        "SHOPASSIST_CATALOGUE when it names an imported store",
    )
    p.add_argument("--mapping", type=Path, default=None, help="YAML column mapping (generic files)")
    p.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    p.add_argument(
        "--max-errors",
        type=int,
        default=0,
        metavar="N",
        help="rejected records tolerated (default 0); beyond it nothing is written, exit 1",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _products_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=["shopify", "woocommerce", "csv", "jsonl"],
        default=None,
        help="the file's format (default: detected from the header)",
    )
    p.add_argument("--prune", action="store_true", help="remove products the file no longer has")
    p.add_argument("--display-name", default=None, help="the store's name as shoppers see it")
    p.add_argument("--currency", default=None, help="ISO code (default: from the prices, else USD)")
    p.add_argument(
        "--no-index", action="store_true", help="store only; embed later with `shopassist index`"
    )


def resolve_store(args: argparse.Namespace, settings: Settings) -> str:
    from .registry import BUILTIN, check_store_name

    name = args.store or (settings.catalogue if settings.catalogue not in BUILTIN else None)
    if not name:
        raise ValueError("name the store to import into: --store NAME")
    return check_store_name(name)


def print_report(args: argparse.Namespace, report) -> int:
    if args.json:
        sys.stdout.write(report.dumps() + "\n")
    else:
        sys.stdout.write(report.summary() + "\n")
    return int(report.exit_code())


def _products(args: argparse.Namespace, settings: Settings) -> int:
    from .products import import_products

    report = import_products(
        settings,
        args.file,
        store=resolve_store(args, settings),
        format=args.format,
        mapping=args.mapping,
        dry_run=args.dry_run,
        max_errors=args.max_errors,
        prune=args.prune,
        display_name=args.display_name,
        currency=args.currency,
        index=not args.no_index,
        progress=not args.quiet and not args.json,
    )
    return print_report(args, report)


def _people_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=["shopify", "csv", "jsonl"],
        default=None,
        help="the file's format (default: detected); a generic file's columns are named by "
        "--mapping, or are the field names themselves",
    )


def _history(args: argparse.Namespace, settings: Settings, kind: str) -> int:
    """`import customers` / `import orders`: the same options, into an existing store."""
    if kind == "customers":
        from .customers import import_customers as run
    else:
        from .orders import import_orders as run
    report = run(
        settings,
        args.file,
        store=resolve_store(args, settings),
        format=args.format,
        mapping=args.mapping,
        dry_run=args.dry_run,
        max_errors=args.max_errors,
        progress=not args.quiet and not args.json,
    )
    return print_report(args, report)


def _customers(args: argparse.Namespace, settings: Settings) -> int:
    return _history(args, settings, "customers")


def _orders(args: argparse.Namespace, settings: Settings) -> int:
    return _history(args, settings, "orders")


# kind → (configure its parser, handle it). Orders and customers add theirs here.
IMPORT_KINDS: dict[str, tuple[str, Configure, Handler]] = {
    "products": ("import a product catalogue", _products_arguments, _products),
    "customers": (
        "import customers (a Shopify customers export, or CSV/JSONL with --mapping)",
        _people_arguments,
        _customers,
    ),
    "orders": (
        "import orders (a Shopify orders export, or CSV/JSONL with --mapping); they become "
        "purchase history and answer order status",
        _people_arguments,
        _orders,
    ),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import", help="import your own store: products, customers or orders from an export"
    )
    kinds = p.add_subparsers(dest="import_kind", required=True)
    for kind, (help, configure, handler) in IMPORT_KINDS.items():
        s = kinds.add_parser(kind, help=help)
        common_arguments(s)
        configure(s)
        s.set_defaults(handler=handler)
