"""Command accuracy: did the turn run the dialogue commands the case expects?

A dialogue turn may state `commands:`, the command list the understanding step should produce
for it, in the JSON form of `assistant.commands.schema`. `match_commands` compares that with
`Reply.commands` (the validated commands that ran):

- the same command types in the same order;
- every slot the expected command *writes* is equal after normalisation; slots it leaves out
  are not compared (so a model may add a category), while an explicit `null` or `[]` means
  "must be unset / empty";
- strings compare case-insensitively (and singular = plural: "Bookcases" = "bookcase");
  lists compare as sets; prices within 1%;
- free-text slots (`query`, `aspect`, `question`, a hand-off `reason`) match when the content
  words of one contain the other's, or their Jaccard similarity is at least 0.5;
- `items: []` on `compare` / `ask_about` means "everything on screen", so it equals the full
  list of item numbers shown before the turn.

A turn without expected commands is not scored. `run_metrics` turns a whole run into the
figures the report prints: command accuracy, per-turn assertion pass rate, the share of
product turns whose text the model wrote, and latency percentiles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from assistant.commands import schema

if TYPE_CHECKING:
    from .runner import RunResult

PRICE_TOLERANCE = 0.01  # relative
JACCARD = 0.5
FREE_TEXT = frozenset({"query", "aspect", "question", "reason"})
PRICES = frozenset({"min_price", "max_price"})
# Turns whose text a model may write (the denominator of the model-written share).
PRODUCT_TURN_TYPES = frozenset({"search", "refine", "ask_about", "compare"})
PRODUCT_INTENTS = frozenset({"recommend", "refine", "product_details", "compare"})
_STOP_WORDS = (
    "an the and or for of to in on at with without my me im we our you your some any something "
    "anything one ones need want looking look find show get give please can could would like "
    "under below over above less more than about around between from it its this that these "
    "those there is are be do does have has which what who how also just really very new good "
    "nice best first second third fourth fifth last much how then ok okay"
)
_STOP = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"[a-z0-9]+")


def _command_classes() -> dict[str, type[BaseModel]]:
    out: dict[str, type[BaseModel]] = {}
    for obj in vars(schema).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and "type" in obj.model_fields:
            default = obj.model_fields["type"].default
            if isinstance(default, str):
                out[default] = obj
    return out


COMMAND_CLASSES = _command_classes()


def singular(word: str) -> str:
    w = word.lower().strip()
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "xes", "ches", "shes", "zes")):
        return w[:-2]
    return w[:-1] if w.endswith("s") and not w.endswith("ss") and len(w) > 3 else w


def content_words(text: str) -> set[str]:
    return {singular(w) for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _STOP}


def text_matches(expected: str, actual: str) -> bool:
    """Free text: one's content words contain the other's, or Jaccard >= 0.5."""
    e, a = content_words(expected), content_words(actual)
    if not e:
        return not a or not expected.strip()
    if not a:
        return False
    if e <= a or a <= e:
        return True
    return len(e & a) / len(e | a) >= JACCARD


def _norm_item(x: Any) -> Any:
    return singular(str(x)) if isinstance(x, str) else x


def _default(kind: str, slot: str) -> Any:
    cls = COMMAND_CLASSES.get(kind)
    if cls is None or slot not in cls.model_fields:
        return None
    f = cls.model_fields[slot]
    return None if f.is_required() else f.get_default(call_default_factory=True)


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def slot_matches(kind: str, slot: str, expected: Any, actual: Any, shown: int | None) -> bool:
    if slot == "items" and kind in ("compare", "ask_about") and shown:
        everything = list(range(1, shown + 1))
        expected = expected or everything
        actual = actual or everything
    if _empty(expected):
        return _empty(actual) or actual == _default(kind, slot)
    if actual is None:
        return False
    if slot in PRICES:
        try:
            e, a = float(expected), float(actual)
        except (TypeError, ValueError):
            return False
        return abs(e - a) <= PRICE_TOLERANCE * max(abs(e), 1e-9)
    if isinstance(expected, list | tuple | set):
        if not isinstance(actual, list | tuple | set):
            actual = [actual]
        return {_norm_item(x) for x in expected} == {_norm_item(x) for x in actual}
    if slot in FREE_TEXT and kind != "decline":
        return text_matches(str(expected), str(actual))
    if isinstance(expected, str):
        return expected.strip().lower() == str(actual).strip().lower()
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(expected) == bool(actual)
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-9)
    return bool(expected == actual)


@dataclass
class CommandMatch:
    ok: bool
    slots_total: int = 0
    slots_matched: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def detail(self) -> str:
        return "; ".join(self.problems) if self.problems else "commands match"


def _show(cmds: Iterable[dict[str, Any]]) -> str:
    return "[" + ", ".join(str(c.get("type")) for c in cmds) + "]"


def match_commands(
    expected: Sequence[dict[str, Any]], actual: Sequence[dict[str, Any]], shown: int | None = None
) -> CommandMatch:
    """Compare one turn's commands. `shown`: how many items were on screen before the turn."""
    exp_types = [str(c.get("type")) for c in expected]
    act_types = [str(c.get("type")) for c in actual]
    if exp_types != act_types:
        total = sum(len([k for k in c if k != "type"]) for c in expected)
        return CommandMatch(
            False, total, 0, [f"expected {_show(expected)}, got {_show(actual)}: {list(actual)}"]
        )
    result = CommandMatch(True)
    for n, (e, a) in enumerate(zip(expected, actual, strict=True), 1):
        kind = exp_types[n - 1]
        for slot, want in e.items():
            if slot == "type":
                continue
            result.slots_total += 1
            got = a.get(slot, _default(kind, slot))
            if slot_matches(kind, slot, want, got, shown):
                result.slots_matched += 1
            else:
                result.ok = False
                result.problems.append(f"{kind}.{slot}: expected {want!r}, got {got!r}")
    return result


# Run-level figures ------------------------------------------------------------------------
def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (linear interpolation, numpy's default); NaN when empty."""
    xs = sorted(float(s) for s in samples if s is not None and not math.isnan(float(s)))
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class RunMetrics:
    turns: int = 0
    scored_turns: int = 0  # turns with expected commands
    command_matches: int = 0
    slots_total: int = 0
    slots_matched: int = 0
    assertion_turns: int = 0  # turns with at least one non-skipped assertion
    assertion_turns_passed: int = 0
    assertions: int = 0
    assertions_passed: int = 0
    product_turns: int = 0
    model_written: int = 0
    first_text_p50_ms: float = float("nan")
    first_text_p95_ms: float = float("nan")
    turn_p50_ms: float = float("nan")
    turn_p95_ms: float = float("nan")
    understood_by: dict[str, int] = field(default_factory=dict)
    by_command: dict[str, list[int]] = field(default_factory=dict)  # type: [matched, scored]

    @staticmethod
    def _rate(a: int, b: int) -> float:
        return a / b if b else float("nan")

    @property
    def command_accuracy(self) -> float:
        return self._rate(self.command_matches, self.scored_turns)

    @property
    def slot_accuracy(self) -> float:
        return self._rate(self.slots_matched, self.slots_total)

    @property
    def turn_pass_rate(self) -> float:
        return self._rate(self.assertion_turns_passed, self.assertion_turns)

    @property
    def assertion_pass_rate(self) -> float:
        return self._rate(self.assertions_passed, self.assertions)

    @property
    def model_written_share(self) -> float:
        return self._rate(self.model_written, self.product_turns)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for name in (
            "command_accuracy",
            "slot_accuracy",
            "turn_pass_rate",
            "assertion_pass_rate",
            "model_written_share",
        ):
            out[name] = getattr(self, name)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def is_product_turn(commands: Sequence[dict[str, Any]], intent: str) -> bool:
    if commands:
        return any(c.get("type") in PRODUCT_TURN_TYPES for c in commands)
    return intent in PRODUCT_INTENTS


def run_metrics(run: RunResult) -> RunMetrics:
    m = RunMetrics()
    first, total = [], []
    for case in run.cases:
        for t in case.turns:
            m.turns += 1
            m.understood_by[t.understood_by or "?"] = m.understood_by.get(t.understood_by, 0) + 1
            if t.command_match is not None:
                m.scored_turns += 1
                m.command_matches += bool(t.command_match)
                m.slots_total += t.slots_total
                m.slots_matched += t.slots_matched
                for kind in dict.fromkeys(str(c.get("type")) for c in t.expected_commands or []):
                    row = m.by_command.setdefault(kind, [0, 0])
                    row[0] += bool(t.command_match)
                    row[1] += 1
            judged = [a for a in t.assertions if a.status != "skip"]
            if judged:
                m.assertion_turns += 1
                m.assertion_turns_passed += all(a.status == "pass" for a in judged)
                m.assertions += len(judged)
                m.assertions_passed += sum(a.status == "pass" for a in judged)
            if is_product_turn(t.commands, t.intent):
                m.product_turns += 1
                m.model_written += bool(t.generated)
            total.append(t.latency_ms)
            first.append(t.first_text_ms if t.first_text_ms is not None else t.latency_ms)
    m.first_text_p50_ms, m.first_text_p95_ms = percentile(first, 50), percentile(first, 95)
    m.turn_p50_ms, m.turn_p95_ms = percentile(total, 50), percentile(total, 95)
    return m
