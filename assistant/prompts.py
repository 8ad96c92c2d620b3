"""Versioned prompt templates under `prompts/`, loaded by name and version, filled with Jinja2.

A template file is YAML: name, version, description, variables, and one Jinja2 string per part
(`system`, `user`, or named `templates` for the code-decided fallbacks). No prompt text lives in
Python, so a prompt change is a data change that the regression suite can diff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from jinja2 import Environment, StrictUndefined, TemplateError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_FILE = re.compile(r"^(?P<name>[a-z0-9_]+)\.v(?P<version>\d+)\.ya?ml$")
_env = Environment(
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


class PromptError(LookupError):
    pass


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    variables: tuple[str, ...]
    parts: dict[str, str]
    description: str = ""
    path: Path | None = field(default=None, compare=False)

    def render(self, part: str, **values: object) -> str:
        missing = [v for v in self.variables if v not in values]
        if missing and part in ("system", "user"):
            raise PromptError(f"prompt {self.name} v{self.version} needs {missing}")
        try:
            return _env.from_string(self.parts[part]).render(**values).strip()
        except KeyError:
            raise PromptError(f"prompt {self.name} v{self.version} has no part {part!r}") from None
        except TemplateError as exc:
            raise PromptError(f"prompt {self.name} v{self.version} {part}: {exc}") from exc

    def messages(self, **values: object) -> list[tuple[str, str]]:
        return [
            (role, self.render(role, **values)) for role in ("system", "user") if role in self.parts
        ]


@dataclass
class PromptLibrary:
    directory: Path = PROMPTS_DIR

    def __post_init__(self) -> None:
        self._templates: dict[tuple[str, int], PromptTemplate] = {}
        for path in sorted(self.directory.glob("*.y*ml")):
            m = _FILE.match(path.name)
            if not m:
                continue
            data = yaml.safe_load(path.read_text())
            name, version = data["name"], int(data["version"])
            if (name, version) != (m["name"], int(m["version"])):
                raise PromptError(f"{path.name} declares {name} v{version}")
            parts = {k: data[k] for k in ("system", "user") if k in data}
            parts.update({f"templates.{k}": v for k, v in (data.get("templates") or {}).items()})
            self._templates[(name, version)] = PromptTemplate(
                name,
                version,
                tuple(data.get("variables") or ()),
                parts,
                data.get("description", ""),
                path,
            )

    def get(self, name: str, version: int | None = None) -> PromptTemplate:
        if version is None:
            versions = [v for (n, v) in self._templates if n == name]
            if not versions:
                raise PromptError(f"no prompt named {name!r} in {self.directory}")
            version = max(versions)
        try:
            return self._templates[(name, int(version))]
        except KeyError:
            raise PromptError(f"no prompt {name!r} version {version}") from None

    def names(self) -> list[tuple[str, int]]:
        return sorted(self._templates)

    def text(
        self, prompt_name: str, key: str, version: int | None = None, /, **values: object
    ) -> str:
        """A code-decided reply template (fallbacks, refusals, support facts)."""
        return self.get(prompt_name, version).render(f"templates.{key}", **values)


@lru_cache(maxsize=4)
def default_library(directory: str | None = None) -> PromptLibrary:
    return PromptLibrary(Path(directory) if directory else PROMPTS_DIR)
