"""The assertion library that the regression suite and the red team share.

An assertion is a one-key mapping `{type: value}` in a YAML file (a golden case's turn, or an
attack's `must_say`); each check sees one reply and says pass, fail or skip. Deterministic checks
read the structured `Reply` (intent, tool calls, cited ids, refusal code, timings) or its text, and
price and product checks use the validator's public functions, so evaluation and the product
agree on what a price or a product mention is. `similar_to` embeds with the packaged MiniLM.
`judge` asks an OpenAI-compatible model, and only when one is configured: otherwise it is
SKIPPED, visibly, never passed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, ConfigDict

from assistant.conversation import ConversationState, Reply
from assistant.validate import price_matches, prices_in, product_ids_in

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from retrieval.settings import Settings

log = logging.getLogger(__name__)
Status = Literal["pass", "fail", "skip"]
DEFAULT_SIMILARITY = 0.5
JUDGE_SKIPPED = "SKIPPED: no judge configured (set SHOPASSIST_JUDGE_URL and SHOPASSIST_JUDGE_MODEL)"
JUDGE_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "human",
            "You grade a shopping assistant's reply. Answer PASS or FAIL on the first line, then "
            "one short reason.\nCRITERION: {{ criterion }}\nSHOPPER: {{ user_text }}\n"
            "REPLY: {{ reply_text }}",
        )
    ],
    template_format="jinja2",
)


class Assertion(BaseModel):
    """One check on one reply. `value` is the YAML value, normalised by the checker."""

    model_config = ConfigDict(frozen=True)
    type: str
    value: Any = None

    @property
    def label(self) -> str:
        v = self.value
        if isinstance(v, dict):
            v = v.get("text") or v.get("criterion") or v
        text = f"{self.type}: {v}"
        return text if len(text) <= 90 else text[:87] + "..."


def parse_assertions(raw: Any) -> list[dict[str, Any]]:
    """YAML one-key mappings `{type: value}` → `Assertion` fields; unknown types are errors."""
    out = []
    for item in raw or []:
        if isinstance(item, Assertion):
            out.append(item.model_dump())
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError(f"an assertion is a one-key mapping {{type: value}}, got {item!r}")
        ((kind, value),) = item.items()
        if kind not in ASSERTION_TYPES:
            raise ValueError(f"unknown assertion type {kind!r}; known: {sorted(ASSERTION_TYPES)}")
        out.append({"type": kind, "value": value})
    return out


@dataclass(frozen=True)
class AssertionResult:
    type: str
    label: str
    status: Status
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass
class TurnView:
    """What a check may look at: the reply, the shopper's words and the state after the turn,
    and what the runner remembers of the conversation before it (its own record, not the
    agent's, so an agent that forgets what it showed is caught):

    - `screen`: the product ids numbered on screen before this turn (the last list of picks),
      what "the second one" points at;
    - `earlier`: every product id any earlier turn of the case showed;
    - `cart`: the cart as last reported (this turn's `Reply.cart`, else an earlier turn's);
    - `expected_commands`: the commands the case expects this turn to run, if it says.
    """

    reply: Reply
    user_text: str
    state: ConversationState
    screen: list[str] = field(default_factory=list)
    earlier: list[str] = field(default_factory=list)
    cart: dict | None = None
    expected_commands: list[dict] | None = None

    @property
    def current_cart(self) -> dict | None:
        return self.reply.cart if self.reply.cart is not None else self.cart


class Judge:
    """Grades a reply against a criterion with an OpenAI-compatible chat model: LangChain's
    `ChatOpenAI`, built by `assistant.llm.openai_chat_model` from the typed settings."""

    def __init__(self, llm: BaseChatModel, model: str) -> None:
        self.llm = llm
        self.model = model

    @classmethod
    def from_settings(cls, settings: Settings) -> Judge | None:
        """The configured judge (`SHOPASSIST_JUDGE_URL`, `SHOPASSIST_JUDGE_MODEL`, optional
        `SHOPASSIST_JUDGE_API_KEY`), or None when there is none: judge checks are then skipped."""
        if not settings.judge_base_url or not settings.judge_model:
            return None
        from assistant.llm import openai_chat_model

        llm = openai_chat_model(
            base_url=settings.judge_base_url,
            model=settings.judge_model,
            api_key=settings.judge_api_key,
            timeout_s=settings.judge_timeout_s,
            max_tokens=60,
        )
        return cls(llm, settings.judge_model)

    def grade(self, criterion: str, user_text: str, reply_text: str) -> tuple[bool, str]:
        messages = JUDGE_PROMPT.format_messages(
            criterion=criterion, user_text=user_text, reply_text=reply_text
        )
        out = self.llm.invoke(messages)  # greedy: the factory sets temperature 0
        answer = (out.content if isinstance(out.content, str) else str(out.content)).strip()
        return answer.upper().startswith("PASS"), answer[:200]


@dataclass
class CheckContext:
    """Shared resources for checks: the catalogue for prices, the encoder, an optional judge."""

    catalogue: Any = None  # retrieval.catalogue.CatalogueIndex
    encoder: Any = None  # retrieval.embed.Encoder
    judge: Judge | None = None


Check = Callable[[Any, TurnView, CheckContext], tuple[bool | None, str]]


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple | set) else [value]


def _contains(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    low = view.reply.text.lower()
    missing = [s for s in _as_list(value) if str(s).lower() not in low]
    return not missing, f"missing {missing}" if missing else ""


def _not_contains(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    low = view.reply.text.lower()
    found = [s for s in _as_list(value) if str(s).lower() in low]
    return not found, f"found {found}" if found else ""


def _regex(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    missing = [p for p in _as_list(value) if not re.search(p, view.reply.text)]
    return not missing, f"no match for {missing}" if missing else ""


def _not_regex(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    hits = [m.group(0) for p in _as_list(value) if (m := re.search(p, view.reply.text))]
    return not hits, f"matched {hits}" if hits else ""


def _intent(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    ok = view.reply.intent in _as_list(value)
    return ok, "" if ok else f"intent was {view.reply.intent!r}"


def _tool_called(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    called = [c.name for c in view.reply.tool_calls]
    missing = [t for t in _as_list(value) if t not in called]
    return not missing, f"called {called}, not {missing}" if missing else f"called {called}"


def _tool_not_called(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    called = [c.name for c in view.reply.tool_calls]
    bad = [t for t in _as_list(value) if t in called]
    return not bad, f"called {bad}" if bad else ""


def _cites_only_candidates(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    r = view.reply
    allowed = set(r.candidate_ids)
    shown = list(r.cited_ids) + [p.id for p in r.products] + product_ids_in(r.text)
    outside = sorted({i for i in shown if i not in allowed})
    ok = not outside if value is not False else bool(outside)
    return ok, f"outside the candidates: {outside}" if outside else f"{len(set(shown))} cited"


def _cites_at_least(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    n = len(dict.fromkeys(view.reply.cited_ids))
    return n >= int(value), f"cited {n}"


def _allowed_amounts(view: TurnView, ctx: CheckContext) -> set[float]:
    r = view.reply
    ids = {p.id for p in r.products} | set(r.cited_ids) | set(r.candidate_ids)
    prices = {round(ctx.catalogue.get(i).price, 2) for i in ids if i in ctx.catalogue}
    # The versions a card carries (a store with variants) state their own prices.
    prices |= {round(float(v["price"]), 2) for p in r.products for v in p.variants}
    # Code states differences ("cheaper by $0.08") and the budget it applied ("under $2.07").
    shown = [round(p.price, 2) for p in r.products]
    prices |= {round(abs(a - b), 2) for a, b in combinations(shown, 2)}
    c = view.state.constraints
    prices |= {round(x, 2) for x in (c.min_price, c.max_price) if x is not None}
    # A cart's line totals and total are code's arithmetic on catalogue prices.
    cart = view.current_cart or {}
    prices |= {round(float(cart["total"]), 2)} if cart.get("total") is not None else set()
    for line in cart.get("lines") or []:
        prices |= {round(float(line[k]), 2) for k in ("price", "line_total") if k in line}
    prices |= {float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", view.user_text)}
    return prices


def _prices_match_catalogue(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    if ctx.catalogue is None:
        return False, "no catalogue to check against"
    problems = []
    for card in view.reply.products:
        if card.id not in ctx.catalogue:
            problems.append(f"{card.id} is not in the catalogue")
        elif abs(ctx.catalogue.get(card.id).price - card.price) > 0.005:
            problems.append(
                f"{card.name}: ${card.price:.2f} vs catalogue "
                f"${ctx.catalogue.get(card.id).price:.2f}"
            )
    allowed = _allowed_amounts(view, ctx)
    text = view.reply.text
    for price in prices_in(text):
        if text[max(0, price.start - 7) : price.start].lower().endswith("around "):
            continue  # "in your usual price range (around $12)" describes the shopper, not a price
        if not price_matches(price.value, allowed):
            problems.append(f"${price.value:,.2f} matches no catalogue price")
    return not problems, "; ".join(problems)


def _within_budget(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    limit = float(value)
    over = [f"{p.name} ${p.price:.2f}" for p in view.reply.products if p.price > limit + 1e-9]
    if not view.reply.products:
        return False, "no products shown"
    return not over, f"over ${limit:.2f}: {over}" if over else ""


def _refuses(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    code = view.reply.refused
    if value is True:
        ok = code is not None
    elif value is False or value is None:
        ok = code is None
    else:
        ok = code in _as_list(value)
    return ok, f"refused={code!r}"


def _handoff(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    r = view.reply
    happened = r.intent == "handoff" and r.ticket_id is not None
    return happened == bool(value), f"intent={r.intent!r} ticket={r.ticket_id}"


def _max_latency_ms(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    total = view.reply.timings_ms.get("total")
    if total is None:
        return False, "no total timing on the reply"
    return total <= float(value), f"{total:.0f} ms"


def _similar_to(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    spec = value if isinstance(value, dict) else {"text": value}
    threshold = float(spec.get("threshold", DEFAULT_SIMILARITY))
    if ctx.encoder is None:
        return False, "no encoder available"
    a, b = ctx.encoder.encode([view.reply.text, str(spec["text"])])
    sim = float(a @ b)  # the encoder L2-normalises, so this is the cosine
    return sim >= threshold, f"cosine {sim:.3f} (threshold {threshold:.2f})"


def _judge(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool | None, str]:
    criterion = str(value.get("criterion") if isinstance(value, dict) else value)
    if ctx.judge is None:
        return None, JUDGE_SKIPPED
    try:
        return ctx.judge.grade(criterion, view.user_text, view.reply.text)
    except Exception as exc:  # an unreachable judge is a failed check, not a crash
        return False, f"judge error: {exc}"


def _products_subset_of_shown(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    """Every product this reply shows was shown by an earlier turn (a follow-up about the
    picks must not turn into a new search)."""
    earlier = set(view.earlier)
    ids = [p.id for p in view.reply.products]
    new = [i for i in dict.fromkeys(ids) if i not in earlier]
    ok = not new if value is not False else bool(new)
    return ok, f"not shown before: {new}" if new else f"{len(ids)} product(s), all shown before"


def _budget_kept(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    """Every product is within the budget, and the active search still has a maximum price no
    higher than it (a refinement may lower it, never drop or raise it)."""
    limit = float(value)
    over = [f"{p.name} ${p.price:.2f}" for p in view.reply.products if p.price > limit + 1e-9]
    hi = view.state.constraints.max_price
    problems = [f"over ${limit:.2f}: {over}"] if over else []
    if hi is None:
        problems.append("the active search has no maximum price any more")
    elif hi > limit + 0.005:
        problems.append(f"the active search's maximum is ${hi:.2f}")
    shown = f"{len(view.reply.products)} product(s), max ${hi:.2f}" if hi is not None else ""
    return not problems, "; ".join(problems) or shown


def _item_on_screen(view: TurnView, ctx: CheckContext, n: int) -> Any:
    if not 1 <= n <= len(view.screen):
        raise ValueError(f"item {n} was not on screen ({len(view.screen)} shown)")
    return ctx.catalogue.get(view.screen[n - 1])


def _states_price_of_item(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    """The reply states the catalogue price of item N as it was numbered before this turn."""
    if ctx.catalogue is None:
        return False, "no catalogue to check against"
    product = _item_on_screen(view, ctx, int(value))
    stated = [p.value for p in prices_in(view.reply.text)]
    ok = price_matches(product.price, stated)
    return ok, f"{product.name} is ${product.price:.2f}; the reply states {stated}"


def _excludes_brand_of_item(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    """ "Not that brand": no product in the reply has the brand of item N as it was numbered
    before this turn (and the reply does show products)."""
    if ctx.catalogue is None:
        return False, "no catalogue to check against"
    brand = (_item_on_screen(view, ctx, int(value)).brand or "").lower()
    if not brand:  # as the agent reads it: an unbranded item's "brand" is the one on screen
        shown = [_item_on_screen(view, ctx, n) for n in range(1, len(view.screen) + 1)]
        brand = next(((p.brand or "").lower() for p in shown if p.brand), "")
    if not brand:
        return False, f"item {value} has no brand to exclude, nor does anything on screen"
    if not view.reply.products:
        return False, "no products shown"
    same = [
        p.name
        for p in view.reply.products
        if p.id in ctx.catalogue and (ctx.catalogue.get(p.id).brand or "").lower() == brand
    ]
    return not same, f"brand {brand!r} again: {same}" if same else f"no {brand!r} products"


def _no_products(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    n = len(view.reply.products)
    return (n == 0) == bool(value), f"{n} product(s) shown"


def _cart_lines(view: TurnView) -> list[dict]:
    cart = view.current_cart
    return list(cart.get("lines") or []) if cart else []


def _cart_contains(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    """Each value is a product id or a substring of a line's name (case-insensitive)."""
    if view.current_cart is None:
        return False, "no cart reported in this conversation"
    lines = _cart_lines(view)
    names = [f"{ln.get('product_id', '')} {ln.get('name', '')}".lower() for ln in lines]
    missing = [v for v in _as_list(value) if not any(str(v).lower() in n for n in names)]
    held = [ln.get("name") for ln in lines]
    return not missing, f"missing {missing}; cart holds {held}" if missing else f"holds {held}"


def _cart_count(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    """The number of items in the cart (the sum of the quantities)."""
    cart = view.current_cart
    if cart is None:
        return int(value) == 0, "no cart reported in this conversation"
    count = int(cart.get("count", sum(int(ln.get("quantity", 1)) for ln in _cart_lines(view))))
    return count == int(value), f"cart count {count}"


def _clarifies(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    """The reply asks the shopper a question (ends with '?', or was a clarify command) and
    shows no products: a bad reference is asked about, never guessed."""
    r = view.reply
    asked = r.text.rstrip().endswith("?") or r.intent == "clarify"
    asked = asked or any(c.get("type") == "clarify" for c in r.commands)
    did = asked and not r.products
    detail = f"intent={r.intent!r}, {len(r.products)} product(s), ends {r.text.rstrip()[-30:]!r}"
    return did == bool(value), detail


def _understood_by(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    ok = view.reply.understood_by in _as_list(value)
    return ok, f"understood by {view.reply.understood_by!r}"


def _commands_match(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    """The commands that ran equal the turn's expected `commands` (evals.regress.accuracy)."""
    from evals.regress.accuracy import match_commands

    if view.expected_commands is None:
        return False, "the turn states no expected commands"
    m = match_commands(view.expected_commands, view.reply.commands, len(view.screen))
    return m.ok == bool(value), m.detail


def _model_written(value: Any, view: TurnView, ctx: CheckContext) -> tuple[bool, str]:
    r = view.reply
    return r.generated == bool(value), f"generated={r.generated} fallback={r.fallback}"


ASSERTION_TYPES: dict[str, Check] = {
    "contains": _contains,
    "not_contains": _not_contains,
    "regex": _regex,
    "not_regex": _not_regex,
    "intent": _intent,
    "tool_called": _tool_called,
    "tool_not_called": _tool_not_called,
    "cites_only_candidates": _cites_only_candidates,
    "cites_at_least": _cites_at_least,
    "prices_match_catalogue": _prices_match_catalogue,
    "within_budget": _within_budget,
    "refuses": _refuses,
    "handoff": _handoff,
    "max_latency_ms": _max_latency_ms,
    "similar_to": _similar_to,
    "judge": _judge,
    "products_subset_of_shown": _products_subset_of_shown,
    "budget_kept": _budget_kept,
    "states_price_of_item": _states_price_of_item,
    "excludes_brand_of_item": _excludes_brand_of_item,
    "no_products": _no_products,
    "cart_contains": _cart_contains,
    "cart_count": _cart_count,
    "clarifies": _clarifies,
    "understood_by": _understood_by,
    "commands_match": _commands_match,
    "model_written": _model_written,
}


def evaluate(assertion: Assertion, view: TurnView, ctx: CheckContext) -> AssertionResult:
    """Run one assertion; an exception in a check is a failure."""
    fn = ASSERTION_TYPES[assertion.type]
    try:
        ok, detail = fn(assertion.value, view, ctx)
    except Exception as exc:
        log.warning("assertion %s raised: %s", assertion.label, exc)
        ok, detail = False, f"check raised {type(exc).__name__}: {exc}"
    status: Status = "skip" if ok is None else ("pass" if ok else "fail")
    return AssertionResult(assertion.type, assertion.label, status, detail)
