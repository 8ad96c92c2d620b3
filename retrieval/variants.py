"""Variants for shopping: which versions a shopper's words name, and what the store has of them.

Option values are matched against the catalogue's own variant options (`OptionIndex`, built from
the `variants` table), never against word lists in code, so "in blue, 1000ml" works in any store
whose variants say `color: blue` and `capacity: 1000ml`. Words and values are compared as
normalised tokens: case, plurals, "1000 ml" / "1000ml" / "1 liter" and "grey" / "gray" fold
together. A store without options (one variant per product) has an empty index, and nothing
here ever matches.

    index = OptionIndex.build(pairs, product_names)
    asked = index.find("the water bottle in blue, 1000ml")     # two mentions
    fit = fit_variants(variants_of_the_bottle, asked)          # matches, and what exists instead
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import select

from .db import Database, VariantRow
from .sources.base import Variant

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+")
_LITRES = frozenset({"l", "liter", "liters", "litre", "litres"})
_SPELLING = {"gray": "grey", "colour": "color"}
# Sizes are written both ways ("a medium t-shirt", "size M"): each group is one value.
_SAME_SIZE: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("xs",), ("extra", "small")),
    (("s",), ("small",)),
    (("m",), ("medium",)),
    (("l",), ("large",)),
    (("xl",), ("extra", "large")),
    (("xxl",), ("xx", "large"), ("2xl",)),
)
# Values that are answers, not words a shopper asks for: "waterproof: yes" is asked as
# "waterproof", "features: none" never.
_ANSWERS = frozenset({"yes", "no", "none"})
_NEGATION = frozenset({"not", "no", "without", "except", "non"})
MAX_VERSIONS = 4  # versions listed by name in one answer; the rest are counted


def _fold(word: str) -> str:
    w = _SPELLING.get(word, word)
    if w[0].isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "xes", "shes", "ches")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        return w[:-1]
    return w


def tokens(text: str) -> tuple[str, ...]:
    """Normalised tokens: lower case, plurals folded, a volume in litres as millilitres."""
    raw = _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
    out: list[str] = []
    i = 0
    while i < len(raw):
        word = raw[i]
        if word[0].isdigit() and i + 1 < len(raw) and raw[i + 1] in _LITRES:
            out += [f"{float(word) * 1000:g}", "ml"]  # "1 liter", "1L", "1000 ml": one value
            i += 2
            continue
        out.append(_fold(word))
        i += 1
    return tuple(out)


def _needs_key(value: tuple[str, ...]) -> bool:
    """A bare "M" or "10" says nothing on its own: it names a size only as "size M"."""
    return len(value) == 1 and (value[0][0].isdigit() or len(value[0]) <= 2)


def _spellings(value: tuple[str, ...]) -> list[tuple[str, ...]]:
    for group in _SAME_SIZE:
        if value in group:
            return list(group)
    return [value]


def option_label(key: str, value: str) -> str:
    """An asked option as a reply names it: "blue", "size M", "waterproof"."""
    if value.lower() == "yes":
        return key
    if value.lower() in _ANSWERS:
        return f"{key}: {value}"
    return f"{key} {value}" if _needs_key(tokens(value)) else value


def option_text(key: str, value: str) -> str:
    """One option of a version, with its name: "material glass", "waterproof"."""
    if value.lower() == "yes":
        return key
    return f"{key}: {value}" if value.lower() in _ANSWERS else f"{key} {value}"


@dataclass(frozen=True)
class OptionMention:
    """Words of the shopper's message that name an option value: the (key, value) pairs of the
    catalogue they may mean (one phrase, "blue", can be a colour or a lens colour)."""

    label: str  # as the catalogue spells it when unambiguous ("1000ml", "size M")
    choices: frozenset[tuple[str, str]]

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(k for k, _ in self.choices)


@dataclass(frozen=True)
class _Pattern:
    words: tuple[str, ...]
    pair: tuple[str, str]
    keyed: bool  # the key is part of the words ("size m", "1000 piece")


@dataclass(frozen=True)
class OptionIndex:
    """Every (option, value) pair the catalogue's variants have, and its product names (a value
    inside a product's name, "electric" in "electric kettle", is the name, not an option)."""

    pairs: frozenset[tuple[str, str]] = frozenset()
    names: frozenset[tuple[str, ...]] = frozenset()

    @classmethod
    def build(cls, pairs: Iterable[tuple[str, str]], names: Iterable[str] = ()) -> OptionIndex:
        pairs = frozenset(pairs)
        if not pairs:
            return cls()
        return cls(pairs, frozenset(t for n in names if (t := tokens(n))))

    def __bool__(self) -> bool:
        return bool(self.pairs)

    @cached_property
    def _patterns(self) -> dict[str, list[_Pattern]]:
        by_first: dict[str, list[_Pattern]] = {}

        def add(words: tuple[str, ...], pair: tuple[str, str], keyed: bool) -> None:
            if words:
                by_first.setdefault(words[0], []).append(_Pattern(words, pair, keyed))

        for key, value in self.pairs:
            k, v = tokens(key), tokens(value)
            if value.lower() == "yes":
                add(k, (key, value), True)
                continue
            if value.lower() == "no":
                for neg in ("not", "non", "no"):
                    add((neg, *k), (key, value), True)
                continue
            if value.lower() in _ANSWERS or not v:
                continue
            for words in _spellings(v):
                if not _needs_key(words):
                    add(words, (key, value), False)
                add(k + words, (key, value), True)
                add(words + k, (key, value), True)
        return by_first

    @cached_property
    def _names(self) -> dict[str, list[tuple[str, ...]]]:
        by_first: dict[str, list[tuple[str, ...]]] = {}
        for n in self.names:
            by_first.setdefault(n[0], []).append(n)
        return by_first

    def find(self, text: str) -> list[OptionMention]:
        """The option values the text names, in order: longest phrase first, a value negated
        ("not leather") or inside a product name the text uses dropped."""
        if not self.pairs:
            return []
        toks = tokens(text)
        spans: dict[tuple[int, int], tuple[set[tuple[str, str]], bool]] = {}
        for i, tok in enumerate(toks):
            for p in self._patterns.get(tok, ()):
                j = i + len(p.words)
                if toks[i:j] == p.words:
                    found, keyed = spans.setdefault((i, j), (set(), False))
                    found.add(p.pair)
                    spans[(i, j)] = (found, keyed or p.keyed)
        in_names = [
            (i, i + len(n))
            for i, tok in enumerate(toks)
            for n in self._names.get(tok, ())
            if toks[i : i + len(n)] == n
        ]
        taken: list[tuple[int, int]] = []
        picked: list[tuple[int, OptionMention]] = []
        for (i, j), (pairs, keyed) in sorted(
            spans.items(), key=lambda s: (s[0][0] - s[0][1], s[0])
        ):
            if any(i < b and a < j for a, b in taken):
                continue
            negated = i > 0 and toks[i - 1] in _NEGATION
            inside_name = not keyed and any(a <= i and j <= b for a, b in in_names)
            if negated or inside_name:
                continue
            taken.append((i, j))
            picked.append((i, _mention(text, pairs)))
        return _merged([m for _, m in sorted(picked, key=lambda x: x[0])])


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text.lower())


def _mention(text: str, pairs: set[tuple[str, str]]) -> OptionMention:
    # Labelled as the shopper spelled it where a value is written so ("1000ml", not "1L").
    said = _squeezed(text)
    key, value = next((p for p in sorted(pairs) if _squeezed(p[1]) in said), min(pairs))
    return OptionMention(option_label(key, value), frozenset(pairs))


def _merged(mentions: list[OptionMention]) -> list[OptionMention]:
    out: list[OptionMention] = []
    for m in mentions:
        if m.choices not in [o.choices for o in out]:
            out.append(m)
    return out


@dataclass(frozen=True)
class Fit:
    """How one product's versions answer the options a shopper named.

    `asked` are the mentions this product has a value for (`labels`: as this product spells
    them); `missing` those it has not (a T-shirt "in size 12", a perfume "in black"). `matches`
    hold every asked value. When none of them can be bought, or something asked is missing,
    `instead` lists per option the values that can be bought (keeping the other asked values
    where possible: "red, black in 1000ml")."""

    product_id: str
    asked: tuple[OptionMention, ...]
    labels: tuple[str, ...]
    missing: tuple[OptionMention, ...]
    matches: tuple[Variant, ...]
    instead: tuple[tuple[str, tuple[str, ...], str], ...]  # (key, values, "in" the others)
    options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # all of its values

    @property
    def available(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.matches if v.available)

    @property
    def unavailable(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.matches if not v.available)

    @property
    def relevant(self) -> bool:
        """It has an option the shopper named (even if not the value they named)."""
        return bool(self.asked) or any(m.keys & set(self.options) for m in self.missing)

    def label(self, variant: Variant) -> str:
        """The version's options the shopper did not name ("glass" for a blue 1000ml bottle)."""
        asked = {p for m in self.asked for p in m.choices}
        return ", ".join(
            option_text(k, v) for k, v in variant.options.items() if (k, v) not in asked
        )

    def asked_label(self) -> str:
        return ", ".join(dict.fromkeys(self.labels))


def _holds(v: Variant, m: OptionMention) -> bool:
    return any(v.options.get(k) == val for k, val in m.choices)


def _in_order(values: Iterable[str], order: Sequence[str]) -> tuple[str, ...]:
    seen = set(values)
    return tuple(v for v in order if v in seen)


def fit_variants(variants: Sequence[Variant], mentions: Sequence[OptionMention]) -> Fit | None:
    """How a product's versions answer the mentions; None when it has no options (a store
    with one version per product) or nothing was named."""
    if not variants or not mentions or not any(v.options for v in variants):
        return None
    pid = variants[0].product_id
    options: dict[str, list[str]] = {}
    for v in variants:
        for k, val in v.options.items():
            if val not in options.setdefault(k, []):
                options[k].append(val)
    pairs = {(k, val) for k, vals in options.items() for val in vals}
    asked = tuple(m for m in mentions if m.choices & pairs)
    missing = tuple(m for m in mentions if not m.choices & pairs)
    labels = {m: option_label(*min(m.choices & pairs)) for m in asked}
    matches = tuple(v for v in variants if asked and all(_holds(v, m) for m in asked))
    instead: list[tuple[str, tuple[str, ...], str]] = []
    short = () if any(v.available for v in matches) else asked
    for m in short + missing:
        others = [o for o in asked if o is not m]
        for key in [k for k in options if k in m.keys][:2]:
            kept = [v for v in variants if v.available and all(_holds(v, o) for o in others)]
            values = _in_order((v.options[key] for v in kept if key in v.options), options[key])
            given = ", ".join(labels[o] for o in others) if values and others else ""
            if not values:  # nothing with the other values: what can be bought at all
                values = _in_order(
                    (v.options[key] for v in variants if v.available and key in v.options),
                    options[key],
                )
            values = tuple(x for x in values if (key, x) not in m.choices)
            if values:
                instead.append((key, values, given))
    return Fit(
        pid,
        asked,
        tuple(labels[m] for m in asked),
        missing,
        matches,
        tuple(instead),
        {k: tuple(vals) for k, vals in options.items()},
    )


def load_variants(db: Database, product_ids: Iterable[str]) -> dict[str, list[Variant]]:
    """The products' versions as the store has them now (price, availability), id order."""
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return {}
    out: dict[str, list[Variant]] = {i: [] for i in ids}
    with db.session() as s:
        rows = s.scalars(
            select(VariantRow).where(VariantRow.product_id.in_(ids)).order_by(VariantRow.id)
        )
        for r in rows:
            out[r.product_id].append(
                Variant(r.id, r.product_id, r.price, dict(r.options or {}), bool(r.available))
            )
    return out


def load_option_pairs(db: Database) -> frozenset[tuple[str, str]]:
    """Every (option, value) pair of the catalogue's variants: the vocabulary to match."""
    with db.session() as s:
        rows = s.scalars(select(VariantRow.options))
        return frozenset((str(k), str(v)) for opts in rows if opts for k, v in dict(opts).items())
