"""Intent routing without an LLM: high-precision rules first, then the nearest example intent by
embedding (the packaged MiniLM). A 135M model's tool calling is never trusted to pick tools."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from retrieval.chinese import english_reading
from retrieval.embed import Encoder

from .prompts import PromptLibrary

INTENTS = (
    "recommend",
    "refine",
    "product_details",
    "compare",
    "order_status",
    "return_request",
    "policy",
    "handoff",
    "greeting",
)
ORDER_ID = re.compile(r"\b([A-Z]{2})\s*-\s*(\d{4})\s*-\s*(\d{5,7})\b", re.I)
_ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
    "last": -1,
}
_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "handoff",
        re.compile(
            r"\b(human|real person|agent|representative|supervisor|manager|"
            r"someone real|complain|complaint|support tickets?|open a ticket|"
            r"speak to (someone|a person)|a person to call)\b",
            re.I,
        ),
    ),
    (
        "return_request",
        re.compile(
            r"\b(return|refund|send (it|this|them) back|money back|"
            r"exchange)\b.*\b(order|item|it|this|my|[A-Z]{2}-\d{4})",
            re.I,
        ),
    ),
    (
        "policy",
        re.compile(
            r"\b(policy|policies|warranty|guarantee|payment methods?|paypal|"
            r"price[- ]match(ing)?|bulk (pricing|discount|order)s?|wholesale|"
            r"gift cards?|invoice|price promise|"
            r"privacy|personal data|how long (does|do|will) (shipping|delivery|"
            r"refunds?)|ship(ping)? (cost|internationally|times?)|faq)\b",
            re.I,
        ),
    ),
    (
        "order_status",
        re.compile(
            r"\b(where('s| is)|track|status|arriv|deliver|shipped|"
            r"my orders?|last order|recent orders?)\b",
            re.I,
        ),
    ),
    (
        "compare",
        re.compile(
            r"\b(compare|comparison|versus|vs\.?|difference between|which (one )?"
            r"is better)\b",
            re.I,
        ),
    ),
    (
        "refine",
        re.compile(
            r"^\s*(cheaper|something else|anything else|other options?|more options|"
            r"show me more|not that (one|brand)|less expensive|more expensive|"
            r"(something|anything) (cheaper|different|bigger|smaller))\b",
            re.I,
        ),
    ),
    (
        "product_details",
        re.compile(
            rf"\b(the )?({'|'.join(_ORDINALS)}) (one|option|item|"
            r"product|pick)\b|\bmore (about|details)\b",
            re.I,
        ),
    ),
    (
        "greeting",
        re.compile(
            r"^\s*(hi|hello|hey|thanks|thank you|good (morning|afternoon|"
            r"evening)|what can you do)\b[\s!.?]*$",
            re.I,
        ),
    ),
]


@dataclass(frozen=True)
class Route:
    intent: str
    confidence: float
    method: str  # "rule" | "embedding"
    order_ids: tuple[str, ...] = ()
    ordinal: int | None = None


def find_order_ids(text: str) -> tuple[str, ...]:
    """Order numbers in the text, in order of mention: Superstore's "CA-2017-152156", and a
    shop's own "#1001" (an imported store's)."""
    from .support.orders import shop_order_ids

    found = [(m.start(), f"{m[1].upper()}-{m[2]}-{m[3]}") for m in ORDER_ID.finditer(text)]
    return tuple(dict.fromkeys(oid for _, oid in sorted(found + shop_order_ids(text))))


_ORDINAL = re.compile(rf"\b({'|'.join(_ORDINALS)})\b", re.I)


def find_ordinals(text: str) -> list[int]:
    """Every ordinal in the text, in order; "last" is -1."""
    return [_ORDINALS[m.lower()] for m in _ORDINAL.findall(text)]


def find_ordinal(text: str) -> int | None:
    found = find_ordinals(text)
    return found[0] if found else None


class IntentRouter:
    def __init__(self, encoder: Encoder, library: PromptLibrary, threshold: float = 0.45) -> None:
        import yaml

        source = library.get("router").path
        if source is None:
            raise ValueError("the router prompt has no source file to read its examples from")
        spec = yaml.safe_load(source.read_text())["examples"]
        self.encoder = encoder
        self.threshold = threshold
        self.labels = [intent for intent, examples in spec.items() for _ in examples]
        self.examples = encoder.encode([e for examples in spec.values() for e in examples])

    def route(self, text: str, has_shown_products: bool = False) -> Route:
        text = english_reading(text)  # Chinese is routed by its English reading
        order_ids = find_order_ids(text)
        ordinal = find_ordinal(text)
        for intent, pattern in _RULES:
            if pattern.search(text):
                if intent in ("refine", "product_details", "compare") and not has_shown_products:
                    continue  # nothing to refine or point at yet
                return Route(intent, 1.0, "rule", order_ids, ordinal)
        if order_ids:
            return Route("order_status", 1.0, "rule", order_ids, ordinal)
        sims = self.examples @ self.encoder.encode_one(text)
        best = int(np.argmax(sims))
        intent, conf = self.labels[best], float(sims[best])
        if intent in ("refine", "product_details", "compare") and not has_shown_products:
            intent = "recommend"
        if conf < self.threshold:
            # Unclear: treat it as a product request, which always answers from the catalogue.
            return Route("recommend", conf, "embedding-low", order_ids, ordinal)
        return Route(intent, conf, "embedding", order_ids, ordinal)
