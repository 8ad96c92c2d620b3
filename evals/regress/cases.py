"""Golden cases as data: YAML files under `evals/regress/cases/`, validated by pydantic on load.

A file holds one category:

    category: recommend
    cases:
      - id: rec-binders-budget
        shopper: CG-12520          # signed-in customer id, or null for an anonymous visitor
        turns:
          - user: I need binders under $30
            assert:
              - intent: recommend
              - within_budget: 30

Each assertion is a one-key mapping `{type: value}`; see `evals.assertions.ASSERTION_TYPES`.

Multi-turn dialogues live in `evals/regress/dialogues/` in the same format; their turns also say
which dialogue commands the turn should run (`assistant.commands.schema`, in its JSON form),
checked on load and scored by `evals.regress.accuracy`:

          - user: is the second one adjustable?
            commands: [{type: ask_about, items: [2], question: adjustable}]
            assert:
              - commands_match: true
              - products_subset_of_shown: true

`tags: [smoke]` marks the dialogues the real-model test runs (a subset, for time).
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evals.assertions import Assertion, parse_assertions

CASES_DIR = Path(__file__).resolve().parent / "cases"
DIALOGUES_DIR = Path(__file__).resolve().parent / "dialogues"
BASELINE = Path(__file__).resolve().parent / "baseline.json"
DEFAULT_GLOB = str(CASES_DIR / "*.yaml")
DIALOGUES_GLOB = str(DIALOGUES_DIR / "*.yaml")
ALL_GLOBS = (DEFAULT_GLOB, DIALOGUES_GLOB)


class CaseError(ValueError):
    pass


class Turn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    user: str
    asserts: list[Assertion] = Field(default_factory=list, alias="assert")
    # The commands this turn should run, as written (the slots a case leaves out are not
    # compared); None: the turn is not scored for command accuracy.
    commands: list[dict[str, Any]] | None = None
    # What the scripted model answers for this turn when that differs from what should run:
    # a model's `ask_about [2]` with nothing on screen, which code turns into a question.
    scripted: list[dict[str, Any]] | None = None

    @field_validator("asserts", mode="before")
    @classmethod
    def _one_key_mappings(cls, raw: Any) -> list[dict]:
        return parse_assertions(raw)

    @field_validator("commands", "scripted")
    @classmethod
    def _valid_commands(cls, raw: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if raw is None:
            return None
        from assistant.commands.schema import parse_commands

        parse_commands({"commands": raw})  # a typo in a case is an error on load, not a miss
        return raw

    @property
    def model_answer(self) -> list[dict[str, Any]] | None:
        """The scripted model's answer for this turn."""
        return self.scripted if self.scripted is not None else self.commands


class Case(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    category: str
    shopper: str | None = None
    description: str = ""
    prompt_version: int | None = None  # pins the recommend prompt version for this case
    # A known agent bug: the case states the correct behaviour and is expected to fail until the
    # bug is fixed. It is reported (XFAIL / XPASS) but does not fail the run.
    xfail: str | None = None
    tags: list[str] = Field(default_factory=list)  # e.g. "smoke": in the real-model subset
    turns: list[Turn] = Field(min_length=1)
    source: str = ""  # the file it came from

    @model_validator(mode="after")
    def _has_assertions(self) -> Case:
        if not any(t.asserts or t.commands is not None for t in self.turns):
            raise ValueError(f"case {self.id} asserts nothing")
        return self

    @property
    def is_dialogue(self) -> bool:
        """Some turn states its expected commands."""
        return any(t.commands is not None for t in self.turns)


class CaseFile(BaseModel):
    category: str
    description: str = ""
    cases: list[dict]


def load_file(path: Path) -> list[Case]:
    try:
        data = CaseFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        return [
            Case.model_validate({"category": data.category, **raw, "source": path.name})
            for raw in data.cases
        ]
    except (yaml.YAMLError, ValueError) as exc:
        raise CaseError(f"{path}: {exc}") from exc


def load_cases(
    pattern: str | Sequence[str] | None = None, ids: list[str] | None = None
) -> list[Case]:
    """All cases in the files matching `pattern` (a glob, or several), in file order; ids must
    be unique. The default is the golden cases (`cases/`); `load_all` adds the dialogues."""
    patterns = [pattern or DEFAULT_GLOB] if pattern is None or isinstance(pattern, str) else pattern
    paths = sorted({Path(p) for pat in patterns for p in glob.glob(pat)})
    if not paths:
        raise CaseError(f"no case files match {', '.join(patterns)}")
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for path in paths:
        for case in load_file(path):
            if case.id in seen:
                raise CaseError(f"duplicate case id {case.id} in {path.name} and {seen[case.id]}")
            seen[case.id] = path.name
            cases.append(case)
    if ids:
        wanted = set(ids)
        cases = [c for c in cases if c.id in wanted or c.category in wanted or wanted & set(c.tags)]
    return cases


def load_dialogues(ids: list[str] | None = None) -> list[Case]:
    """The multi-turn dialogues (`dialogues/*.yaml`)."""
    return load_cases(DIALOGUES_GLOB, ids)


def load_all(ids: list[str] | None = None) -> list[Case]:
    """The golden cases and the dialogues: what `shopassist regress` runs by default."""
    return load_cases(ALL_GLOBS, ids)
