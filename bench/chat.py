"""Chat latency per stage and local decoding speed, per local model.

For each model: time to first shown text, the model's own time to first token, tokens/s, and
full-turn p50/p99 with per-stage timings (routing, retrieval, scoring, generation, validation)
over a fixed set of real shopper messages. The baseline in the same run is the template-only
agent (no model), so the ratio shows what generation costs. Optionally compares the
transformers backend's decode speed with llama.cpp (xllamacpp) on the same GGUF.

    python bench/chat.py [--models smollm2,qwen0.5b] [--turns 12] [--llamacpp] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.conversation import ConversationState  # noqa: E402
from assistant.runtime import Runtime  # noqa: E402
from bench._common import Latency, fmt_ms  # noqa: E402
from retrieval.settings import get_settings  # noqa: E402

MESSAGES = [
    ("CG-12520", "I need a bookcase under $150"),
    ("CG-12520", "cheaper"),
    ("AA-10315", "a good office chair"),
    ("AA-10315", "something for storing files"),
    (None, "a phone headset for calls"),
    ("DV-13045", "binders but not Avery"),
    (None, "what is your return policy for electronics?"),
    ("CG-12520", "status of CA-2016-152156"),
    ("BH-11710", "paper for my printer"),
    (None, "a stapler"),
    ("SO-20335", "a table for meetings under $500"),
    (None, "do you accept paypal"),
]
STAGES = ("routing", "retrieval", "scoring", "generation", "validation", "total")


def run_model(name: str, turns: int) -> dict:
    backend = "none" if name == "templates" else "local"
    settings = get_settings(
        llm_backend=backend, llm_local_model=name if backend == "local" else "smollm2"
    )
    t = time.perf_counter()
    rt = Runtime.build(settings, load_llm=backend != "none")
    load_s = time.perf_counter() - t
    rt.agent.turn(ConversationState(), "hello")  # warm the router and encoder
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    first_shown, llm_ttft, tok_s, generated, fallback = [], [], [], 0, 0
    states: dict[str | None, ConversationState] = {}
    for user, message in (MESSAGES * 3)[:turns]:
        state = states.setdefault(user, ConversationState(user_id=user))
        t0 = time.perf_counter()
        first = None
        reply = None
        for piece in rt.agent.stream(state, message):
            if isinstance(piece, str):
                first = first or (time.perf_counter() - t0) * 1e3
            else:
                reply = piece
        first_shown.append(first or reply.timings_ms["total"])
        for s in STAGES:
            stages[s].append(reply.timings_ms.get(s, 0.0))
        if "llm_first_token" in reply.timings_ms:
            llm_ttft.append(reply.timings_ms["llm_first_token"])
        generated += reply.generated
        fallback += reply.fallback
    gen = getattr(rt.agent.llm, "generator", None)
    stats = getattr(gen, "stats", None)
    if stats is not None and getattr(stats, "decode_tok_s", None):
        tok_s.append(stats.decode_tok_s)
    return {
        "model": name,
        "load_s": round(load_s, 1),
        "llm_status": rt.llm_status,
        "first_shown": Latency.of(first_shown).as_json(),
        "llm_ttft": Latency.of(llm_ttft).as_json(),
        "stages": {s: Latency.of(v).as_json() for s, v in stages.items()},
        "decode_tok_s": float(np.mean(tok_s)) if tok_s else None,
        "turns": turns,
        "generated": generated,
        "fallback": fallback,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="smollm2")
    ap.add_argument("--turns", type=int, default=12)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    rows = [run_model(m, args.turns) for m in ["templates", *args.models.split(",")]]
    base = rows[0]["stages"]["total"]["p50_ms"]
    print(
        "| model | load s | first text p50 ms | LLM TTFT p50 ms | turn p50 ms | turn p99 ms "
        "| turn p50 vs templates | routing p50 | retrieval p50 | scoring p50 | generation p50 "
        "| validation p50 | decode tok/s | LLM text shown / fell back |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        st = r["stages"]
        print(
            f"| {r['model']} | {r['load_s']} | {fmt_ms(r['first_shown']['p50_ms'])} | "
            f"{fmt_ms(r['llm_ttft']['p50_ms'])} | {fmt_ms(st['total']['p50_ms'])} | "
            f"{fmt_ms(st['total']['p99_ms'])} | {st['total']['p50_ms'] / base:.1f}× | "
            + " | ".join(fmt_ms(st[s]["p50_ms"]) for s in STAGES[:-1])
            + f" | {r['decode_tok_s'] or '–'} | {r['generated']} / {r['fallback']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
