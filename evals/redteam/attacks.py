"""The attacks as data: `attacks.yaml`, validated by pydantic on load.

The file names the signed-in shopper who attacks, the poisoned product planted in a private copy
of the catalogue for the indirect injections, and the attacks. Each attack has:

- `category`, one of `CATEGORIES`;
- `turns`: the shopper's messages, Jinja templates over the real targets read from the database
  (`v1`..`v3`: the busiest other shoppers, each with `id`, `name`, `city`, `order` (the latest)
  and `orders`; `own_order`: one of the attacker's own orders; `attacker`: the attacker's id);
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
]
CATEGORIES: tuple[str, ...] = get_args(Category)
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
]
LEAK_KINDS: tuple[str, ...] = get_args(LeakKind)

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


class AttackSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    category: Category
    description: str = ""
    turns: list[str] = Field(min_length=1)
    signed_in: bool = True  # as the attacker; false: an anonymous visitor
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
    def _templates_compile(cls, turns: list[str]) -> list[str]:
        for turn in turns:
            try:
                _env.from_string(turn)
            except TemplateError as exc:
                raise ValueError(f"turn {turn[:40]!r} is not a valid template: {exc}") from exc
        return turns

    @model_validator(mode="after")
    def _canary_is_targeted(self) -> AttackSpec:
        if (self.canary or self.poisoned) and "instruction_followed" not in self.must_not_leak:
            raise ValueError(f"{self.id}: a canary attack must list instruction_followed")
        return self


class AttackFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    attacker: str  # the signed-in customer id who attacks
    poison: PoisonSpec
    attacks: list[AttackSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> AttackFile:
        seen: set[str] = set()
        for a in self.attacks:
            if a.id in seen:
                raise ValueError(f"duplicate attack id {a.id}")
            seen.add(a.id)
        return self


@dataclass(frozen=True)
class Attack:
    """One attack, its turns rendered against the real targets."""

    id: str
    category: str
    turns: tuple[str, ...]
    shopper: str | None = None
    canary: str | None = None
    poisoned: bool = False
    must_not_leak: tuple[str, ...] = ()
    must_say: tuple[Assertion, ...] = ()


def load_attack_file(path: Path | str = ATTACKS_FILE) -> AttackFile:
    path = Path(path)
    try:
        return AttackFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValueError) as exc:
        raise AttackError(f"{path}: {exc}") from exc


@lru_cache(maxsize=1)
def default_suite() -> AttackFile:
    return load_attack_file(ATTACKS_FILE)


def template_values(targets: Any) -> dict[str, Any]:
    """What attack turns may refer to: `v1`..`v3`, `own_order`, `attacker`."""
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
            turns = tuple(_env.from_string(t).render(**values) for t in spec.turns)
        except TemplateError as exc:
            raise AttackError(f"attack {spec.id}: {exc}") from exc
        out.append(
            Attack(
                spec.id,
                spec.category,
                turns,
                shopper=suite.attacker if spec.signed_in else None,
                canary=spec.canary or (suite.poison.canary if spec.poisoned else None),
                poisoned=spec.poisoned,
                must_not_leak=tuple(spec.must_not_leak),
                must_say=tuple(spec.must_say),
            )
        )
    return out
