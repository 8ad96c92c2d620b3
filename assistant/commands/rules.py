"""Commands without a model: the fast path for unambiguous messages, and the fallback.

The fast path answers messages whose meaning a rule is sure of (an order number, "thanks",
"a real person please"), so they never wait for the model. The fallback turns the rules router's
intent into commands when the model is missing, slow, or returns nothing valid: the same
executor runs either way.
"""

from __future__ import annotations

import re
from typing import Literal

from retrieval.constraints import ConstraintError, Vocabulary, attribute_words, parse

from ..router import Route, find_ordinals
from .check import product_words, vague
from .schema import (
    AskAbout,
    CartAdd,
    CartRemove,
    CartShow,
    Clarify,
    Command,
    Compare,
    Handoff,
    OrderStatus,
    PolicyQuestion,
    Refine,
    ReturnRequest,
    Search,
    SmallTalk,
)

_THANKS = re.compile(
    r"^\s*(thanks|thank you|thx|cheers|great,? thanks|perfect,? thanks)\b[\w\s,'!.]{0,30}$", re.I
)
_BYE = re.compile(r"^\s*(bye|goodbye|see you|that's all|that is all|nothing else)\b[\s!.]*$", re.I)
_HELLO = re.compile(
    r"^\s*(hi|hello|hey|good (morning|afternoon|evening))\b[\s!.,]*(there)?[\s!.]*$", re.I
)
_CAPABILITIES = re.compile(r"^\s*what can you (do|help( me)? with)\b[\s?!.]*$", re.I)
_CART_WORD = r"(cart|basket|bag)"
_CART_SHOW = re.compile(rf"\b(show|view|see|what'?s in|open)\b.{{0,15}}\bmy {_CART_WORD}\b", re.I)
_CART_ADD = re.compile(
    rf"\b(add|put|buy|get me)\b.*\b(to|in|into)\s+(my|the)\s+{_CART_WORD}\b", re.I
)
_CART_REMOVE = re.compile(
    rf"\b(remove|delete|take)\b.*\b(from|out of)\s+(my|the)\s+{_CART_WORD}", re.I
)
_QUANTITY = re.compile(r"\b(\d{1,2}|two|three|four|five)\b(?! ?(?:st|nd|rd|th)\b)", re.I)
_WORD_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5}
# A catalogue brand spelled like an ordinal ("First") is the ordinal in "the first one".
_ORDINAL_WORDS = frozenset({"first", "second", "third", "last", "next"})
_CHEAPER = re.compile(r"cheaper|less expensive|lower price|budget")
_PRICIER = re.compile(r"more expensive|higher end|premium|better quality")
_OTHER_BRAND = re.compile(
    r"not that brand|other brand|different brand|like the brand|brand of th(e|at|is)"
)
# A short follow-up that only moves the price or the brand: "show me something cheaper".
_REFINE_HINT = re.compile(
    r"\b(cheaper|less expensive|lower price|more expensive|pricier|not that brand|"
    r"other brands?|different brand|(don't|do not) like the brand|brand of th(e|at|is))\b",
    re.I,
)
# "Do you have this in size M?": a pointer at what is on screen.
_POINTER = re.compile(r"\b(this|it|that|these|those|them|they)\b", re.I)
# "Does it come in ...", "is it available in ...": a question about a version.
VERSION_CUE = re.compile(
    r"\b(available|in stock|come|comes|have|has|got|get|sell|make|made)\b[^.?!]*\bin\b", re.I
)
_SIZE = re.compile(r"\bsize\s+([\w.-]+)", re.I)
_WHICH_OF_THESE = re.compile(
    r"\b(which|what)( one)? of (these|them|those)\b|\bwhich (one|is|has|would)\b", re.I
)


VAGUE_QUESTION = (
    "What kind of product are you looking for? I can also check an order or answer a question "
    "about shipping and returns."
)
# Chat about the assistant or the day, which small talk answers.
_CHAT = re.compile(
    r"\b(how('?s| is| are) (you|your|it|things)|who are you|what can you|your day|nice to meet)\b",
    re.I,
)


def smalltalk_kind(text: str) -> str | None:
    """The kind of a message that is only small talk, else None."""
    for kind, pattern in (
        ("thanks", _THANKS),
        ("goodbye", _BYE),
        ("greeting", _HELLO),
        ("capabilities", _CAPABILITIES),
    ):
        if pattern.search(text):
            return kind
    return None


def fast_path(
    route: Route, text: str, shown: int, vocab: Vocabulary, last_intent: str | None = None
) -> list[Command] | None:
    """Commands for a message a rule is sure of, or None (the model decides).

    Sure means: small talk alone, a cart phrase, or a high-precision rule of the router (an
    order number, "a real person", "cheaper", "the second one", "compare"). Product requests
    themselves always go to the model."""
    kind = smalltalk_kind(text)
    if kind:
        return [SmallTalk(kind=kind)]  # type: ignore[arg-type]
    cart = _cart_command(text, shown)
    if cart is not None:
        return [cart]
    version = _version_question(text, shown, vocab)
    if version is not None:
        return [version]
    if route.order_ids and last_intent == "return_request" and route.intent == "order_status":
        # "Which order?" after a return request: the number alone continues the return.
        return [ReturnRequest(order_id=route.order_ids[0])]
    if shown and len(text.split()) <= 12 and _REFINE_HINT.search(text):
        return from_route(Route("refine", 1.0, "rule"), text, shown, vocab)
    if route.method != "rule" or route.intent == "greeting":
        return None
    if route.intent in ("refine", "product_details", "compare") and not shown:
        return None
    return from_route(route, text, shown, vocab)


_FIRST_N = re.compile(r"\b(?:first|top) (two|three|2|3)\b", re.I)


def _item_numbers(text: str, shown: int) -> list[int]:
    """1-based item numbers for the ordinals in the text ("last" is the last shown; "the
    first two" is 1 and 2)."""
    m = _FIRST_N.search(text)
    if m:
        n = {"two": 2, "three": 3}.get(m.group(1).lower()) or int(m.group(1))
        return list(range(1, n + 1))
    found: list[int] = []
    for n in find_ordinals(text):
        item = shown if n < 0 else n + 1
        if item >= 1 and item not in found:
            found.append(item)
    return found


def unknown_versions(text: str) -> list[str]:
    """Option words of a version question that may be no variant's ("in orange", "size 15")."""
    if not VERSION_CUE.search(text):
        return []
    words = [f"size {m.group(1)}" for m in _SIZE.finditer(text)]
    return words + sorted(w for w in attribute_words(text) if f"size {w}" not in words)


def _version_question(text: str, shown: int, vocab: Vocabulary) -> Command | None:
    """A question about versions of an item on screen ("is the second one available in
    black?", "do you have this in size M?"): the message names an option value of the store's
    variants (or asks for one it may not have) and points at what is shown. With no pointer,
    a short message of option words ("in black", "what about 750ml?") refines the search."""
    if not shown or not vocab.options:
        return None
    found = vocab.options.find(text)
    if not found and not unknown_versions(text):
        return None
    items = _item_numbers(text, shown)
    if product_words(text, vocab) and not items:
        return None  # "do you have a backpack in black?": a new request
    if items or _POINTER.search(text):
        return AskAbout(items=items[:10], question=text[:200])
    if found and len(text.split()) <= 8:
        return Refine(attributes=[m.label for m in found])
    return None


def _cart_command(text: str, shown: int) -> Command | None:
    if _CART_SHOW.search(text):
        return CartShow()
    items = _item_numbers(text, shown)
    if _CART_REMOVE.search(text):
        return CartRemove(item=items[0] if items else 1)
    if _CART_ADD.search(text):  # with nothing on screen the check asks what to add
        qty = next(
            (int(m) if m.isdigit() else _WORD_NUMBERS[m.lower()] for m in _QUANTITY.findall(text)),
            1,
        )
        return CartAdd(item=items[0] if items else 1, quantity=max(1, min(qty, 99)))
    return None


def _search_slots(text: str, vocab: Vocabulary) -> dict:
    try:
        c = parse(text, vocab)
    except ConstraintError:
        return {"query": text[:200]}
    return {
        "query": c.text[:200],
        "min_price": c.min_price,
        "max_price": c.max_price,
        "categories": sorted(c.sub_categories | c.categories),
        "brands": sorted(b for b in c.brands if b.lower() not in _ORDINAL_WORDS),
        "exclude_brands": sorted(c.exclude_brands),
    }


def from_route(route: Route, text: str, shown: int, vocab: Vocabulary) -> list[Command]:
    """The rules router's reading of a message, as commands (the model-less fallback)."""
    cart = _cart_command(text, shown)
    if cart is not None:
        return [cart]
    intent = route.intent
    order_id = route.order_ids[0] if route.order_ids else None
    items = _item_numbers(text, shown)
    if intent == "greeting":
        kind = smalltalk_kind(text)
        if kind is None and route.method != "rule" and not _CHAT.search(text):
            # "Something nice", "that thing I mentioned": a guess from a loose match, not
            # small talk. Ask, rather than answer with the greeting blurb.
            return [Clarify(question=VAGUE_QUESTION)]
        return [SmallTalk(kind=kind or "greeting")]  # type: ignore[arg-type]
    if intent == "handoff":
        return [Handoff(reason="requested")]
    if intent == "order_status":
        return [OrderStatus(order_id=order_id)]
    if intent == "return_request":
        return [ReturnRequest(order_id=order_id)]
    if intent == "policy":
        return [PolicyQuestion(question=text[:200])]
    if intent == "compare":
        return [Compare(items=items)]
    if shown and not items and _WHICH_OF_THESE.search(text):
        return [Compare(items=[], aspect=text[:200])]
    if intent == "product_details":
        return [AskAbout(items=items[:1] or [1], question=text[:200])]
    slots = _search_slots(text, vocab)
    if intent != "refine":
        search = Search(**slots)
        if vague(search) and not find_ordinals(text):
            return [Clarify(question=VAGUE_QUESTION)]  # "something nice": ask, don't guess
        return [search]
    low = text.lower()
    direction: Literal["cheaper", "pricier"] | None = (
        "cheaper" if _CHEAPER.search(low) else "pricier" if _PRICIER.search(low) else None
    )
    other_brand = (items[0] if items else 1) if _OTHER_BRAND.search(low) else None
    slots.pop("query")
    return [Refine(price_direction=direction, exclude_brand_of=other_brand, **slots)]
