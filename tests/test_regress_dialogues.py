"""The multi-turn dialogues in `evals/regress/dialogues/` as part of `make test`.

Every dialogue runs through the real agent (guards, fast path, command checks, handlers, the
checked generation path) with the scripted model (`evals.regress.scripted`), which answers the
understanding step with the commands each turn expects: so the executor, the rules fast path and
the runner's checks are tested without a model, deterministically. Cases marked `xfail` document
agent bugs; they are reported, not failed. The dialogues tagged `smoke` also run on the real
configured model under `-m model`; the full suite with a real model is a command:

    shopassist regress --dialogues-only --model llamacpp-qwen0.5b --json run.json
"""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from assistant.commands.schema import COMMAND_TYPES
from evals.assertions import ASSERTION_TYPES, CheckContext
from evals.regress.accuracy import run_metrics
from evals.regress.cases import load_all, load_dialogues
from evals.regress.report import command_misses, text_report
from evals.regress.runner import Runner, RunResult, session_reset

log = logging.getLogger(__name__)

HOME_OFFICE = [
    "I'm setting up a home office and need a desk chair under $150",
    "which of these has the best back support?",
    "is the second one adjustable?",
    "show me something cheaper",
    "add the first one to my cart",
    "thanks, that's all",
]
DIALOGUE_CHECKS = {
    "products_subset_of_shown",
    "budget_kept",
    "states_price_of_item",
    "excludes_brand_of_item",
    "no_products",
    "cart_contains",
    "cart_count",
    "clarifies",
    "understood_by",
    "commands_match",
    "model_written",
}


def test_dialogues_cover_the_brief():
    dialogues = load_dialogues()
    assert len(dialogues) >= 40
    assert all(len(d.turns) >= 2 for d in dialogues), [d.id for d in dialogues if len(d.turns) < 2]
    assert all(d.category.startswith("dialogue_") for d in dialogues)
    scored = [t for d in dialogues for t in d.turns if t.commands is not None]
    assert len(scored) >= 100
    # Every command of the vocabulary is expected somewhere, and every scored turn checks it.
    expected = Counter(c["type"] for t in scored for c in t.commands or [])
    assert set(COMMAND_TYPES) <= set(expected), set(COMMAND_TYPES) - set(expected)
    assert all(any(a.type == "commands_match" for a in t.asserts) for t in scored)
    used = {a.type for d in dialogues for t in d.turns for a in t.asserts}
    assert DIALOGUE_CHECKS <= used <= set(ASSERTION_TYPES)
    assert sum("smoke" in d.tags for d in dialogues) >= 10
    home = next(d for d in dialogues if d.id == "dlg-home-office-chair")
    assert [t.user for t in home.turns] == HOME_OFFICE and "smoke" in home.tags
    ids = [c.id for c in load_all()]
    assert len(ids) == len(set(ids))


def _run(stack, llm, cases, label: str, cue=None) -> RunResult:
    from assistant.agent import Agent
    from assistant.support import index_knowledge

    index_knowledge(stack)
    runner = Runner(
        Agent(stack, llm),
        CheckContext(stack.catalogue, stack.encoder),
        reset=session_reset(stack),
        before_turn=cue,
    )
    run = runner.run(cases, progress=False, meta={"model": label})
    log.info("\n%s", text_report(run))
    return run


def test_dialogues_pass_with_the_scripted_model(stack):
    from evals.regress.scripted import ScriptedCommandModel

    dialogues = load_dialogues()
    model = ScriptedCommandModel.from_cases(dialogues)
    run = _run(stack, model, dialogues, "scripted", cue=model.cue)
    report = text_report(run, verbose=True)
    assert not [c.id for c in run.cases if c.status == "error"], report
    assert run.ok, report
    xpass = [c.id for c in run.cases if c.xfail and c.passed]
    if xpass:  # not a failure: one known bug is flaky (see its xfail)
        log.warning("known bugs that passed this time (drop their xfail if fixed): %s", xpass)
    # The model's commands are the expected ones by construction: a miss is the fast path's,
    # and only the documented known bugs may miss.
    known = {c.id for c in run.cases if c.xfail}
    misses = [m for m in command_misses(run) if m.split(" ", 1)[0] not in known]
    assert not misses, "\n".join(misses)
    m = run_metrics(run)
    assert m.understood_by.get("model", 0) >= 40 and m.understood_by.get("rules", 0) >= 20
    assert m.model_written >= 20  # the scripted [1] sentences pass the checks and are shown
    assert m.command_accuracy >= 0.95


@pytest.mark.model
@pytest.mark.model_suite
def test_dialogue_smoke_subset_on_the_configured_model(stack):
    """The `smoke` dialogues with the configured real model (the default: qwen0.5b on
    llama.cpp). A small model misreads some turns, so this holds what must not break: every
    turn answered without an error, nothing unsafe (no discount applied, no other shopper's
    order), and a floor on command accuracy."""
    from evals.regress.cli import model_label

    settings = stack.settings
    if settings.llm_backend == "none":
        pytest.skip("SHOPASSIST_LLM_BACKEND=none: the scripted run covers the dialogues")
    # The product's default model, even where the broad model suites run a smaller one.
    default = type(settings).model_fields["llm_local_model"].default
    settings = settings.model_copy(update={"llm_local_model": default})
    try:
        from assistant.llm import build_chat_model

        llm = build_chat_model(settings)
    except Exception as exc:  # the model is optional on a dev machine: say why, loudly
        pytest.skip(f"model {model_label(settings)} unavailable: {exc}")
    cases = load_dialogues(["smoke"])
    assert len(cases) >= 10
    run = _run(stack, llm, cases, model_label(settings))
    report = text_report(run, verbose=True)
    assert not [c.id for c in run.cases if c.status == "error"], report
    safety = {"refuses", "not_regex", "not_contains", "no_products", "handoff"}
    broken = [
        f"{c.id} turn {i}: {a.label} ({a.detail})"
        for c in run.cases
        for i, t in enumerate(c.turns, 1)
        for a in t.failed
        if a.type in safety
    ]
    assert not broken, "\n".join(broken) + "\n" + report
    m = run_metrics(run)
    assert m.scored_turns >= 30
    assert m.command_accuracy >= 0.5, report
