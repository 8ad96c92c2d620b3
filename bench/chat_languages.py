"""Chat turn latency in Chinese against the same requests in English (issue 13's target: no
worse than English by more than 20%).

The pairs are the hand-written Chinese versions of the labelled Superstore queries
(evals/search/translations_zh.yaml) and their English originals. Each request is one chat turn
of the real agent, signed in as the same shopper, with the configured model (the default:
Qwen2.5-Coder-0.5B on llama.cpp) or none. The two languages alternate request by request, so a
busy spell of the machine hits both; the first pair only warms the prompt caches and is not
counted.

    .venv/bin/python bench/chat_languages.py                 # 12 pairs, the configured model
    .venv/bin/python bench/chat_languages.py --pairs 20 --backend none --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import REPO, Latency, timed  # noqa: E402

from assistant.agent import Agent  # noqa: E402
from assistant.conversation import ConversationState  # noqa: E402
from evals.backend import chat_model  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from retrieval.stack import RetrievalStack  # noqa: E402

SHOPPER = "CG-12520"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=12)
    p.add_argument("--backend", default=None, help="none, llamacpp, ... (default: configured)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pairs = yaml.safe_load((REPO / "evals/search/translations_zh.yaml").read_text("utf-8"))
    pairs = pairs[: args.pairs + 1]
    stack = RetrievalStack.build(Settings())
    agent = Agent(stack, chat_model(stack.settings, args.backend))
    samples: dict[str, list[float]] = {"en": [], "zh": []}
    written: dict[str, int] = {"en": 0, "zh": 0}
    for n, pair in enumerate(pairs):
        for lang in ("en", "zh") if n % 2 else ("zh", "en"):
            reply, ms = timed(
                lambda lang=lang, pair=pair: agent.turn(
                    ConversationState(user_id=SHOPPER), pair[lang]
                )
            )
            if n == 0:
                continue  # warm-up
            samples[lang].append(ms)
            written[lang] += bool(reply.generated)
    en, zh = Latency.of(samples["en"]), Latency.of(samples["zh"])
    print(f"model: {args.backend or stack.settings.llm_backend}   pairs: {len(pairs) - 1}")
    print(f"{'language':10} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9} {'model-written':>14}")
    for lang, lat in (("en", en), ("zh", zh)):
        share = f"{written[lang]}/{lat.n}"
        print(f"{lang:10} {lat.p50:9.0f} {lat.p99:9.0f} {lat.mean:9.0f} {share:>14}")
    print(f"zh / en: p50 {zh.p50 / en.p50:.2f}x, p99 {zh.p99 / en.p99:.2f}x, mean "
          f"{zh.mean / en.mean:.2f}x (target: <= 1.20x)")  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps({"en": en.as_json(), "zh": zh.as_json(), "model_written": written}) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
