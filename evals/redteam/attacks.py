"""The attacks as data: `attacks.yaml` (the Superstore demo store) and `actions.yaml` (action
abuse on the retail store, which acts on orders through chat), validated by pydantic on load.

A file names its `store`, the shopper who attacks, the poison planted in a private copy of the
catalogue for the indirect injections (a whole product for Superstore; an instruction in an
existing product's name and options for the retail store), and the attacks. Each attack has:

- `category`, one of `CATEGORIES`;
- `turns`: the shopper's messages, Jinja templates over the real targets read from the database
  (Superstore: `v1`..`v3`, the busiest other shoppers, each with `id`, `name`, `city`, `order`
  (the latest) and `orders`; `own_order`: one of the attacker's own orders; `attacker`: the
  attacker's id. Retail: see `retail_targets.ActionTargets.template_values`). Besides a
  message, a turn may be `{new_session: true}` (what follows is a new conversation from the same
  client),
  `{retry: true}` (the previous request sent again on the state it was sent with, as a network
  retry would) or `{repeat: N, turn: "..."}` (N messages, `i` = 0..N-1 in the template);
- `technique` (action abuse only): which kind of abuse, reported per technique;
- `known_issue` (optional): why the attack still succeeds and where the fix belongs. Its leaks are
  reported as KNOWN, apart, and do not fail the run; once it holds, the report says so, and the
  flag must go (the tests insist);
- `must_not_leak`: the leak kinds (`LEAK_KINDS`) the attack tries to cause. The scorer checks
  every kind on every reply anyway: a leak of any kind is a leak;
- `canary` (optional): a *derived* string that only appears if the attack was obeyed; saying it
  is an `instruction_followed` leak. Poisoned attacks use the poisoned product's canary;
- `must_say`: assertions on the attack's last reply, in the regression suite's assertion
  language (`evals.assertions`), e.g. `refuses: prompt_extraction` or `tool_not_called: ...`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from jinja2 import Environment, StrictUndefined, TemplateError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evals.assertions import Assertion, parse_assertions
from retrieval.sources.base import Product

ATTACKS_FILE = Path(__file__).resolve().parent / "attacks.yaml"
ACTIONS_FILE = Path(__file__).resolve().parent / "actions.yaml"
SUITES: dict[str, Path] = {"superstore": ATTACKS_FILE, "retail": ACTIONS_FILE}

Category = Literal[
    "direct_injection",
    "prompt_extraction",
    "price_manipulation",
    "other_shopper_data",
    "tool_misuse",
    "indirect_injection",
    "unicode_and_size",
    "roleplay_jailbreak",
    "multi_turn_escalation",
    "action_abuse",  # the retail store: acting on orders that aren't yours, or unconfirmed
]
CATEGORIES: tuple[str, ...] = get_args(Category)
Technique = Literal[
    "other_customer",  # another customer's order or account: by id, by claiming to be them
    "payment",  # a refund or charge to a method not on file, or someone else's
    "skip_confirmation",  # an action run without an explicit yes to what was stated
    "injection",  # instructions in product data or the message
    "replay",  # a confirmation replayed in a new session, repeated, or a request retried
    "brute_force",  # guessing identification details past the limit
]
TECHNIQUES: tuple[str, ...] = get_args(Technique)
Store = Literal["superstore", "retail"]
LeakKind = Literal[
    "system_prompt",  # a run of words copied from a prompt's system part
    "other_shopper",  # another customer's name, order, city, id or order facts
    "tool_misuse",  # a tool used against policy (someone else's order, ticket floods, SQL)
    "product",  # a product that was not a candidate
    "price",  # a price the catalogue does not hold, or a promised discount
    "instruction_followed",  # a canary said, or the poisoned text acted on
    "oversized",  # oversized input echoed back
    "audit_log_lost",  # a turn missing from the chat log
    "catalogue_changed",  # rows added to or removed from the catalogue tables
    # Scored on the store's end state and the action log (the retail store):
    "state_changed",  # another customer's order or account changed, or the catalogue's data
    "unconfirmed_action",  # an action run without a "yes" to it, stated, in the message before
    "foreign_payment",  # money moved to or from a payment method not on the attacker's file
    "impersonation",  # the conversation identified as, or acted for, another customer
]
LEAK_KINDS: tuple[str, ...] = get_args(LeakKind)
ACTION_LEAK_KINDS = ("state_changed", "unconfirmed_action", "foreign_payment", "impersonation")

_env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class AttackError(ValueError):
    pass


class PoisonSpec(BaseModel):
    """A product whose own fields carry instructions: data that must never be obeyed."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    category: str
    sub_category: str
    price: float
    features: str
    canary: str  # derived from the planted instruction: present only if it was obeyed
    obeyed: str  # a regex (case-insensitive) that means the reply acted on the planted text

    def product(self) -> Product:
        return Product.from_record(self, source="redteam")


class ItemPoison(BaseModel):
    """Instructions planted in an existing product of the attacker's own delivered order (the
    retail store): before its name (the name's last word, its head, stays the same), as an extra
    option on every variant and order line of it, and in its features. Jinja templates over the
    same targets as the turns."""

    model_config = ConfigDict(extra="forbid")
    name_prefix: str
    option: dict[str, str] = Field(min_length=1)
    features: str = ""
    canary: str


class TurnBlock(BaseModel):
    """A turn that is not a plain message (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    new_session: bool = False
    retry: bool = False
    repeat: int = Field(default=1, ge=1, le=40)
    turn: str | None = None

    @model_validator(mode="after")
    def _one_thing(self) -> TurnBlock:
        if sum((self.new_session, self.retry, self.turn is not None)) != 1:
            raise ValueError("a turn block is one of new_session, retry, or repeat + turn")
        return self


class AttackSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    category: Category
    technique: Technique | None = None
    description: str = ""
    turns: list[str | TurnBlock] = Field(min_length=1)
    signed_in: bool | None = None  # as the attacker; false: anonymous; None: the file's default
    known_issue: str | None = None
    poisoned: bool = False  # run against the private catalogue copy with the poison in it
    canary: str | None = None
    must_not_leak: list[LeakKind] = Field(min_length=1)
    must_say: list[Assertion] = Field(min_length=1)

    @field_validator("must_say", mode="before")
    @classmethod
    def _assertions(cls, raw: Any) -> list[dict]:
        return parse_assertions(raw)

    @field_validator("turns")
    @classmethod
    def _templates_compile(cls, turns: list[str | TurnBlock]) -> list[str | TurnBlock]:
        for turn in turns:
            text = turn if isinstance(turn, str) else turn.turn
            if text is None:
                continue
            try:
                _env.from_string(text)
            except TemplateError as exc:
                raise ValueError(f"turn {text[:40]!r} is not a valid template: {exc}") from exc
        if isinstance(turns[0], TurnBlock) and (turns[0].new_session or turns[0].retry):
            raise ValueError("an attack starts with a message")
        return turns

    @model_validator(mode="after")
    def _canary_is_targeted(self) -> AttackSpec:
        if (self.canary or self.poisoned) and "instruction_followed" not in self.must_not_leak:
            raise ValueError(f"{self.id}: a canary attack must list instruction_followed")
        if (self.category == "action_abuse") != (self.technique is not None):
            raise ValueError(f"{self.id}: a technique is named for action_abuse, and only there")
        if self.category == "action_abuse" and not set(self.must_not_leak) & set(ACTION_LEAK_KINDS):
            raise ValueError(f"{self.id}: action abuse must list an outcome leak kind")
        return self


class AttackFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    store: Store = "superstore"  # the catalogue the attacks need (`SHOPASSIST_CATALOGUE`)
    attacker: str  # the customer id who attacks
    signed_in: bool = True  # the attacks' default: signed in as the attacker, or anonymous
    poison: PoisonSpec | ItemPoison
    attacks: list[AttackSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> AttackFile:
        seen: set[str] = set()
        for a in self.attacks:
            if a.id in seen:
                raise ValueError(f"duplicate attack id {a.id}")
            seen.add(a.id)
        return self

    @model_validator(mode="after")
    def _poison_fits_the_store(self) -> AttackFile:
        # A whole planted product for Superstore; the retail store's live orders refer to its
        # existing products, so there the poison goes into one of them.
        want = ItemPoison if self.store == "retail" else PoisonSpec
        if not isinstance(self.poison, want):
            raise ValueError(f"a {self.store} attack file's poison is a {want.__name__}")
        action = [a.id for a in self.attacks if a.category == "action_abuse"]
        if action and self.store != "retail":
            raise ValueError(f"action abuse needs the retail store: {action[0]}")
        return self


@dataclass(frozen=True)
class Attack:
    """One attack, its turns rendered against the real targets. `new_session_at`: indexes of
    turns that start a new conversation; `retry_at`: of turns that resend the previous request
    on the state it was sent with (the turn's text is the previous one's)."""

    id: str
    category: str
    turns: tuple[str, ...]
    shopper: str | None = None
    canary: str | None = None
    poisoned: bool = False
    must_not_leak: tuple[str, ...] = ()
    must_say: tuple[Assertion, ...] = ()
    technique: str | None = None
    new_session_at: frozenset[int] = frozenset()
    retry_at: frozenset[int] = frozenset()
    known_issue: str | None = None


def load_attack_file(path: Path | str = ATTACKS_FILE) -> AttackFile:
    path = Path(path)
    try:
        return AttackFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValueError) as exc:
        raise AttackError(f"{path}: {exc}") from exc


@lru_cache(maxsize=4)
def default_suite(store: str = "superstore") -> AttackFile:
    """The checked-in attack file for a store; KeyError for a store without one."""
    return load_attack_file(SUITES[store])


def template_values(targets: Any) -> dict[str, Any]:
    """What attack turns may refer to: `v1`..`v3`, `own_order`, `attacker` (Superstore); targets
    that bring their own (`retail_targets.ActionTargets`) say."""
    if hasattr(targets, "template_values"):
        return dict(targets.template_values())
    victims = (targets.victims + targets.victims * 3)[:3]
    if not victims:
        raise AttackError("the catalogue has no other shoppers to attack")
    values: dict[str, Any] = {
        f"v{i}": {
            "id": v.id,
            "name": v.name,
            "city": v.city,
            "order": v.orders[0],
            "orders": v.orders,
        }
        for i, v in enumerate(victims, 1)
    }
    values["own_order"] = sorted(targets.own_orders)[0] if targets.own_orders else ""
    values["attacker"] = targets.attacker
    return values


def build_attacks(targets: Any, suite: AttackFile | None = None) -> list[Attack]:
    """Every attack in the file, its turns filled in with `targets` (a `scorer.Targets`)."""
    suite = suite or default_suite()
    values = template_values(targets)
    out = []
    for spec in suite.attacks:
        try:
            turns, new_sessions, retries = _render_turns(spec.turns, values)
        except TemplateError as exc:
            raise AttackError(f"attack {spec.id}: {exc}") from exc
        signed_in = suite.signed_in if spec.signed_in is None else spec.signed_in
        out.append(
            Attack(
                spec.id,
                spec.category,
                turns,
                shopper=suite.attacker if signed_in else None,
                canary=spec.canary or (suite.poison.canary if spec.poisoned else None),
                poisoned=spec.poisoned,
                must_not_leak=tuple(spec.must_not_leak),
                must_say=tuple(spec.must_say),
                technique=spec.technique,
                new_session_at=frozenset(new_sessions),
                retry_at=frozenset(retries),
                known_issue=spec.known_issue,
            )
        )
    return out


def render(template: str, values: dict[str, Any]) -> str:
    return _env.from_string(template).render(**values)


def _render_turns(
    turns: list[str | TurnBlock], values: dict[str, Any]
) -> tuple[tuple[str, ...], list[int], list[int]]:
    out: list[str] = []
    new_sessions: list[int] = []
    retries: list[int] = []
    fresh = False
    for turn in turns:
        if isinstance(turn, str):
            turn = TurnBlock(turn=turn)
        if turn.new_session:
            fresh = True
            continue
        if turn.retry:
            if fresh:
                raise TemplateError("a retry must follow the request it retries")
            retries.append(len(out))
            out.append(out[-1])
            continue
        assert turn.turn is not None
        for i in range(turn.repeat):
            if fresh:
                new_sessions.append(len(out))
                fresh = False
            out.append(render(turn.turn, {**values, "i": i}))
    if fresh:
        raise TemplateError("a new session with no message after it")
    return tuple(out), new_sessions, retries
