"""Chat quality and latency per model and backend, over the multi-turn dialogue suite.

For each configuration: command accuracy (the understanding step's commands against the
dialogues' expected ones, `evals.regress.accuracy`), the share of recommendation / ask_about /
compare turns whose text the model wrote (and that passed the checks), the per-turn assertion
pass rate, time to the first shown text and to the full turn (p50 / p95), and decode tokens/s.
The baseline measured in the same run is the rules-only agent (no model: the fast path and the
rules fallback understand every turn, templates answer), so the ratios show what the model
costs; the accuracy column shows what it buys.

    python bench/chat.py                                  # all five configurations
    python bench/chat.py --configs llamacpp:qwen0.5b --limit 10 --json chat.json

Configurations are `backend:model`: llamacpp:smollm2, llamacpp:qwen0.5b, llamacpp:qwen1.5b
(llama.cpp in-process, the CPU default) and local:qwen0.5b (transformers), plus `rules` (the
baseline, always run first) and `scripted` (the deterministic fake: a check of the harness).
Each configuration runs on its own throw-away copy of the data directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.conversation import ConversationState, Reply  # noqa: E402
from bench._common import fmt_ms, fmt_ratio, markdown_table, ratio  # noqa: E402
from evals.regress.accuracy import percentile, run_metrics  # noqa: E402
from evals.regress.cases import Case, load_dialogues  # noqa: E402
from retrieval.settings import Settings, get_settings  # noqa: E402

DEFAULT_CONFIGS = (
    "llamacpp:smollm2",
    "llamacpp:qwen0.5b",
    "llamacpp:qwen1.5b",
    "local:qwen0.5b",
)
BASELINE = "rules"


def config_settings(base: Settings, config: str) -> Settings:
    if config in (BASELINE, "scripted"):
        return base.model_copy(update={"llm_backend": "none"})
    backend, _, model = config.partition(":")
    if backend not in ("llamacpp", "local") or model not in ("smollm2", "qwen0.5b", "qwen1.5b"):
        raise ValueError(f"unknown configuration {config!r} (e.g. llamacpp:qwen0.5b)")
    return base.model_copy(update={"llm_backend": backend, "llm_local_model": model})


def decode_tok_s(llm: Any) -> float | None:
    """The decode speed of the model's last generation, where the backend reports one."""
    timings = getattr(llm, "last_timings", None)  # llamacpp
    if isinstance(timings, dict) and timings.get("predicted_n", 0) > 1:
        speed = timings.get("predicted_per_second")
        return float(speed) if speed else None
    stats = getattr(getattr(llm, "generator", None), "stats", None)  # local (transformers)
    speed = getattr(stats, "decode_tok_s", None)
    return float(speed) if speed else None


class Sampling:
    """The agent, streamed as the runner streams it, sampling tokens/s after every turn."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.tok_s: list[float] = []

    def turn(self, state: ConversationState, message: str) -> Reply:
        return self.agent.turn(state, message)

    def stream(self, state: ConversationState, message: str) -> Iterator[str | Reply]:
        yield from self.agent.stream(state, message)
        speed = decode_tok_s(self.agent.llm)
        if speed:
            self.tok_s.append(speed)


def run_config(config: str, cases: list[Case], base: Settings) -> dict[str, Any]:
    from assistant.runtime import Runtime
    from evals.assertions import CheckContext
    from evals.regress.cli import isolated_copy
    from evals.regress.runner import Runner, session_reset

    settings = config_settings(base, config)
    with tempfile.TemporaryDirectory(prefix="shopassist-bench-chat-") as tmp:
        run_settings = isolated_copy(settings, Path(tmp))
        scripted = None
        if config == "scripted":
            from evals.regress.scripted import ScriptedCommandModel

            scripted = ScriptedCommandModel.from_cases(cases)
        t = time.perf_counter()
        rt = Runtime.build(run_settings, load_llm=settings.llm_backend != "none", llm=scripted)
        load_s = time.perf_counter() - t
        if settings.llm_backend != "none" and rt.llm_status != "ready":
            return {"config": config, "status": rt.llm_status, "load_s": round(load_s, 1)}
        rt.agent.turn(ConversationState(), "hello")  # warm the router and the encoder
        agent = Sampling(rt.agent)
        runner = Runner(
            agent,
            CheckContext(rt.stack.catalogue, rt.stack.encoder),
            reset=session_reset(rt.stack),
            before_turn=scripted.cue if scripted is not None else None,
        )
        run = runner.run(cases, progress=False, meta={"model": config})
    m = run_metrics(run)
    return {
        "config": config,
        "status": "ready",
        "load_s": round(load_s, 1),
        "dialogues": len(cases),
        "metrics": m.as_json(),
        "tok_s_p50": percentile(agent.tok_s, 50) if agent.tok_s else None,
        "passed": run.passed,
        "xfail_ok": sum(c.ok for c in run.cases),
    }


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.0f}%"


def _nan(x: Any) -> float:
    return float("nan") if x is None else float(x)


def table(rows: list[dict[str, Any]]) -> str:
    base = next((r for r in rows if r["config"] == BASELINE and r["status"] == "ready"), None)
    b50 = _nan(base["metrics"]["turn_p50_ms"]) if base else float("nan")
    b95 = _nan(base["metrics"]["turn_p95_ms"]) if base else float("nan")
    out = []
    for r in rows:
        if r["status"] != "ready":
            out.append([r["config"], r["status"], *["–"] * 11])
            continue
        m = r["metrics"]
        first50, first95 = _nan(m["first_text_p50_ms"]), _nan(m["first_text_p95_ms"])
        turn50, turn95 = _nan(m["turn_p50_ms"]), _nan(m["turn_p95_ms"])
        out.append(
            [
                r["config"],
                r["load_s"],
                f"{_pct(m['command_accuracy'])} ({m['command_matches']}/{m['scored_turns']})",
                f"{_pct(m['model_written_share'])} ({m['model_written']}/{m['product_turns']})",
                _pct(m["turn_pass_rate"]),
                f"{r['passed']}/{r['dialogues']}",
                fmt_ms(first50),
                fmt_ms(first95),
                fmt_ms(turn50),
                fmt_ms(turn95),
                fmt_ratio(ratio(turn50, b50)),
                fmt_ratio(ratio(turn95, b95)),
                "–" if r["tok_s_p50"] is None else f"{r['tok_s_p50']:.1f}",
            ]
        )
    headers = [
        "config",
        "load s",
        "command accuracy",
        "model-written",
        "turn pass rate",
        "dialogues passed",
        "first text p50 ms",
        "first text p95 ms",
        "turn p50 ms",
        "turn p95 ms",
        f"turn p50 vs {BASELINE}",
        f"turn p95 vs {BASELINE}",
        "decode tok/s p50",
    ]
    return markdown_table(headers, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--configs",
        default=",".join(DEFAULT_CONFIGS),
        help="comma-separated backend:model configurations (the rules baseline always runs)",
    )
    ap.add_argument("--limit", type=int, default=None, help="only the first N dialogues")
    ap.add_argument("--only", default=None, help="dialogue ids, categories or tags (e.g. smoke)")
    ap.add_argument("--threads", type=int, default=None, help="llm_threads for the models")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    cases = load_dialogues(args.only.split(",") if args.only else None)[: args.limit]
    base = get_settings()
    if args.threads:
        base = base.model_copy(update={"llm_threads": args.threads})
    configs = [BASELINE, *(c for c in args.configs.split(",") if c and c != BASELINE)]
    for c in configs:
        config_settings(base, c)  # an unknown configuration fails before anything runs
    turns = sum(len(c.turns) for c in cases)
    print(f"# Chat benchmark: {len(cases)} dialogues, {turns} turns\n", flush=True)
    rows = []
    for config in configs:
        t = time.perf_counter()
        rows.append(run_config(config, cases, base))
        print(f"{config}: done in {time.perf_counter() - t:.0f}s", file=sys.stderr, flush=True)
    print(table(rows))
    print(
        f"\nRatios are against `{BASELINE}` (no model) from this run. Command accuracy: turns "
        "whose commands equal the dialogue's expected ones; model-written: recommendation / "
        "ask_about / compare turns whose shown text includes a model sentence that passed the "
        "checks."
    )
    if args.json:
        clean = json.loads(json.dumps(rows, default=str), parse_constant=lambda _: None)
        args.json.write_text(json.dumps(clean, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
