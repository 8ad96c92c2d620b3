"""The `shopassist` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

from retrieval.constraints import ConstraintError, parse
from retrieval.settings import Settings, get_settings
from retrieval.stack import CatalogueNotIndexed, RetrievalStack
from retrieval.store import VectorStoreUnavailable

log = logging.getLogger("shopassist")
Command = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn

    return register


def _stack(settings: Settings) -> RetrievalStack:
    return RetrievalStack.build(settings)


@command("index")
def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    stack = _stack(settings)
    if args.if_missing and stack.is_indexed():
        log.info("index already built; skipping (use `shopassist index` to refresh)")
        return 0
    report = stack.index(progress=not args.quiet)
    from retrieval.events import seed_purchases_from_orders

    seeded = seed_purchases_from_orders(stack.db)
    sys.stdout.write(
        f"indexed {report.products} products from {report.catalogue} "
        f"({report.embedded} embedded, {report.removed} removed) in {report.seconds:.1f}s; "
        f"{seeded} purchase events seeded from orders\n"
    )
    return 0


def _print_hits(hits, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps([h.as_json() for h in hits], indent=2) + "\n")
        return
    for n, h in enumerate(hits, 1):
        p = h.product
        sys.stdout.write(f"{n:2}. {p.name}  [{p.sub_category}]  ${p.price:,.2f}  "
                         f"(score {h.score:.3f}, {p.id})\n")


@command("search")
def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    search = _stack(settings).search()
    vocab = search.catalogue.vocabulary

    def run(query: str) -> int:
        try:
            c = parse(query, vocab)
        except ConstraintError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
        resp = search.search(c, k=args.k)
        if not args.json:
            desc = c.describe()
            sys.stdout.write(f"{resp.matched} products match{': ' + desc if desc else ''}\n")
        _print_hits(resp.hits, args.json)
        return 0

    if args.query:
        return run(" ".join(args.query))
    sys.stdout.write("Search the catalogue (empty line or Ctrl-D to quit).\n")
    while True:
        try:
            query = input("search> ").strip()
        except EOFError:
            return 0
        if not query:
            return 0
        run(query)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shopassist", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("index", help="build or refresh the catalogue index (incremental)")
    s.add_argument("--if-missing", action="store_true", help="do nothing if already indexed")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("search", help="search the catalogue; interactive without a query")
    s.add_argument("query", nargs="*")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--json", action="store_true")

    for extra in EXTRA_PARSERS:
        extra(sub)
    return p


# Other modules add their sub-commands here (keeps this file small).
EXTRA_PARSERS: list[Callable[[argparse._SubParsersAction], None]] = []


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    settings = get_settings()
    try:
        return COMMANDS[args.command](args, settings)
    except (CatalogueNotIndexed, VectorStoreUnavailable, FileNotFoundError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
