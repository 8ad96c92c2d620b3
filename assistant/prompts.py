"""Versioned prompt templates, loaded by name and version from the `prompts` package's data.

A template file is YAML (`prompts/<name>.v<version>.yaml`): name, version, description,
variables, and one Jinja2 string per part (`system`, `user`, or named `templates` for the
code-decided fallbacks). No prompt text lives in Python, so a prompt change is a data change that
the regression suite can diff. The files are package data, found with `importlib.resources`, so an
installed wheel has them.

Languages: `<name>.v<version>.yaml` is English, the reference; `<name>.v<version>.<lang>.yaml`
(e.g. `replies.v1.zh.yaml`) is the same prompt in another language, with the same variables,
parts and template keys (tests/test_prompts_i18n.py fails on a missing key). A library bound to a
language (`library.for_language("zh")`) renders that language's file and falls back to the
English one for a prompt that has none (`understand`, `router`: the model reads them in English).

- `system` / `user` load into a LangChain `ChatPromptTemplate` (`template_format="jinja2"`);
  `messages()` returns real LangChain messages that every backend takes.
- `templates.*` (`text()`) render with a compiled, cached Jinja2 template: code-decided replies
  are on every turn's path and must be fast.

Both raise `PromptError` when a declared variable is missing.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined, Template, TemplateError
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

PROMPTS_PACKAGE = "prompts"
_FILE = re.compile(r"^(?P<name>[a-z0-9_]+)\.v(?P<version>\d+)(?:\.(?P<language>[a-z]{2}))?\.ya?ml$")
BASE_LANGUAGE = "en"  # the reference files carry no language suffix
_ROLES = {"system": "system", "user": "human"}  # YAML part → LangChain message role
_env = Environment(
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


class PromptError(LookupError):
    pass


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    return _env.from_string(source)


def prompts_dir() -> Traversable:
    """The prompt files shipped in the `prompts` package."""
    return files(PROMPTS_PACKAGE)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    variables: tuple[str, ...]
    parts: dict[str, str]
    description: str = ""
    path: Traversable | None = field(default=None, compare=False)
    language: str = BASE_LANGUAGE

    @property
    def label(self) -> str:
        """ "replies.v1", "replies.v1.zh": the file's name without its extension."""
        suffix = "" if self.language == BASE_LANGUAGE else f".{self.language}"
        return f"{self.name}.v{self.version}{suffix}"

    def template_keys(self) -> frozenset[str]:
        return frozenset(
            p.removeprefix("templates.") for p in self.parts if p.startswith("templates.")
        )

    def _check_variables(self, values: dict[str, Any]) -> None:
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise PromptError(f"prompt {self.name} v{self.version} needs {missing}")

    @cached_property
    def chat_prompt(self) -> ChatPromptTemplate:
        """The `system` and `user` parts as a LangChain chat prompt (Jinja2 templates)."""
        roles = [(_ROLES[p], self.parts[p]) for p in ("system", "user") if p in self.parts]
        if not roles:
            raise PromptError(f"prompt {self.name} v{self.version} has no system or user part")
        return ChatPromptTemplate.from_messages(roles, template_format="jinja2")

    def messages(self, **values: object) -> list[BaseMessage]:
        """The chat messages (system, then human) with `values` filled in."""
        self._check_variables(values)
        try:
            out = self.chat_prompt.format_messages(**values)
        except (KeyError, TemplateError) as exc:
            raise PromptError(f"prompt {self.name} v{self.version}: {exc}") from exc
        return [m.model_copy(update={"content": str(m.content).strip()}) for m in out]

    def render(self, part: str, **values: object) -> str:
        """One part as text: `system` / `user` as the model sees them, or `templates.<key>`."""
        if part in _ROLES and part in self.parts:
            roles: list[str] = [p for p in ("system", "user") if p in self.parts]
            return str(self.messages(**values)[roles.index(part)].content)
        try:
            source = self.parts[part]
        except KeyError:
            raise PromptError(f"prompt {self.name} v{self.version} has no part {part!r}") from None
        values = {"cur": "$", **values}  # the store's currency symbol, before every price
        try:
            return _compiled(source).render(**values).strip()
        except TemplateError as exc:
            raise PromptError(f"prompt {self.name} v{self.version} {part}: {exc}") from exc


@dataclass
class PromptLibrary:
    """Every prompt file in `directory` (default: the `prompts` package's data), rendered in
    `language` ("en" unless bound with `for_language`)."""

    directory: Traversable | Path | str | None = None
    language: str = BASE_LANGUAGE
    currency_symbol: str = "$"  # what `{{ cur }}` prints before a price

    def __post_init__(self) -> None:
        if self.directory is None:
            self.directory = prompts_dir()
        elif isinstance(self.directory, str):
            self.directory = Path(self.directory)
        # (name, version, language) -> template; English is the reference every file matches.
        self._files: dict[tuple[str, int, str], PromptTemplate] = {}
        self._views: dict[str, PromptLibrary] = {self.language: self}
        entries = sorted(
            (e for e in self.directory.iterdir() if e.is_file() and _FILE.match(e.name)),
            key=lambda e: e.name,
        )
        for entry in entries:
            m = _FILE.match(entry.name)
            assert m is not None
            language = m["language"] or BASE_LANGUAGE
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
            name, version = data["name"], int(data["version"])
            if (name, version) != (m["name"], int(m["version"])):
                raise PromptError(f"{entry.name} declares {name} v{version}")
            if data.get("language", language) != language:
                raise PromptError(f"{entry.name} declares language {data['language']!r}")
            parts = {k: data[k] for k in ("system", "user") if k in data}
            parts.update({f"templates.{k}": v for k, v in (data.get("templates") or {}).items()})
            self._files[(name, version, language)] = PromptTemplate(
                name,
                version,
                tuple(data.get("variables") or ()),
                parts,
                data.get("description", ""),
                entry,
                language,
            )
        orphans = [
            t.label
            for (n, v, lang), t in self._files.items()
            if (n, v, BASE_LANGUAGE) not in self._files
        ]
        if orphans:
            raise PromptError(f"{orphans} have no English file to translate")

    def for_language(self, language: str | None) -> PromptLibrary:
        """The same files, rendered in `language` (English for None or an unknown one)."""
        language = language or BASE_LANGUAGE
        view = self._views.get(language)
        if view is None:
            view = copy.copy(self)  # shares the loaded files and the views
            view.language = language
            self._views[language] = view
        return view

    def with_currency(self, symbol: str) -> PromptLibrary:
        """The same files, with prices shown in the store's currency ("€", "£", "$")."""
        if symbol == self.currency_symbol:
            return self
        view = copy.copy(self)
        view.currency_symbol = symbol
        view._views = {view.language: view}  # its language views print the same symbol
        return view

    def get(self, name: str, version: int | None = None) -> PromptTemplate:
        """Prompt `name` (latest version unless given) in this library's language, else the
        English one."""
        if version is None:
            versions = [v for (n, v) in self.names() if n == name]
            if not versions:
                raise PromptError(f"no prompt named {name!r} in {self.directory}")
            version = max(versions)
        version = int(version)
        found = self._files.get((name, version, self.language)) or self._files.get(
            (name, version, BASE_LANGUAGE)
        )
        if found is None:
            raise PromptError(f"no prompt {name!r} version {version}")
        return found

    def names(self) -> list[tuple[str, int]]:
        """(name, version) of every prompt (its English file)."""
        return sorted((n, v) for (n, v, lang) in self._files if lang == BASE_LANGUAGE)

    def files(self) -> list[PromptTemplate]:
        """Every file, each language's translation beside its English one."""
        return [self._files[k] for k in sorted(self._files)]

    def translations(self, name: str, version: int) -> dict[str, PromptTemplate]:
        """language -> file, for one prompt version ("en" always there)."""
        return {lang: t for (n, v, lang), t in self._files.items() if (n, v) == (name, version)}

    def text(
        self, prompt_name: str, key: str, version: int | None = None, /, **values: object
    ) -> str:
        """A code-decided reply template (fallbacks, refusals, support facts), in this
        library's language."""
        values.setdefault("cur", self.currency_symbol)
        return self.get(prompt_name, version).render(f"templates.{key}", **values)


def system_prompt_runs(library: PromptLibrary | None = None) -> frozenset[str]:
    """Every PROMPT_RUN-word run of every prompt's system part, template variables dropped: a
    reply (or a role-played "who are you") that copies one leaks the prompt."""
    from .validate import word_runs

    library = library or PromptLibrary()
    out: set[str] = set()
    for prompt in library.files():  # every language's system prompt
        system = prompt.parts.get("system")
        if system:
            for line in re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", system).splitlines():
                out |= word_runs(line)
    return frozenset(out)
