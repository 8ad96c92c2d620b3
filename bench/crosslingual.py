"""Cross-lingual search benchmark (issue 13): Chinese queries against the English Superstore
catalogue, with each embedder, straight or rewritten into English by the command step.

The catalogue is indexed through the app's own indexer (name + category + the shipped
enrichment) once per embedder, in a temporary data dir (only data/raw and the trained scoring
model under data/models are read). Then every labelled query runs through
`RecommendationService.recommend` (search → scoring core → MMR, anonymous shopper, k=10) and is
scored with nDCG@10 against evals/search/queries_zh.yaml (67 Chinese queries, each with its
English counterpart's labels) and evals/search/queries.yaml:

- Chinese, straight: the whole message is embedded as written; only its budget is read;
- Chinese, constraint parser: `retrieval.constraints.parse` as search runs it, which reads
  filters (budget, categories, brands) from the message's English reading and embeds the
  Chinese left once they are taken out;
- Chinese, English reading: the message as `retrieval.chinese.english_reading` writes it in
  English (the rules' reading), through the parser;
- Chinese, command step: one turn of the real agent without a model (guards, the rules fast path
  and fallback, the command checks) reads the message into a search; its constraints (the
  rewritten query words, budget, categories) are searched with, as the turn does;
- English, constraint parser and command step: the same queries as written in queries.yaml.

The baseline is English, constraint parser, MiniLM: the behaviour before issue 13. Ratios are against it,
measured in the same run, and the last table compares each Chinese path with the same queries
in English on the same embedder (the issue's target: within 10%).

    .venv/bin/python bench/crosslingual.py                      # both embedders (~5 min)
    .venv/bin/python bench/crosslingual.py --workdir /tmp/xl     # keep the index for a rerun
    .venv/bin/python bench/crosslingual.py --limit 10 --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import REPO, Latency, fmt_ms, fmt_num, fmt_ratio, markdown_table, ratio, timed  # noqa: E402

from retrieval.settings import EmbedderName, apply_offline_env, get_settings  # noqa: E402

log = logging.getLogger("bench.crosslingual")
K = 10
EMBEDDERS: tuple[EmbedderName, ...] = ("minilm", "e5-small")
PATHS = (
    ("zh-straight", "Chinese, straight into the embedder (budget read, nothing rewritten)"),
    (
        "zh-parser",
        "Chinese, constraint parser (filters from its English reading, Chinese embedded)",
    ),
    ("zh-reading", "Chinese, its English reading (retrieval.chinese) through the parser"),
    ("zh-command", "Chinese, rewritten into English by the command step (rules)"),
    ("en-parser", "English, constraint parser (as before)"),
    ("en-command", "English, through the command step (rules)"),
)
BASELINE = ("en-parser", "minilm")
# What the command step's reading of Chinese rests on (named in the report with its commit).
READING_PATHS = (
    "assistant/commands",
    "assistant/router.py",
    "retrieval/chinese.py",
    "retrieval/chinese.yaml",
    "retrieval/constraints.py",
)
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass
class Setup:
    embedder: str
    stack: Any  # retrieval.stack.RetrievalStack
    service: Any  # retrieval.recommend.RecommendationService
    agent: Any  # assistant.agent.Agent
    index_s: float
    embedded: int


def build(workdir: Path, embedder: EmbedderName, threads: int) -> Setup:
    """The catalogue indexed with `embedder` (reused when `workdir` already holds it)."""
    from assistant.agent import Agent
    from retrieval.events import seed_purchases_from_orders
    from retrieval.recommend import RecommendationService
    from retrieval.scoring import ScoringModel
    from retrieval.stack import RetrievalStack

    data_dir = workdir / embedder
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in ("raw", "models"):  # the fetched data and the trained scoring model, read-only
        if not (data_dir / name).exists():
            (data_dir / name).symlink_to(REPO / "data" / name, target_is_directory=True)
    settings = get_settings(
        data_dir=data_dir,
        chroma_url=None,
        database_url=None,
        embedder=embedder,
        torch_threads=threads,
        llm_backend="none",
    )
    stack = RetrievalStack.build(settings)
    stack.encoder.encode(["warm up the model"])  # model load is not indexing time
    t = time.perf_counter()
    embedded = 0
    if not stack.is_indexed():
        log.info("indexing the catalogue with %s in %s", embedder, data_dir)
        embedded = stack.index().embedded
        seed_purchases_from_orders(stack.db)
    index_s = time.perf_counter() - t
    model = ScoringModel.load_latest(settings.scoring_dir)
    service = RecommendationService(
        stack.catalogue, stack.db, stack.clock(), model, search=stack.search()
    )
    return Setup(embedder, stack, service, Agent(stack, None), index_s, embedded)


def command_step(setup: Setup, message: str) -> tuple[Any, str, list[dict]]:
    """One model-less agent turn on a fresh conversation: the constraints its search ran with
    (None when the message was not read as a search), the reply's intent and its commands."""
    from assistant.conversation import ConversationState

    state = ConversationState(user_id=None)
    reply = setup.agent.turn(state, message)
    searched = reply.intent in ("recommend", "refine")
    return (state.constraints if searched else None), reply.intent, reply.commands


def run_path(setup: Setup, path: str, queries: list[Any]) -> dict:
    from evals.search.labels import ndcg_at, precision_at
    from retrieval.constraints import ConstraintError, Constraints, parse
    from retrieval.recommend import query_with_attributes

    vocab = setup.stack.catalogue.vocabulary
    per_query = []
    lat: list[float] = []
    for q in queries:
        text = q.query
        intent, commands = "recommend", list[dict]()
        c: Constraints | None
        if path.endswith("command"):
            c, intent, commands = command_step(setup, text)
        else:
            if path.endswith("reading"):
                from retrieval.chinese import english_reading

                text = english_reading(text)
            try:
                c = parse(text, vocab)
            except ConstraintError:
                c = Constraints(text=text)
            if path.endswith("straight"):  # the whole message embedded, only the budget read
                c = Constraints(
                    text=text,
                    min_price=c.min_price,
                    max_price=c.max_price,
                    min_exclusive=c.min_exclusive,
                    max_exclusive=c.max_exclusive,
                )
        ids: list[str] = []
        searched_with = ""
        if c is not None:
            searched_with = query_with_attributes(c.text, c.attributes)
            recs, ms = timed(partial(setup.service.recommend, None, c, K, query_text=searched_with))
            lat.append(ms)
            ids = [r.id for r in recs.items]
        per_query.append(
            {
                "query": q.query,
                "read_as": text,
                "english": q.english,
                "intent": intent,
                "searched": c is not None,
                "searched_with": searched_with,
                "where": c.to_where() if c is not None else None,
                "commands": commands,
                "ndcg_at_10": ndcg_at(ids, q.relevant, K),
                "precision_at_3": precision_at(ids, q.relevant, 3),
                "top3": [setup.service.catalogue.get(i).name for i in ids[:3]],
            }
        )
    return {
        "ndcg_at_10": float(np.mean([r["ndcg_at_10"] for r in per_query])),
        "precision_at_3": float(np.mean([r["precision_at_3"] for r in per_query])),
        "not_searched": sum(not r["searched"] for r in per_query),
        "chinese_left": sum(bool(_CJK.search(r["searched_with"])) for r in per_query),
        "latency": Latency.of(lat).as_json(),
        "per_query": per_query,
    }


def query_latency(setup: Setup, texts: list[str]) -> dict:
    enc = setup.stack.encoder
    enc.encode_one(texts[0])
    return Latency.of([timed(partial(enc.encode_one, t))[1] for t in texts]).as_json()


def rules_vocabulary_note() -> str:
    """What the command step's Chinese reading rests on at the time of the run (git)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h %cs %<(60,trunc)%s", "--", *READING_PATHS],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *READING_PATHS],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return out + (" (with uncommitted changes)" if dirty else "")


def render(result: dict) -> str:
    m = result["meta"]
    lines = [
        "# Cross-lingual search benchmark",
        "",
        f"{m['machine']}. {m['queries']} labelled queries, each in Chinese "
        "(evals/search/queries_zh.yaml) and English (evals/search/queries.yaml); "
        f"RecommendationService.recommend, anonymous shopper, k={K}, scoring model "
        f"{m['scoring_model']}. Command step: assistant/commands as of {m['commands_at']}. "
        "Ratios against English, constraint parser, MiniLM (the behaviour before), measured in "
        "this run.",
        "",
    ]
    base = result["results"][BASELINE[1]][BASELINE[0]]["ndcg_at_10"]
    rows = []
    for key, label in PATHS:
        row = [label]
        for emb in EMBEDDERS:
            r = result["results"][emb][key]
            row += [fmt_num(r["ndcg_at_10"]), fmt_ratio(ratio(r["ndcg_at_10"], base))]
        rows.append(row)
    headers = ["query path"]
    for emb in EMBEDDERS:
        headers += [f"nDCG@10 {emb}", "vs baseline"]
    lines.append(markdown_table(headers, rows))
    lines += ["", "Chinese against the same queries in English, same embedder and path:", ""]
    rows = []
    for emb in EMBEDDERS:
        r = result["results"][emb]
        for zh, en in (
            ("zh-straight", "en-parser"),
            ("zh-parser", "en-parser"),
            ("zh-reading", "en-parser"),
            ("zh-command", "en-command"),
        ):
            rows.append(
                [
                    emb,
                    zh.split("-")[1],
                    fmt_num(r[zh]["ndcg_at_10"]),
                    fmt_num(r[en]["ndcg_at_10"]),
                    fmt_ratio(ratio(r[zh]["ndcg_at_10"], r[en]["ndcg_at_10"])),
                    fmt_num(r[zh]["precision_at_3"]),
                    str(r[zh]["not_searched"]),
                    str(r[zh]["chinese_left"]),
                ]
            )
    lines.append(
        markdown_table(
            [
                "embedder",
                "path",
                "zh nDCG@10",
                "en nDCG@10",
                "zh / en",
                "zh P@3",
                "zh not searched",
                "zh searched with Chinese left",
            ],
            rows,
        )
    )
    lines += ["", "Index and query cost:", ""]
    rows = []
    for emb in EMBEDDERS:
        s = result["embedders"][emb]
        rows.append(
            [
                emb,
                str(s["embedded"]) if s["embedded"] else "reused",
                f"{s['index_s']:.0f}",
                fmt_ms(s["query_embed"]["p50_ms"]),
                fmt_ms(s["query_embed"]["p99_ms"]),
                fmt_ms(result["results"][emb]["zh-straight"]["latency"]["p50_ms"]),
            ]
        )
    lines.append(
        markdown_table(
            [
                "embedder",
                "products embedded",
                "index s",
                "zh query embed p50 ms",
                "p99 ms",
                "recommend p50 ms",
            ],
            rows,
        )
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="only the first N queries")
    ap.add_argument("--threads", type=int, default=2, help="embedding threads")
    ap.add_argument("--json", type=Path, default=None, help="also write every number here")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="data dirs to use and keep (an index already there is reused); default: a fresh "
        "temporary one, removed after",
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(message)s",
    )
    apply_offline_env()
    from evals.search.labels import QUERIES, QUERIES_ZH, load_queries

    zh = load_queries(QUERIES_ZH)[: args.limit]
    by_en = {q.query: q for q in load_queries(QUERIES)}
    en = [by_en[q.english] for q in zh]
    sets = {"zh": zh, "en": en}
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shopassist-xl-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        result: dict = {
            "meta": {
                "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), Python "
                f"{platform.python_version()}",
                "queries": len(zh),
                "commands_at": rules_vocabulary_note(),
            },
            "embedders": {},
            "results": {},
        }
        for emb in EMBEDDERS:
            setup = build(workdir, emb, args.threads)
            result["meta"]["scoring_model"] = setup.service.model.version
            result["embedders"][emb] = {
                "index_s": setup.index_s,
                "embedded": setup.embedded,
                "query_embed": query_latency(setup, [q.query for q in zh]),
            }
            result["results"][emb] = {
                key: run_path(setup, key, sets[key.split("-")[0]]) for key, _ in PATHS
            }
            log.info("%s done", emb)
        print(render(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        return 0
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
