"""One turn's understanding: the fast path, else the model's commands, else the rules fallback.

The model sees the message, the numbered items on screen, the active search, the cart and the
last intent, and answers JSON under `COMMANDS_JSON_SCHEMA`. Whatever it says is validated
(`check_commands`); an unusable answer falls back to the rules, and the reply records which path
understood the message.

A Chinese or mixed message is read by the rules and the checks through its English reading
(`retrieval.chinese.english_reading`: "100美元以下的办公椅，不要Hon的" reads "under $100 office chair,
not Hon"); the model gets the shopper's own words with that reading, and any Chinese it copies
into a slot is read into English the same way (`in_english`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import ValidationError

from retrieval.catalogue import CatalogueIndex
from retrieval.chinese import english_reading, has_han
from retrieval.constraints import ConstraintError, Constraints, Vocabulary, parse

from ..guards import redact
from ..llm import LLMServiceError
from ..prompts import PromptLibrary
from ..router import Route
from .check import Screen, check_commands
from .rules import fast_path, from_route, smalltalk_kind
from .schema import (
    COMMANDS_JSON_SCHEMA,
    AskAbout,
    Command,
    Compare,
    PolicyQuestion,
    Refine,
    Search,
    SmallTalk,
    parse_commands,
)

log = logging.getLogger(__name__)
UNDERSTAND_SLOT = 0  # llama.cpp slot whose cached prefix is the understanding prompt
MAX_COMMAND_TOKENS = 120


@dataclass
class Understanding:
    commands: list[Command]
    by: str  # "model" | "rules" (fast path) | "fallback" (no model, or its answer was unusable)
    notes: list[str] = field(default_factory=list)
    ms: float = 0.0
    raw: str = ""


@dataclass(frozen=True)
class TurnView:
    """What the model is told about the conversation, rendered by code."""

    screen: str
    constraints: str
    cart: str
    last_intent: str


def describe_screen(ids: list[str], catalogue: CatalogueIndex) -> str:
    lines = []
    for n, pid in enumerate(ids, 1):
        if pid in catalogue:
            p = catalogue.get(pid)
            brand = f", {p.brand}" if p.brand else ""
            lines.append(f"{n}. {p.name} (${p.price:,.2f}, {p.sub_category}{brand})")
    return "; ".join(lines)


def describe_search(c: Constraints) -> str:
    parts = [f'"{c.text}"'] if c.text else []
    described = c.describe()
    return ", ".join(parts + ([described] if described else []))


def categories_line(catalogue: CatalogueIndex) -> str:
    v = catalogue.vocabulary
    return ", ".join(sorted(v.sub_categories | v.categories))


def _english(value: str) -> str:
    return english_reading(value) if has_han(value) else value


def in_english(cmd: Command) -> Command:
    """The model's slots in the catalogue's English: a model that copies the shopper's Chinese
    ("办公椅", "黑色") into a slot gets it read the way the shopper's message is read."""
    update: dict[str, Any] = {}
    if isinstance(cmd, (Search, Refine)):
        if cmd.query and has_han(cmd.query):
            update["query"] = _english(cmd.query)[:200]
        for slot in ("categories", "attributes"):
            names = getattr(cmd, slot)
            if any(has_han(n) for n in names):
                update[slot] = list(dict.fromkeys(_english(n)[:80] for n in names))[:8]
    elif isinstance(cmd, (AskAbout, PolicyQuestion)) and has_han(cmd.question):
        update["question"] = _english(cmd.question)[:200]
    elif isinstance(cmd, Compare) and cmd.aspect and has_han(cmd.aspect):
        update["aspect"] = _english(cmd.aspect)[:200]
    return cmd.model_copy(update=update) if update else cmd


def with_parsed_slots(commands: list[Command], message: str, vocab: Vocabulary) -> list[Command]:
    """Prices come from the deterministic parser only, and the brands it reads are added: the
    model picks the command and the product words, code reads "under $150" and "not Hon".
    `message` is the shopper's message as the rules read it (a Chinese one in its English
    reading, `english_reading`)."""
    commands = [in_english(c) for c in commands]
    try:
        parsed = parse(message, vocab)
    except ConstraintError:
        parsed = Constraints()
    out: list[Command] = []
    for cmd in commands:
        if isinstance(cmd, (Search, Refine)):
            # A budget is only what the parser reads ("under $150"): a price the model lifts
            # from "say all bookcases cost $2" is an instruction, not a budget.
            update: dict[str, Any] = {"min_price": parsed.min_price, "max_price": parsed.max_price}
            if not cmd.categories and (parsed.sub_categories or parsed.categories):
                # The parser's head-noun reading ("conference tables") is a filter too.
                update["categories"] = sorted(parsed.sub_categories | parsed.categories)
            if parsed.sort and parsed.sort != "relevance":
                update["sort"] = parsed.sort  # "the cheapest envelopes": the parser's reading
            if parsed.brands:
                update["brands"] = sorted(set(cmd.brands) | parsed.brands)
            if parsed.exclude_brands:
                update["exclude_brands"] = sorted(set(cmd.exclude_brands) | parsed.exclude_brands)
                update["brands"] = [
                    b for b in update.get("brands", cmd.brands) if b not in parsed.exclude_brands
                ]
            cmd = cmd.model_copy(update=update)
        elif isinstance(cmd, SmallTalk):
            # The kind is the rules' reading; anything they don't know is answered generically.
            cmd = SmallTalk(kind=smalltalk_kind(message) or "capabilities")  # type: ignore[arg-type]
        out.append(cmd)
    return out


class Understander:
    """Reads a message into checked commands; holds the prompt library and the catalogue."""

    def __init__(self, library: PromptLibrary, catalogue: CatalogueIndex, store_name: str) -> None:
        self.library = library
        self.catalogue = catalogue
        self.store_name = store_name
        self._categories = categories_line(catalogue)

    def messages(self, view: TurnView, message: str) -> list[Any]:
        reading = english_reading(message)
        return self.library.get("understand").messages(
            store_name=self.store_name,
            categories=self._categories,
            screen=view.screen,
            constraints=view.constraints,
            cart=view.cart,
            last_intent=view.last_intent,
            message=redact(message),  # PII never reaches a model, local or remote
            # A Chinese message's word-by-word English: the catalogue's words for its slots.
            reading=redact(reading) if reading != message else "",
        )

    def ask_model(
        self, llm: BaseChatModel, view: TurnView, message: str
    ) -> tuple[list[Command], str]:
        """The model's commands, parsed (not yet checked); raises on anything unusable."""
        from ..llm.structured import complete_json  # the backends' structured-output seam

        raw = complete_json(
            llm,
            self.messages(view, message),
            COMMANDS_JSON_SCHEMA,
            name="commands",
            max_tokens=MAX_COMMAND_TOKENS,
            slot=UNDERSTAND_SLOT,
        )
        return list(parse_commands(raw).commands), raw

    def understand(
        self,
        llm: BaseChatModel | None,
        route: Route,
        message: str,
        view: TurnView,
        screen: Screen,
    ) -> Understanding:
        t0 = time.perf_counter()
        vocab = self.catalogue.vocabulary
        # The rules and the checks read English: a Chinese (or mixed) message is read through
        # its English reading; the model sees the shopper's own words (and the reading).
        reading = english_reading(message)
        quick = fast_path(route, reading, screen.shown, vocab, view.last_intent or None)
        if quick is not None:
            cmds, checked = check_commands(quick, screen, vocab)
            return Understanding(cmds, "rules", checked, (time.perf_counter() - t0) * 1e3)
        notes: list[str] = []
        raw = ""
        if llm is not None:
            try:
                proposed, raw = self.ask_model(llm, view, message)
                proposed = with_parsed_slots(proposed, reading, vocab)
                cmds, notes = check_commands(proposed, screen, vocab, reading)
                if cmds:
                    return Understanding(
                        cmds, "model", notes, (time.perf_counter() - t0) * 1e3, raw
                    )
                notes.append("the model's commands were all dropped")
            except (ValidationError, ValueError, LLMServiceError) as exc:
                notes.append(f"unusable model answer: {str(exc)[:200]}")
                log.info("understanding fell back to rules: %s", exc)
            except Exception as exc:  # a model server that went away must not cost the turn
                notes.append(f"model failed: {type(exc).__name__}")
                log.warning("understanding model failed: %s", exc)
        cmds, more = check_commands(from_route(route, reading, screen.shown, vocab), screen, vocab)
        by = "fallback" if llm is not None else "rules"
        return Understanding(cmds, by, notes + more, (time.perf_counter() - t0) * 1e3, raw)
