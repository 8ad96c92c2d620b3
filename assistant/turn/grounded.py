"""Grounded replies about products: the model writes `[1]`, code writes the product's name.

The model refers to the numbered items only as `[N]`; `render` turns each reference into the
catalogue name, so a name or price is never the model's own words. `claims_check` rejects a
sentence that claims an attribute (a colour, a material, "adjustable", "wireless", a number) that
the text of the products it talks about does not hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.sources.base import Product

from ..validate import (
    ATTRIBUTE_WORDS,
    ZH_ATTRIBUTES,
    fold_width,
    prices_in,
    zh_attributes_in,
    zh_numbers_in,
)

REF = re.compile(r"\[(\d{1,2})\]")
_WORD = re.compile(r"[a-z][a-z-]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def product_text(p: Product, extra: str = "") -> str:
    parts = [p.name, p.category, p.sub_category, p.brand or "", p.features, extra]
    return " ".join(x for x in parts if x).lower()


@dataclass(frozen=True)
class ItemRefs:
    """The numbered products a reply may talk about, and their texts."""

    products: Sequence[Product]
    texts: Sequence[str]

    @classmethod
    def of(cls, products: Sequence[Product], extras: Sequence[str] = ()) -> ItemRefs:
        extra = list(extras) + [""] * (len(products) - len(extras))
        return cls(products, [product_text(p, e) for p, e in zip(products, extra, strict=False)])

    def render(self, sentence: str) -> str:
        """`[N]` → the name of item N; an out-of-range reference is left for the check to catch."""

        def name(m: re.Match[str]) -> str:
            n = int(m.group(1))
            return self.products[n - 1].name if 1 <= n <= len(self.products) else m.group(0)

        out = REF.sub(name, sentence)
        # "[1] High-Back Chair" renders the name twice; a repeated "the X" reads the same.
        for p in self.products:
            twice = re.compile(rf"({re.escape(p.name)})(?:\s*\(?\s*\1\)?)+", re.I)
            out = twice.sub(lambda m: m.group(1), out)
        return out

    def referenced(self, sentence: str) -> list[int]:
        """0-based rows of the items a rendered sentence names."""
        low = sentence.lower()
        return [i for i, p in enumerate(self.products) if p.name.lower() in low]

    def claims_check(self, request: str = "") -> Callable[[str], list[str]]:
        """A check for rendered sentences: every attribute word and number the model wrote
        itself must be in the text of the products the sentence names (all items if none)."""
        req = fold_width(request).lower()
        req_numbers = set(zh_numbers_in(request))  # "三个抽屉的" asks about 3

        def check(sentence: str) -> list[str]:
            own = fold_width(sentence)  # "１２０" is 120; positions hold
            for m in reversed(prices_in(own)):  # prices are checked against the catalogue
                own = own[: m.start] + " " + own[m.start + len(m.text) :]
            for p in self.products:
                own = re.sub(re.escape(p.name), " ", own, flags=re.I)
            rows = self.referenced(sentence) or list(range(len(self.products)))
            source = " ".join(self.texts[r] for r in rows)
            problems = []
            for word in dict.fromkeys(_WORD.findall(own.lower())):
                if word in ATTRIBUTE_WORDS and word not in source and word not in req:
                    problems.append(f"claims {word!r}, which the listing does not say")
            for zh in zh_attributes_in(own):  # a Chinese sentence's claims
                words = ZH_ATTRIBUTES[zh]
                if zh not in req and not any(w in source or w in req for w in words):
                    problems.append(f"claims {zh!r} ({words[0]}), which the listing does not say")
            numbers = _NUMBER.findall(own) + zh_numbers_in(own)
            for num in dict.fromkeys(numbers):
                if num not in source and num not in req and num not in req_numbers:
                    problems.append(f"states the number {num}, which the listing does not hold")
            if not self.referenced(sentence) and REF.search(sentence):
                problems.append("refers to an item that is not shown")
            return problems

        return check


# Question words that say nothing about the product itself.
_QUESTION_WORDS = frozenset(
    [
        "is",
        "it",
        "does",
        "do",
        "the",
        "a",
        "an",
        "this",
        "that",
        "these",
        "those",
        "one",
        "ones",
        "which",
        "what",
        "who",
        "how",
        "of",
        "for",
        "with",
        "have",
        "has",
        "come",
        "in",
        "on",
        "best",
        "good",
        "better",
        "great",
        "any",
        "there",
        "me",
        "my",
        "i",
        "you",
        "your",
        "can",
        "could",
        "would",
        "should",
        "will",
        "be",
        "are",
        "about",
        "tell",
        "more",
        "item",
        "items",
        "product",
        "products",
        "first",
        "second",
        "third",
        "last",
        "option",
        "options",
        "pick",
        "picks",
        "and",
        "or",
        "than",
        "most",
        "less",
        "very",
        "really",
        "some",
        "please",
        "also",
        "its",
        "it's",
        "show",
        "give",
        "get",
        "need",
        "want",
        "like",
        "looking",
        "which's",
        "them",
        "they",
        "their",
        "to",
        "at",
        "as",
        "by",
        "from",
    ]
)


def question_terms(question: str) -> list[str]:
    """The words of a question that name a property to look for ("adjustable", "back")."""
    words = _WORD.findall(question.lower())
    return [w for w in dict.fromkeys(words) if w not in _QUESTION_WORDS and len(w) > 2]


def _stem(word: str) -> str:
    for suffix in ("able", "ible", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def evidence(text: str, terms: list[str], original: str = "") -> list[str]:
    """Phrases of `original` (or `text`) around each term (or its stem) that the text holds."""
    source = original or text
    found: list[str] = []
    for term in terms:
        m = re.search(rf"[\w-]*{re.escape(_stem(term))}[\w-]*", source, re.I)
        if m:
            lo, hi = max(0, m.start() - 25), min(len(source), m.end() + 25)
            snippet = source[lo:hi]
            # Trim to whole words.
            snippet = re.sub(r"^\S*\s", "", snippet) if lo > 0 else snippet
            snippet = re.sub(r"\s\S*$", "", snippet) if hi < len(source) else snippet
            if snippet not in found:
                found.append(snippet.strip(" ,.;"))
    return found
