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
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evals.assertions import Assertion, parse_assertions

CASES_DIR = Path(__file__).resolve().parent / "cases"
BASELINE = Path(__file__).resolve().parent / "baseline.json"
DEFAULT_GLOB = str(CASES_DIR / "*.yaml")


class CaseError(ValueError):
    pass


class Turn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    user: str
    asserts: list[Assertion] = Field(default_factory=list, alias="assert")

    @field_validator("asserts", mode="before")
    @classmethod
    def _one_key_mappings(cls, raw: Any) -> list[dict]:
        return parse_assertions(raw)


class Case(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    category: str
    shopper: str | None = None
    description: str = ""
    prompt_version: int | None = None  # pins the recommend prompt version for this case
    # A known agent bug: the case states the correct behaviour and is expected to fail until the
    # bug is fixed. It is reported (XFAIL / XPASS) but does not fail the run.
    xfail: str | None = None
    turns: list[Turn] = Field(min_length=1)
    source: str = ""  # the file it came from

    @model_validator(mode="after")
    def _has_assertions(self) -> Case:
        if not any(t.asserts for t in self.turns):
            raise ValueError(f"case {self.id} asserts nothing")
        return self


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


def load_cases(pattern: str | None = None, ids: list[str] | None = None) -> list[Case]:
    """All cases in the files matching `pattern` (a glob), in file order; ids must be unique."""
    paths = sorted(Path(p) for p in glob.glob(pattern or DEFAULT_GLOB))
    if not paths:
        raise CaseError(f"no case files match {pattern or DEFAULT_GLOB}")
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
        cases = [c for c in cases if c.id in wanted or c.category in wanted]
    return cases
