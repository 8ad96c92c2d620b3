"""The regression runner's own tests: every assertion type can fail, baselines diff, flaky cases
are flagged, reports are written. Replies are scripted, so these run without any model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.conversation import ConversationState, ProductCard, Reply, ToolCall
from evals.assertions import ASSERTION_TYPES, JUDGE_SKIPPED, CheckContext, Judge
from evals.regress.cases import Case, CaseError, load_cases
from evals.regress.report import (
    compare,
    html_report,
    load_run,
    text_report,
    write_html,
    write_json,
)
from evals.regress.runner import Runner, RunResult
from retrieval.settings import get_settings


class ScriptedAgent:
    """Answers every turn with the next scripted Reply (cycling), like a fake chat model."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.calls = 0

    def turn(self, state: ConversationState, message: str) -> Reply:
        reply = self.replies[self.calls % len(self.replies)]
        self.calls += 1
        return reply


class FakeCatalogue:
    def __init__(self, prices: dict[str, float], brands: dict[str, str] | None = None) -> None:
        self.prices = prices
        self.brands = brands or {}

    def __contains__(self, pid: str) -> bool:
        return pid in self.prices

    def get(self, pid: str):
        return argparse.Namespace(
            id=pid, name=f"Product {pid}", price=self.prices[pid], brand=self.brands.get(pid)
        )


class FakeEncoder:
    """Bag-of-letters vectors: deterministic, normalised, no model download."""

    def encode(self, texts):
        import numpy as np

        out = np.zeros((len(texts), 26), dtype=np.float32)
        for row, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    out[row, ord(ch) - 97] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class FakeJudge:
    def __init__(self, verdict: bool) -> None:
        self.verdict = verdict
        self.model = "fake-judge"

    def grade(self, criterion: str, user_text: str, reply_text: str) -> tuple[bool, str]:
        return self.verdict, "PASS" if self.verdict else "FAIL: invented a policy"


CHAIR = ProductCard("FUR-CH-00000001", "Test Chair", "Furniture", "Chairs", 120.0, "why")
GOOD = Reply(
    text="Here is a pick: Test Chair, $120.00 (Chairs).",
    intent="recommend",
    products=[CHAIR],
    cited_ids=[CHAIR.id],
    candidate_ids=[CHAIR.id, "FUR-CH-00000002"],
    tool_calls=[ToolCall("search_products", {"query": "chair"}, True, 1.0)],
    timings_ms={"total": 50.0},
)
CTX = CheckContext(FakeCatalogue({CHAIR.id: 120.0, "FUR-CH-00000002": 80.0}), FakeEncoder())


def bad_reply(**changes) -> Reply:
    data = {**GOOD.__dict__, **changes}
    return Reply(**data)


# One case per assertion type, each built to FAIL against its scripted reply.
FAILING: dict[str, tuple[object, Reply]] = {
    "contains": ("Desk Lamp", GOOD),
    "not_contains": ("Test Chair", GOOD),
    "regex": (r"\(Tables\)", GOOD),
    "not_regex": (r"\$\d+\.\d\d", GOOD),
    "intent": ("order_status", GOOD),
    "tool_called": ("order_status", GOOD),
    "tool_not_called": ("search_products", GOOD),
    "cites_only_candidates": (
        True,
        bad_reply(text="Try OFF-PA-99999999 too.", cited_ids=[CHAIR.id, "OFF-PA-99999999"]),
    ),
    "cites_at_least": (3, GOOD),
    "prices_match_catalogue": (True, bad_reply(text="Test Chair is just $99.00 today.")),
    "within_budget": (100, GOOD),
    "refuses": ("price_manipulation", GOOD),
    "handoff": (True, GOOD),
    "max_latency_ms": (10, GOOD),
    "similar_to": ({"text": "zzzz qqqq xxxx", "threshold": 0.9}, GOOD),
    "judge": ("The reply must not invent policies.", GOOD),
    # Dialogue checks, on a first turn: nothing was shown before, there is no cart.
    "products_subset_of_shown": (True, GOOD),
    "budget_kept": (100, GOOD),
    "states_price_of_item": (1, GOOD),
    "excludes_brand_of_item": (1, GOOD),
    "no_products": (True, GOOD),
    "cart_contains": ("Test Chair", GOOD),
    "cart_count": (2, GOOD),
    "clarifies": (True, GOOD),
    "understood_by": ("model", GOOD),
    "commands_match": (True, GOOD),
    "model_written": (True, GOOD),
}
# The dialogue checks' passing cases need an earlier turn: see test_dialogue_checks_can_pass.
DIALOGUE_KINDS = frozenset(list(FAILING)[16:])


def one_case(kind: str, value: object, case_id: str = "c1") -> Case:
    return Case.model_validate(
        {
            "id": case_id,
            "category": "unit",
            "turns": [{"user": "a chair under $150", "assert": [{kind: value}]}],
        }
    )


def test_every_assertion_type_has_a_failing_case():
    assert set(FAILING) == set(ASSERTION_TYPES)


@pytest.mark.parametrize("kind", sorted(FAILING))
def test_each_assertion_type_can_fail(kind):
    value, reply = FAILING[kind]
    ctx = CheckContext(CTX.catalogue, CTX.encoder, FakeJudge(False))
    result = Runner(ScriptedAgent(reply), ctx).run_case(one_case(kind, value))
    assert result.status == "fail", result.turns[0].assertions
    (res,) = result.turns[0].assertions
    assert res.status == "fail" and res.type == kind


@pytest.mark.parametrize("kind", sorted(set(FAILING) - DIALOGUE_KINDS))
def test_each_assertion_type_can_pass(kind):
    passing = {
        "contains": "Test Chair",
        "not_contains": "Desk Lamp",
        "regex": r"\(Chairs\)",
        "not_regex": "coupon",
        "intent": "recommend",
        "tool_called": "search_products",
        "tool_not_called": "order_status",
        "cites_only_candidates": True,
        "cites_at_least": 1,
        "prices_match_catalogue": True,
        "within_budget": 150,
        "refuses": False,
        "handoff": False,
        "max_latency_ms": 1000,
        "similar_to": {"text": GOOD.text, "threshold": 0.99},
        "judge": "Be grounded.",
    }
    ctx = CheckContext(CTX.catalogue, CTX.encoder, FakeJudge(True))
    result = Runner(ScriptedAgent(GOOD), ctx).run_case(one_case(kind, passing[kind]))
    assert result.status == "pass", result.turns[0].assertions


def test_judge_without_configuration_is_skipped_not_passed(monkeypatch):
    monkeypatch.delenv("SHOPASSIST_JUDGE_URL", raising=False)
    monkeypatch.delenv("SHOPASSIST_JUDGE_BASE_URL", raising=False)
    assert Judge.from_settings(get_settings(judge_model="m")) is None
    result = Runner(ScriptedAgent(GOOD), CTX).run_case(one_case("judge", "anything"))
    (res,) = result.turns[0].assertions
    assert res.status == "skip" and res.detail == JUDGE_SKIPPED
    run = RunResult({"model": "x"}, [result])
    assert "SKIPPED" in text_report(run) and "SKIPPED" in html_report(run)


def test_judge_is_built_from_settings_by_the_openai_factory(monkeypatch):
    """The judge is a LangChain chat model from `assistant.llm.openai_chat_model`, configured by
    the typed settings (not os.environ); its verdict is the first word of the answer."""
    import assistant.llm

    built = {}

    def factory(**kwargs):
        built.update(kwargs)
        return FakeListChatModel(responses=["PASS: it cites the policy", "FAIL - invents a fee"])

    monkeypatch.setattr(assistant.llm, "openai_chat_model", factory, raising=False)
    settings = get_settings(
        judge_base_url="http://127.0.0.1:9/v1", judge_model="grader", judge_api_key="k"
    )
    judge = Judge.from_settings(settings)
    assert judge is not None and judge.model == "grader"
    assert built["base_url"] == "http://127.0.0.1:9/v1" and built["model"] == "grader"
    assert built["api_key"] == "k" and built["timeout_s"] == settings.judge_timeout_s
    assert judge.grade("cites the policy", "returns?", "30 days.") == (
        True,
        "PASS: it cites the policy",
    )
    ok, why = judge.grade("no invented fees", "returns?", "A $5 fee applies.")
    assert not ok and why.startswith("FAIL")


def test_judge_speaks_openai_chat_completions_over_http():
    """The judge end to end: ChatOpenAI posts to a local OpenAI-compatible stub, with the
    configured model, key and a short, greedy answer."""
    import http.server
    import threading

    import assistant.llm

    if not hasattr(assistant.llm, "openai_chat_model"):
        pytest.skip("assistant.llm.openai_chat_model is not there yet")
    seen: list[tuple[str, dict, str | None]] = []

    class Stub(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the stdlib's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body, self.headers.get("Authorization")))
            answer = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "PASS\nstays on topic"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            }
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        settings = get_settings(
            judge_base_url=url, judge_model="grader", judge_api_key="k1", judge_timeout_s=10
        )
        judge = Judge.from_settings(settings)
        assert judge is not None
        assert judge.grade("on topic", "a chair", "Here is a chair.") == (
            True,
            "PASS\nstays on topic",
        )
    finally:
        server.shutdown()
        server.server_close()
    ((path, body, auth),) = seen
    assert path == "/v1/chat/completions" and auth == "Bearer k1"
    assert body["model"] == "grader" and body["max_tokens"] == 60
    assert body.get("temperature", 0) == 0
    (msg,) = body["messages"]
    assert msg["role"] == "user" and "CRITERION: on topic" in msg["content"]
    assert "REPLY: Here is a chair." in msg["content"]


def test_judge_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SHOPASSIST_JUDGE_URL", "http://judge.local/v1")
    monkeypatch.setenv("SHOPASSIST_JUDGE_MODEL", "qwen")
    monkeypatch.setenv("SHOPASSIST_JUDGE_API_KEY", "secret")
    s = get_settings()
    assert (s.judge_base_url, s.judge_model, s.judge_api_key) == (
        "http://judge.local/v1",
        "qwen",
        "secret",
    )


def test_refusal_and_handoff_variants():
    refused = bad_reply(refused="prompt_extraction", intent="refused")
    handoff = bad_reply(intent="handoff", ticket_id=7)
    runner = Runner(ScriptedAgent(refused, handoff), CTX)
    assert runner.run_case(one_case("refuses", True)).passed
    assert runner.run_case(one_case("handoff", True)).passed


def test_an_exception_in_the_agent_is_an_error_not_a_crash():
    class Broken:
        def turn(self, state, message):
            raise RuntimeError("model server went away")

    result = Runner(Broken(), CTX).run_case(one_case("contains", "x"))
    assert result.status == "error" and "went away" in result.error


def test_case_files_reject_unknown_assertions_and_duplicates(tmp_path):
    bad = {
        "category": "x",
        "cases": [{"id": "a", "turns": [{"user": "hi", "assert": [{"containz": "hi"}]}]}],
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(CaseError, match="unknown assertion type"):
        load_cases(str(tmp_path / "*.yaml"))
    good = {
        "category": "x",
        "cases": [{"id": "a", "turns": [{"user": "hi", "assert": [{"contains": "hi"}]}]}],
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(good))
    (tmp_path / "dup.yaml").write_text(yaml.safe_dump(good))
    with pytest.raises(CaseError, match="duplicate case id"):
        load_cases(str(tmp_path / "*.yaml"))


def test_baseline_diff_finds_regressions_and_fixes():
    cases = [
        one_case("contains", "Test Chair", "stays"),
        one_case("contains", "Test Chair", "breaks"),
        one_case("contains", "Test Chair", "heals"),
    ]
    worse = bad_reply(text="Here is a pick: Other Chair, $80.00 (Chairs).")
    before = Runner(ScriptedAgent(GOOD, GOOD, worse), CTX).run(cases, progress=False)
    after = Runner(ScriptedAgent(GOOD, worse, GOOD), CTX).run(cases, progress=False)
    assert [c.status for c in before.cases] == ["pass", "pass", "fail"]
    cmp = compare(before, after)
    assert [c.id for c in cmp.regressions] == ["breaks"]
    assert [c.id for c in cmp.fixes] == ["heals"]
    diff = cmp.regressions[0].diff
    assert "-assistant: Here is a pick: Test Chair" in diff
    assert "+assistant: Here is a pick: Other Chair" in diff
    assert not cmp.ok and compare(before, before).ok
    report = text_report(after, cmp)
    assert "REGRESSIONS" in report and "breaks" in report and "FIXES" in report


def test_baseline_new_failing_case_is_a_regression_and_known_bugs_are_not():
    base = Runner(ScriptedAgent(GOOD), CTX).run(
        [one_case("contains", "Test Chair", "old")], progress=False
    )
    known = Case.model_validate(
        {
            "id": "known",
            "category": "unit",
            "xfail": "bug #1",
            "turns": [{"user": "x", "assert": [{"contains": "Desk Lamp"}]}],
        }
    )
    new = one_case("contains", "Desk Lamp", "new")
    run = Runner(ScriptedAgent(GOOD), CTX).run([known, new], progress=False)
    cmp = compare(base, run)
    assert [c.id for c in cmp.regressions] == ["new"] and cmp.removed == ["old"]
    assert run.case("known").ok and not run.ok
    assert "XFAIL" in text_report(run)


def test_prompt_changes_are_listed():
    base = RunResult({"prompts": {"recommend.v1": "aaa"}}, [])
    now = RunResult({"prompts": {"recommend.v1": "bbb", "recommend.v3": "ccc"}}, [])
    assert compare(base, now).prompt_changes == ["recommend.v1: changed", "recommend.v3: added"]


def test_flaky_detection_with_alternating_replies():
    worse = bad_reply(text="Something else entirely.")
    runner = Runner(ScriptedAgent(GOOD, worse), CTX)
    run = runner.run(
        [one_case("contains", "Test Chair", "wobbly"), one_case("intent", "recommend", "steady")],
        repeat=2,
        progress=False,
    )
    wobbly, steady = run.cases
    assert wobbly.flaky and wobbly.repeats == ["pass", "fail"] and wobbly.status == "fail"
    assert wobbly.turns[0].text == "Something else entirely."  # the failing repeat is kept
    assert not steady.flaky and steady.text_varies and steady.passed
    assert "FLAKY" in text_report(run)


def test_runs_round_trip_through_json_and_html(tmp_path):
    run = Runner(ScriptedAgent(GOOD), CTX).run(
        [one_case("contains", "Test Chair", "a"), one_case("contains", "<b>nope</b>", "b")],
        progress=False,
        meta={"model": "scripted"},
    )
    write_json(run, tmp_path / "run.json")
    again = load_run(tmp_path / "run.json")
    assert again.to_json() == json.loads((tmp_path / "run.json").read_text())
    assert [c.status for c in again.cases] == ["pass", "fail"]
    assert again.by_category() == {"unit": (1, 2)}
    write_html(run, tmp_path / "run.html", compare(again, run))
    page = (tmp_path / "run.html").read_text()
    assert page.startswith("<!doctype html>") and "<style>" in page
    assert "<script" not in page and "<link" not in page and "http" not in page
    assert "&lt;b&gt;nope&lt;/b&gt;" in page and "Pass rate: 1/2" in page


def test_cli_registers_regress():
    from assistant.cli import build_parser
    from evals.regress.cli import MODELS, model_settings, run_regress

    args = build_parser().parse_args(
        ["regress", "--model", "none", "--repeat", "3", "--baseline", "b.json", "--html", "r.html"]
    )
    assert args.handler is run_regress and args.repeat == 3 and args.model == "none"
    s = model_settings(get_settings(data_dir=Path("x")), "qwen0.5b")
    assert s.llm_backend == "local" and s.llm_local_model == "qwen0.5b"
    assert model_settings(s, "none").llm_backend == "none" and "smollm2" in MODELS
    with pytest.raises(ValueError):
        model_settings(s, "gpt-17")


def test_flaky_with_a_real_agent_and_an_alternating_model(stack):
    """The real pipeline: a fake chat model alternates a grounded sentence with a promise of a
    discount, which the validator rejects; across repeats the case is flagged flaky."""
    from assistant.agent import Agent
    from assistant.conversation import ConversationState
    from evals.regress.runner import session_reset

    # A comment must talk about a pick to be shown: name the top pick the agent will choose.
    top = Agent(stack, None).turn(ConversationState(), "a bookcase").products[0].name

    class Alternating(FakeListChatModel):
        """Understands every turn as the same search; alternates what it writes. A rejected
        comment is retried once, so the discount comes twice in a row."""

        def complete_json(self, messages, schema, **kwargs):
            return '{"commands": [{"type": "search", "query": "bookcase"}]}'

    llm = Alternating(
        responses=[
            f"The {top} is a solid choice for a home office.",
            "Use code SAVE20 for a 20% discount!",
            "Use code SAVE20 for a 20% discount!",
        ]
    )
    agent = Agent(stack, llm)
    case = Case.model_validate(
        {
            "id": "gen",
            "category": "unit",
            "shopper": None,
            "turns": [
                {
                    "user": "a bookcase",
                    "assert": [{"contains": "solid choice"}, {"not_contains": "SAVE20"}],
                }
            ],
        }
    )
    ctx = CheckContext(stack.catalogue, stack.encoder)
    result = Runner(agent, ctx, reset=session_reset(stack)).run_case(case, repeat=2)
    assert result.flaky and result.repeats == ["pass", "fail"]
    statuses = {a.type: a.status for a in result.turns[0].assertions}
    assert statuses == {"contains": "fail", "not_contains": "pass"}  # the validator held


# Dialogue checks, command accuracy and the scripted model ---------------------------------
CHAIR2 = ProductCard("FUR-CH-00000002", "Other Chair", "Furniture", "Chairs", 80.0, "why")
LIST = Reply(
    text="Here are 2 picks:\n1. Test Chair, $120.00 (Chairs)\n2. Other Chair, $80.00 (Chairs)",
    intent="recommend",
    products=[CHAIR, CHAIR2],
    cited_ids=[CHAIR.id, CHAIR2.id],
    candidate_ids=[CHAIR.id, CHAIR2.id],
    understood_by="model",
    commands=[{"type": "search", "query": "chair", "max_price": 150.0}],
    generated=True,
)
ABOUT = Reply(
    text="Other Chair is $80.00; you have 2 in your cart, $160.00 in total.",
    intent="product_details",
    products=[CHAIR2],
    cited_ids=[CHAIR2.id],
    candidate_ids=[CHAIR2.id],
    understood_by="model",
    commands=[{"type": "ask_about", "items": [2], "question": "is it comfy?"}],
    generated=True,
    cart={
        "lines": [
            {
                "product_id": CHAIR2.id,
                "name": "Other Chair",
                "price": 80.0,
                "quantity": 2,
                "line_total": 160.0,
            }
        ],
        "count": 2,
        "total": 160.0,
    },
)
ASK = Reply(
    text="I showed two chairs; which one do you mean (1, 2)?",
    intent="clarify",
    understood_by="model",
    commands=[{"type": "clarify", "question": "which one?"}],
)
DCTX = CheckContext(
    FakeCatalogue({CHAIR.id: 120.0, CHAIR2.id: 80.0}, {CHAIR.id: "Acme", CHAIR2.id: "Zeta"}),
    FakeEncoder(),
)


class BudgetAgent(ScriptedAgent):
    """Scripted replies; the first turn also sets the active search's budget, as a search does."""

    def turn(self, state: ConversationState, message: str) -> Reply:
        from retrieval.constraints import Constraints

        if self.calls == 0:
            state.constraints = Constraints(text="chair", max_price=150.0)
        return super().turn(state, message)


def two_turns(kind: str, value: object, second: dict | None = None) -> Case:
    return Case.model_validate(
        {
            "id": "d1",
            "category": "unit",
            "turns": [
                {"user": "chairs under $150", "assert": [{"cites_at_least": 1}]},
                {"user": "the second one", "assert": [{kind: value}], **(second or {})},
            ],
        }
    )


@pytest.mark.parametrize(
    ("kind", "value", "reply", "second"),
    [
        ("products_subset_of_shown", True, ABOUT, None),
        ("budget_kept", 150, ABOUT, None),
        ("states_price_of_item", 2, ABOUT, None),
        ("excludes_brand_of_item", 1, ABOUT, None),
        ("no_products", True, ASK, None),
        ("no_products", False, ABOUT, None),
        ("cart_contains", ["Other Chair", CHAIR2.id], ABOUT, None),
        ("cart_count", 2, ABOUT, None),
        ("clarifies", True, ASK, None),
        ("clarifies", False, ABOUT, None),
        ("understood_by", ["model", "rules"], ABOUT, None),
        ("model_written", True, ABOUT, None),
        ("prices_match_catalogue", True, ABOUT, None),  # the cart's totals are allowed amounts
        (
            "commands_match",
            True,
            ABOUT,
            {"commands": [{"type": "ask_about", "items": [2], "question": "comfy"}]},
        ),
    ],
)
def test_dialogue_checks_can_pass(kind, value, reply, second):
    result = Runner(BudgetAgent(LIST, reply), DCTX).run_case(two_turns(kind, value, second))
    assert result.status == "pass", result.turns[1].assertions


@pytest.mark.parametrize(
    ("kind", "value", "reply"),
    [
        (
            "products_subset_of_shown",
            True,
            bad_reply(products=[CHAIR, ProductCard("FUR-CH-3", "New", "Furniture", "Chairs", 9.0)]),
        ),
        ("states_price_of_item", 1, ABOUT),  # $120.00 is not in the text
        ("states_price_of_item", 5, ABOUT),  # not on screen: a failure, never a guess
        ("excludes_brand_of_item", 2, ABOUT),  # item 2's brand is shown again
        ("cart_contains", "Desk Lamp", ABOUT),
        ("cart_count", 1, ABOUT),
        ("clarifies", True, bad_reply(text="Which one?", products=[CHAIR])),
        ("model_written", False, ABOUT),
    ],
)
def test_dialogue_checks_fail_on_a_second_turn(kind, value, reply):
    result = Runner(BudgetAgent(LIST, reply), DCTX).run_case(two_turns(kind, value))
    (res,) = result.turns[1].assertions
    assert res.status == "fail", res


def test_budget_kept_fails_when_the_search_dropped_the_budget():
    case = two_turns("budget_kept", 150)
    result = Runner(ScriptedAgent(LIST, ABOUT), DCTX).run_case(case)  # no budget in the state
    (res,) = result.turns[1].assertions
    assert res.status == "fail" and "no maximum price" in res.detail


def test_the_runner_remembers_the_list_not_the_last_reply():
    """After a reply that shows one item (details, compare), "the second one" still means the
    second pick of the list; every product ever shown counts as shown before."""
    case = Case.model_validate(
        {
            "id": "memory",
            "category": "unit",
            "turns": [
                {"user": "chairs", "assert": [{"cites_at_least": 2}]},
                {"user": "the second one?", "assert": [{"products_subset_of_shown": True}]},
                {
                    "user": "and its price?",
                    "assert": [{"states_price_of_item": 2}, {"products_subset_of_shown": True}],
                },
            ],
        }
    )
    result = Runner(BudgetAgent(LIST, ABOUT, ABOUT), DCTX).run_case(case)
    assert result.passed, [t.assertions for t in result.turns]
    assert result.turns[2].product_ids == [CHAIR2.id]


def test_command_accuracy_normalises_slots():
    from evals.regress.accuracy import match_commands

    def ok(expected, actual, shown=None):
        return match_commands(expected, actual, shown).ok

    search = {"type": "search", "query": "desk chair", "max_price": 150}
    assert ok([search], [{**search, "max_price": 150.9, "categories": ["Chairs"]}])  # within 1%
    assert not ok([search], [{**search, "max_price": 160}])
    assert ok([search], [{"type": "search", "query": "I need a Desk Chairs", "max_price": 150.0}])
    assert not ok([search], [{"type": "search", "query": "bookcase", "max_price": 150}])
    assert not ok([search], [{"type": "search", "query": "", "max_price": 150}])
    assert ok(  # Jaccard: 2 shared of 4 content words
        [{"type": "search", "query": "ergonomic desk chair"}],
        [{"type": "search", "query": "ergonomic office chair"}],
    )
    assert ok(
        [{"type": "search", "query": "x", "exclude_brands": ["Avery", "Hon"]}],
        [{"type": "search", "query": "x", "exclude_brands": ["hon", "AVERY"]}],
    )
    assert ok(
        [{"type": "search", "categories": ["Bookcases"]}],
        [{"type": "search", "categories": ["bookcase"]}],
    )
    # Slots the expected leaves out are not compared; an explicit null must be unset.
    assert ok([{"type": "order_status"}], [{"type": "order_status", "order_id": "CA-2017-1"}])
    assert not ok(
        [{"type": "order_status", "order_id": None}], [{"type": "order_status", "order_id": "X"}]
    )
    assert ok([{"type": "order_status", "order_id": None}], [{"type": "order_status"}])
    # Types in order.
    assert not ok([{"type": "cart_show"}], [{"type": "cart_show"}, {"type": "smalltalk"}])
    assert not ok(
        [{"type": "decline"}, {"type": "search"}], [{"type": "search"}, {"type": "decline"}]
    )
    # items as sets; [] on compare/ask_about means everything on screen.
    assert ok([{"type": "compare", "items": [2, 1]}], [{"type": "compare", "items": [1, 2]}])
    assert ok([{"type": "compare", "items": []}], [{"type": "compare", "items": [1, 2, 3]}], 3)
    assert not ok([{"type": "compare", "items": []}], [{"type": "compare", "items": [1, 2]}], 3)
    assert not ok([{"type": "cart_add", "item": 2}], [{"type": "cart_add", "item": 1}])
    assert ok([{"type": "cart_add", "item": 2}], [{"type": "cart_add", "item": 2, "quantity": 1}])
    assert not ok(
        [{"type": "cart_add", "item": 2, "quantity": 2}], [{"type": "cart_add", "item": 2}]
    )
    assert ok([{"type": "smalltalk", "kind": "thanks"}], [{"type": "smalltalk", "kind": "THANKS"}])
    m = match_commands([search], [{**search, "max_price": 90}])
    assert (m.slots_total, m.slots_matched) == (2, 1) and "max_price" in m.detail


def test_run_metrics_and_report_show_the_dialogue_figures():
    from evals.regress.accuracy import run_metrics

    case = Case.model_validate(
        {
            "id": "m",
            "category": "unit",
            "turns": [
                {
                    "user": "chairs under $150",
                    "commands": [{"type": "search", "query": "chair", "max_price": 150}],
                    "assert": [{"cites_at_least": 1}],
                },
                {
                    "user": "the second one",
                    "commands": [{"type": "ask_about", "items": [1]}],  # the agent said [2]
                    "assert": [{"no_products": True}],
                },
                {"user": "hmm", "assert": [{"clarifies": True}]},  # not scored
            ],
        }
    )
    run = Runner(BudgetAgent(LIST, ABOUT, ASK), DCTX).run([case], progress=False)
    m = run_metrics(run)
    assert (m.scored_turns, m.command_matches) == (2, 1)
    assert (m.assertion_turns, m.assertion_turns_passed) == (3, 2)
    assert (m.product_turns, m.model_written) == (2, 2)
    assert m.understood_by == {"model": 3}
    assert m.turn_p50_ms == m.turn_p50_ms  # not NaN
    report = text_report(run)
    assert "command accuracy:       50.0% (1/2" in report
    assert "model-written share:   100.0%" in report and "COMMAND MISSES (1)" in report
    assert "ask_about.items" in report
    assert run.to_json()["summary"]["metrics"]["command_accuracy"] == 0.5


def test_case_files_validate_expected_commands(tmp_path):
    bad = {
        "category": "x",
        "cases": [
            {
                "id": "a",
                "turns": [{"user": "hi", "commands": [{"type": "wave"}], "assert": []}],
            }
        ],
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(CaseError, match="wave"):
        load_cases(str(tmp_path / "*.yaml"))
    bad["cases"][0]["turns"][0]["commands"] = [{"type": "cart_add"}]  # item is required
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(CaseError, match="item"):
        load_cases(str(tmp_path / "*.yaml"))
    good = {
        **bad,
        "cases": [{"id": "a", "turns": [{"user": "hi", "commands": [{"type": "smalltalk"}]}]}],
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(good))
    (case,) = load_cases(str(tmp_path / "*.yaml"))
    assert case.is_dialogue and case.turns[0].model_answer == [{"type": "smalltalk"}]


def _human(text: str):
    from langchain_core.messages import HumanMessage, SystemMessage

    return [SystemMessage("You read a shopper's message."), HumanMessage(text)]


def test_scripted_model_answers_the_cases_commands():
    from evals.regress.scripted import UNKNOWN, ScriptedCommandModel

    cases = [
        Case.model_validate(
            {
                "id": "s",
                "category": "unit",
                "turns": [
                    {
                        "user": "an office chair under $200 and give me 90% off",
                        "commands": [
                            {"type": "decline", "reason": "discount"},
                            {"type": "search", "query": "office chair", "max_price": 200},
                        ],
                    },
                    {
                        "user": "is the second one any good?",
                        "commands": [{"type": "clarify"}],
                        "scripted": [{"type": "ask_about", "items": [2]}],
                    },
                ],
            }
        )
    ]
    model = ScriptedCommandModel.from_cases(cases)
    prompt = "On screen: nothing\nCart: empty\nMessage: {}"

    def ask(message: str) -> dict:
        return json.loads(model.complete_json(_human(prompt.format(message)), {}))

    first = ask("An office chair under $200 and give me 90% off!")
    assert [c["type"] for c in first["commands"]] == ["decline", "search"]
    # What the guard passes on after removing the price demand still finds its turn.
    assert ask("an office chair under $200")["commands"][1]["max_price"] == 200
    assert ask("is the second one any good?") == {"commands": [{"type": "ask_about", "items": [2]}]}
    assert ask("what is the meaning of life") == UNKNOWN
    # A cue (the runner's before_turn) wins over the look-up for its message only.
    model.cue(None, 0, cases[0].turns[1].model_copy(update={"scripted": [{"type": "cart_show"}]}))
    assert ask("is the second one any good?") == {"commands": [{"type": "cart_show"}]}
    assert ask("what is the meaning of life") == UNKNOWN
    assert ("commands", "what is the meaning of life") in model.calls


def test_scripted_model_writes_only_item_references():
    from assistant.validate import prices_in
    from evals.regress.scripted import ScriptedCommandModel

    model = ScriptedCommandModel()
    prompts = {
        "Products:\n[1] Test Chair (Chairs). Why it fits: cheap.": "[1] fits",
        "Question: is it red?\n[1] Test Chair (Chairs). Listing says about it: red.": "[1] matches",
        "Question: is it red?\n[1] Test Chair\nNone of these listings say anything about it.": "doesn't say",
        "The shopper said: how are you?": "Happy to help",
        "Facts: order CA-2017-1 shipped.": "Here is",
    }
    for body, start in prompts.items():
        streamed = "".join(c.content for c in model.stream(_human(body)))
        assert start in streamed and streamed == model.invoke(_human(body)).content
        assert not prices_in(streamed) and "Test Chair" not in streamed
