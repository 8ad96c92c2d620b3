"""The `shopassist` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

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


@command("enrich")
def cmd_enrich(args: argparse.Namespace, settings: Settings) -> int:
    """LLM-enrich the catalogue (resumable, cached), or with --shipped only load the shipped
    file; then re-embed what the enrichment changed when the catalogue is indexed."""
    from retrieval.db import Database
    from retrieval.enrichment import CacheKey, EnrichmentStore, shipped_file
    from retrieval.sources import get_source

    products = get_source(settings.catalogue, settings).load(settings.raw_dir).products
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = EnrichmentStore(Database(settings.resolved_database_url))
    if args.shipped:
        path = shipped_file(settings.catalogue)
        have = store.lookup(products)
        missing = [p for p in products if p.id not in have]
        n = store.import_file(path, missing) if path.is_file() and missing else 0
        sys.stdout.write(f"loaded {n} enrichments from {path} ({len(have)} already cached)\n")
    else:
        from .enrich import PROMPT_VERSION, llamacpp_completer, run_enrichment

        complete, sha = llamacpp_completer(
            args.model, settings.models_dir, args.threads or settings.torch_threads, args.parallel
        )
        key = CacheKey(sha, PROMPT_VERSION)
        report = run_enrichment(
            products,
            store,
            complete,
            key,
            parallel=args.parallel,
            refresh=args.refresh,
            limit=args.limit,
            progress=not args.quiet,
        )
        sys.stdout.write(f"enrich: {report.line()}\n")
        if args.export is not None:
            path = Path(args.export) if args.export else shipped_file(settings.catalogue)
            n = store.export(path, products, key, settings.catalogue)
            sys.stdout.write(f"wrote {n} enrichments to {path}\n")
    stack = _stack(settings)
    if settings.enrichment and not args.no_index and stack.is_indexed() and stack.pending():
        r = stack.index(progress=not args.quiet)
        sys.stdout.write(f"re-embedded {r.embedded} products ({r.enriched} enriched)\n")
    return 0


def _lines(prompt: str) -> Iterator[str]:
    """What the user types at `prompt`, line by line, until an empty line or end of input."""
    while True:
        try:
            line = input(prompt).strip()
        except EOFError:
            return
        if not line:
            return
        yield line


def _print_hits(hits, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps([h.as_json() for h in hits], indent=2) + "\n")
        return
    for n, h in enumerate(hits, 1):
        p = h.product
        sys.stdout.write(
            f"{n:2}. {p.name}  [{p.sub_category}]  ${p.price:,.2f}  (score {h.score:.3f}, {p.id})\n"
        )


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
    for query in _lines("search> "):
        run(query)
    return 0


@command("home")
def cmd_home(args: argparse.Namespace, settings: Settings) -> int:
    from retrieval.home import build_home

    stack = _stack(settings)
    svc = stack.recommendations()
    user = args.user or None
    if user and not svc.profile(user).n_events and not _customer_exists(stack, user):
        sys.stderr.write(f"error: unknown user {user!r} (use --user '' for a new visitor)\n")
        return 1
    page = build_home(svc, user, per_section=args.k)
    if args.json:
        sys.stdout.write(json.dumps(page.as_json(), indent=2) + "\n")
        return 0
    sys.stdout.write(f"Home page for {user or 'a new visitor'}: {page.profile_summary}\n")
    for section in page.sections:
        sys.stdout.write(f"\n## {section.title}\n")
        for item in section.items:
            sys.stdout.write(
                f"  - {item.name} [{item.sub_category}] ${item.price:,.2f}: {item.reason}\n"
            )
    return 0


def _customer_exists(stack: RetrievalStack, user_id: str) -> bool:
    from retrieval.db import CustomerRow

    with stack.db.session() as s:
        return s.get(CustomerRow, user_id) is not None


@command("train")
def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from retrieval.scoring import FEATURES
    from retrieval.train import TrainConfig, train_scoring_model

    if args.if_missing and (settings.scoring_dir / "LATEST").exists():
        return 0
    stack = _stack(settings)
    svc = stack.recommendations()
    try:
        model = train_scoring_model(
            svc.items,
            svc.interaction_log(),
            TrainConfig(negatives=args.negatives, epochs=args.epochs),
        )
    except ValueError as exc:
        if not args.if_missing:
            raise
        # A new store (an import without orders yet): the default weights serve until then.
        sys.stderr.write(f"not training yet ({exc}); the default weights serve\n")
        return 0
    path = model.save(settings.scoring_dir)
    sys.stdout.write(f"saved scoring model {model.version} to {path}\n")
    sys.stdout.write(
        json.dumps(
            {
                "meta": model.meta,
                "weights": dict(zip(FEATURES, map(float, model.weights), strict=True)),
            },
            indent=2,
        )
        + "\n"
    )
    return 0


@command("ab-report")
def cmd_ab_report(args: argparse.Namespace, settings: Settings) -> int:
    from retrieval.ab import ab_report, load_experiments

    stack = _stack(settings)
    names = (
        [args.experiment]
        if args.experiment
        else sorted(load_experiments(settings.experiments_file))
    )
    reports = [ab_report(stack.db, n) for n in names]
    if args.json:
        from dataclasses import asdict

        sys.stdout.write(json.dumps([asdict(r) for r in reports], indent=2) + "\n")
    else:
        for r in reports:
            sys.stdout.write(
                f"## {r.experiment}\n{r.markdown() if r.variants else 'no data yet'}\n\n"
            )
    return 0


def _runtime(settings: Settings):
    from .runtime import Runtime

    return Runtime.build(settings, load_llm=settings.llm_backend != "none")


def _print_reply(rt, state, message: str) -> None:
    """The assistant's reply to `message`, printed as it streams."""
    for piece in rt.agent.stream(state, message):
        if isinstance(piece, str):
            sys.stdout.write(piece)
            sys.stdout.flush()
    sys.stdout.write("\n")


@command("ask")
def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from .conversation import ConversationState

    rt = _runtime(settings)
    state = ConversationState(user_id=args.user or None)
    if args.json:
        reply = rt.agent.turn(state, " ".join(args.message))
        sys.stdout.write(json.dumps(reply.as_json(), indent=2, default=str) + "\n")
        return 0
    _print_reply(rt, state, " ".join(args.message))
    return 0


@command("chat")
def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from .conversation import ConversationState

    rt = _runtime(settings)
    state = ConversationState(user_id=args.user or None)
    who = args.user or "a new visitor"
    sys.stdout.write(f"Chatting as {who} (model: {rt.llm_status}). Empty line to quit.\n")
    for message in _lines("you> "):
        sys.stdout.write("assistant> ")
        _print_reply(rt, state, message)
    return 0


@command("store")
def cmd_store(args: argparse.Namespace, settings: Settings) -> int:
    """Harness commands: restore the active store's pristine data, or export it (tau2 shape)."""
    from retrieval.store_state import export_store, reset_store

    stack = _stack(settings)
    if args.action == "reset":
        n = reset_store(settings, stack.db)
        sys.stdout.write(f"restored {settings.catalogue}: {n} live orders\n")
        return 0
    if not args.json:
        sys.stderr.write("error: `store export` needs --json FILE\n")
        return 2
    data = export_store(stack.db)
    text = json.dumps(data, indent=1, ensure_ascii=False)
    if args.json == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shopassist", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("index", help="build or refresh the catalogue index (incremental)")
    s.add_argument("--if-missing", action="store_true", help="do nothing if already indexed")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser(
        "enrich", help="LLM-enrich every product (type, use, attributes); resumable, cached"
    )
    s.add_argument("--refresh", action="store_true", help="recompute, ignoring the cache")
    s.add_argument("--model", default="qwen0.5b", help="packaged GGUF model (default qwen0.5b)")
    s.add_argument("--threads", type=int, default=None, help="CPU threads (default: settings)")
    s.add_argument("--parallel", type=int, default=4, help="llama.cpp slots decoding together")
    s.add_argument("--limit", type=int, default=None, help="enrich at most N products now")
    s.add_argument(
        "--export",
        nargs="?",
        const="",
        default=None,
        help="write the gzipped JSONL (default path: the shipped retrieval/enrichments file)",
    )
    s.add_argument(
        "--shipped",
        action="store_true",
        help="no model: load the shipped enrichment file (make index does this)",
    )
    s.add_argument(
        "--no-index", action="store_true", help="do not re-embed the indexed catalogue afterwards"
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("search", help="search the catalogue; interactive without a query")
    s.add_argument("query", nargs="*")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("home", help="the personalised home page for a shopper")
    s.add_argument("--user", default="", help="customer id; empty for a new visitor")
    s.add_argument("-k", type=int, default=8, help="items per section")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("train", help="train the scoring core's weights on the event log")
    s.add_argument("--negatives", type=int, default=30)
    s.add_argument("--epochs", type=int, default=400)
    s.add_argument("--if-missing", action="store_true", help="do nothing if a model exists")

    s = sub.add_parser("ab-report", help="CTR per variant with confidence intervals")
    s.add_argument("--experiment", default=None)
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("ask", help="answer one chat turn")
    s.add_argument("--user", default="", help="signed-in customer id; empty for anonymous")
    s.add_argument("message", nargs="+")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("chat", help="interactive chat in the terminal")
    s.add_argument("--user", default="")

    s = sub.add_parser("store", help="reset or export the active store's live data (harnesses)")
    s.add_argument("action", choices=["reset", "export"])
    s.add_argument(
        "--json", default=None, metavar="FILE", help="export: where to write (- = stdout)"
    )

    for extra in _extra_parsers():
        extra(sub)
    return p


def _extra_parsers() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Sub-commands that live next to their code: each `register(sub)` adds a parser with
    `set_defaults(handler=fn)` where fn(args, settings) -> exit code."""
    out = []
    for module in ("assistant.privacy", "retrieval.evaluation.cli", "retrieval.importing.cli"):
        try:
            out.append(__import__(module, fromlist=["register"]).register)
        except ImportError as exc:
            if not (exc.name and module.startswith(exc.name)):  # present but broken: say so
                raise
    return out + [
        _eval_parser(name, module, help) for name, (module, help) in EVAL_COMMANDS.items()
    ]


# Evaluations are not part of the installed package: they live in `evals/` in a source checkout.
EVAL_COMMANDS = {
    "regress": ("evals.regress.cli", "run the prompt regression suite (golden cases)"),
    "red-team": ("evals.redteam.cli", "run the red-team attacks and report leaks"),
    "tau2": ("evals.tau2.cli", "replay the tau2-bench retail train tasks and compare end states"),
}


def _evals_root() -> Path | None:
    """The source checkout holding `evals/`: the one this package was imported from (an
    editable install), else the working directory. None when neither has it (an installed wheel).
    """
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (root / "evals" / "__init__.py").is_file():
            return root
    return None


def _eval_parser(name: str, module: str, help: str) -> Callable[[argparse._SubParsersAction], None]:
    """`register` from the evals module, imported only now (the console script does not put the
    checkout on sys.path, so it is added); a stub that explains itself when there is none."""
    root = _evals_root()
    if root is not None:
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        try:
            return __import__(module, fromlist=["register"]).register
        except ImportError as exc:
            if not (exc.name and module.startswith(exc.name)):  # present but broken: say so
                raise

    def unavailable(args: argparse.Namespace, settings: Settings) -> int:
        sys.stderr.write(
            f"error: `shopassist {name}` runs the evaluations in evals/, which are not part of "
            "the installed package: run it from the root of a source checkout of shopassist\n"
        )
        return 2

    def register(sub: argparse._SubParsersAction) -> None:
        # No "-" options: whatever follows (--model, -h) is taken as is and the handler explains.
        s = sub.add_parser(
            name, help=f"{help} (source checkout only)", add_help=False, prefix_chars="+"
        )
        s.add_argument("args", nargs="*")
        s.set_defaults(handler=unavailable)

    return register


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    settings = get_settings()
    try:
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        return handler(args, settings)
    except (CatalogueNotIndexed, VectorStoreUnavailable, FileNotFoundError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
