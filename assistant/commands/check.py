"""Code checks every command before it runs; a bad reference becomes a question, never a guess.

- item numbers must be on screen (or in the cart, for cart_remove);
- categories and brands must be the catalogue's own names; other words stay soft search terms;
- a price range must be ordered;
- one search or refine per turn; small talk and clarify only when nothing else was asked.

Order ids are checked against the signed-in shopper by the order handler, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.constraints import ConstraintError, Vocabulary, name_words, parse

from ..validate import ATTRIBUTE_WORDS
from .schema import (
    AskAbout,
    CartAdd,
    CartRemove,
    Clarify,
    Command,
    Compare,
    Decline,
    OrderStatus,
    Refine,
    ReturnRequest,
    Search,
    SmallTalk,
)

_ORDER_ID = re.compile(r"^\s*([A-Z]{2})\s*-\s*(\d{4})\s*-\s*(\d{5,7})\s*$", re.I)
_SHOP_ORDER_ID = re.compile(r"^\s*#?\s*(\d{3,12})\s*$")  # a shop's own ("#1001": imported)
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


@dataclass(frozen=True)
class Screen:
    """What the shopper can point at: the items shown (their sub-category) and the cart size."""

    shown_kinds: tuple[str, ...]  # sub-category of each shown item, in order
    cart_lines: int = 0
    focus: int | None = None  # the item last asked about ("is it adjustable?")
    last_intent: str | None = None  # "what was in it?" after an order status needs no cue

    @property
    def shown(self) -> int:
        return len(self.shown_kinds)

    def describe_items(self) -> str:
        n = self.shown
        kinds = set(self.shown_kinds)
        noun = (next(iter(kinds)).lower() if len(kinds) == 1 else "products") if kinds else ""
        if n == 1 and noun.endswith("s"):
            noun = noun[:-1]
        return f"{_NUMBER_WORDS.get(n, str(n))} {noun}".strip()


def singular(word: str) -> str:
    w = word.lower().strip()
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("ses", "xes", "ches", "shes")):
        return w[:-2]
    return w[:-1] if w.endswith("s") and not w.endswith("ss") else w


def map_names(names: list[str], known: frozenset[str]) -> tuple[list[str], list[str]]:
    """(catalogue names, unknown words): case and plural forms fold onto the catalogue's."""
    exact = {k.lower(): k for k in sorted(known, reverse=True)}
    index = {singular(k): k for k in sorted(known, reverse=True)}  # deterministic on clashes
    found: list[str] = []
    unknown: list[str] = []
    for name in names:
        # The catalogue's exact spelling first ("Hon" and "HON" are two brands), then folded.
        hit = next((k for k in known if k == name.strip()), None)
        hit = hit or exact.get(name.strip().lower()) or index.get(singular(name))
        if hit is None:
            unknown.append(name.strip())
        elif hit not in found:
            found.append(hit)
    return found, [u for u in unknown if u]


def normalise_order_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    m = _ORDER_ID.match(raw)
    if m is None and (shop := _SHOP_ORDER_ID.match(raw)):
        return f"#{shop.group(1)}"
    # Anything that is not an order number ("none", "latest") means no number was given.
    return f"{m.group(1).upper()}-{m.group(2)}-{m.group(3)}" if m else None


def _bad_reference(screen: Screen) -> Clarify:
    if not screen.shown:
        question = "I haven't shown you any products yet. What are you looking for?"
    else:
        listed = ", ".join(str(i) for i in range(1, screen.shown + 1))
        question = (
            f"I showed {screen.describe_items()}; which one do you mean ({listed})?"
            if screen.shown > 1
            else f"I showed {screen.describe_items()}; did you mean that one?"
        )
    return Clarify(question=question)


def _items_ok(screen: Screen, items: list[int]) -> bool:
    return all(1 <= i <= screen.shown for i in items)


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?\s*k?", re.I)


def numbers_in(message: str) -> set[float]:
    """Every number the shopper wrote ("$1,299", "40", "2k")."""
    found = set()
    for raw in _NUMBER.findall(message):
        s = raw.replace(",", "").replace(" ", "").lower()
        mult = 1000.0 if s.endswith("k") else 1.0
        try:
            found.add(float(s.rstrip("k")) * mult)
        except ValueError:
            continue
    return found


def _said(price: float | None, numbers: set[float]) -> float | None:
    """A price slot stands only when the shopper wrote that number (a model must not invent a
    budget); 0 is never a budget."""
    if price is None or price <= 0:
        return None
    return price if any(abs(price - n) < 0.006 for n in numbers) else None


def _named(names: list[str], message: str) -> list[str]:
    low = message.lower()
    return [n for n in names if n.lower() in low]


_SORT_CUES: dict[str, re.Pattern[str]] = {
    "price_asc": re.compile(
        r"\b(cheap\w*|lowest|least expensive|low[- ]cost|budget|affordable|inexpensive)\b", re.I
    ),
    "price_desc": re.compile(
        r"\b(expensive|priciest|premium|high[- ]end|luxur\w*|top of the line)\b", re.I
    ),
    "rating": re.compile(r"\b(rated|ratings?|reviews?|best|top|popular)\b", re.I),
}


_DIRECTION_CUES = {
    "cheaper": re.compile(r"cheap|less expensive|lower price|budget|afford|less money", re.I),
    "pricier": re.compile(r"expensive|pric(ier|ey)|higher[- ]end|premium|better quality", re.I),
}
_BRAND_CUE = re.compile(r"\bbrands?\b|\bmake\b|\bmaker\b", re.I)
# "More like these", "something else": a refinement that changes no slot still means something.
_MORE_CUE = re.compile(r"\b(more|other|else|different|another|instead|again|similar)\b", re.I)


# Words that ask for nothing in particular: "what about that one?", "fine, then".
_GENERIC = frozenset(
    re.findall(
        r"[a-z]+",
        """
    what about that this these those them there with have some something anything thing things
    one ones please thanks want need like show give find looking back fine then also more
    other else instead again same which where when would could should your mine item items
    product products any the and for you can get see maybe really just now order ordered
    orders time track tracking status delivery deliver shipping ship shipped return returns
    refund policy package parcel account help first second third fourth last next previous
    good best nice great better cool okay how does did are was were has its long
    """,
    )
)


def product_words(message: str, vocab: Vocabulary) -> set[str]:
    """Words of the message that name a kind of thing the shop sells ("lamp", "headsets")."""
    return (name_words(message) - _GENERIC) & vocab.name_words


def _content(query: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]{3,}", query.lower()) if w not in _GENERIC}


def _words(text: str) -> set[str]:
    return {singular(w) for w in re.findall(r"[a-z0-9]{3,}", text.lower())}


def _model_query(query: str, message: str, vocab: Vocabulary) -> str:
    """The model's product words stand only when the shopper wrote them; an empty or invented
    query ("" for "an office chair") becomes the parser's reading of the message."""
    if query and _words(query) <= _words(message):
        return query
    try:
        return parse(message, vocab).text[:200]
    except ConstraintError:
        return query


def _slots(cmd: Search | Refine, vocab: Vocabulary, message: str | None) -> Search | Refine:
    names = list(cmd.categories)
    said_words = _words(message) if message is not None else set()
    if message is not None:
        # A department ("Office Supplies" for "an office chair") filters out the very thing
        # asked for: it stands only when the shopper named it.
        names = [n for n in names if n not in vocab.categories or _words(n) <= said_words]
    cats, unknown_cats = map_names(names, vocab.categories | vocab.sub_categories)
    # A brand filter must be one the shopper named (the model copies brands from examples).
    said = message if message is not None else " ".join([*cmd.brands, *cmd.exclude_brands])
    brands, unknown_brands = map_names(_named(list(cmd.brands), said), vocab.brands)
    excluded, _ = map_names(_named(list(cmd.exclude_brands), said), vocab.brands)
    # Words that are not the catalogue's names are still what the shopper wants: soft terms.
    attributes = list(dict.fromkeys([*cmd.attributes, *unknown_cats, *unknown_brands]))
    lo, hi = cmd.min_price, cmd.max_price
    if message is not None:
        numbers = numbers_in(message)
        lo, hi = _said(lo, numbers), _said(hi, numbers)
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    update: dict = {}
    if message is not None:
        cue = _SORT_CUES.get(cmd.sort or "")
        sort = cmd.sort if cue is not None and cue.search(message) else None
        update["sort"] = sort
        if isinstance(cmd, Search):
            update["query"] = _model_query(cmd.query, message, vocab)
        else:  # a refinement changes only what the shopper's words change
            if cmd.query and not _words(cmd.query) <= said_words:
                update["query"] = None
            direction = cmd.price_direction
            if direction and not _DIRECTION_CUES[direction].search(message):
                update["price_direction"] = None
            if cmd.exclude_brand_of is not None and not _BRAND_CUE.search(message):
                update["exclude_brand_of"] = None
        attributes = [a for a in attributes if _words(a) <= said_words]
    return cmd.model_copy(
        update=update
        | {
            "categories": cats,
            "brands": [b for b in brands if b not in excluded],
            "exclude_brands": excluded,
            "attributes": attributes[:8],
            "min_price": lo,
            "max_price": hi,
        }
    )


# What a message must say for the model's command of that type to stand: a small model emits
# `cart_show` or `order_status` for "now show me tables". Without its cue a command is dropped
# (and with nothing left, the rules answer).
_CUES: dict[str, re.Pattern[str]] = {
    "cart_add": re.compile(r"\b(cart|basket|bag|buy|add|take|get me|i'?ll have)\b", re.I),
    "cart_remove": re.compile(r"\b(cart|basket|bag|remove|delete|take out|drop)\b", re.I),
    "cart_show": re.compile(r"\b(cart|basket|bag)\b", re.I),
    "order_status": re.compile(
        r"\b(orders?|deliver\w*|track\w*|ship\w*|package|parcel|arriv\w*|status)\b|"
        r"[A-Z]{2}-\d{4}-\d{5,7}",
        re.I,
    ),
    "return_request": re.compile(
        r"\b(return\w*|refund\w*|send \w+ back|exchange|money back)\b", re.I
    ),
    "policy_question": re.compile(
        r"\b(polic\w*|warrant\w*|guarantee|shipping|delivery|deliver|payment|pay|refunds?|"
        r"returns?|privacy|data|gift cards?|price match\w*|invoice|how long|do you (ship|accept|"
        r"offer|take)|faq|hours|contact)\b",
        re.I,
    ),
    "handoff": re.compile(
        r"\b(human|person|agent|someone|representative|manager|supervisor|call|ticket|"
        r"complain\w*|speak|talk to|staff|colleague)\b",
        re.I,
    ),
    "smalltalk": re.compile(
        r"^\W*(hi|hello|hey|thanks|thank you|bye|goodbye|good (morning|afternoon|evening)|"
        r"how are you|how's it going|how('?s| is) your day|what can you do|who are you|cheers)\b",
        re.I,
    ),
}


# A command that continues the last turn's topic needs no cue of its own.
_FOLLOWS = {
    "order_status": "order_status",
    "return_request": "return_request",
    "policy_question": "policy",
    "cart_show": "cart",
    "cart_remove": "cart",
}


def _parsed_search(message: str, vocab: Vocabulary) -> Search:
    """The parser's reading of a message, as a search (prices, head-noun category, sort)."""
    try:
        c = parse(message, vocab)
    except ConstraintError:
        return Search(query="")
    return Search(
        query=c.text[:200],
        min_price=c.min_price,
        max_price=c.max_price,
        categories=sorted(c.sub_categories | c.categories),
        sort=c.sort if c.sort != "relevance" else None,
    )


def vague(cmd: Search) -> bool:
    """No product words and no slot: a search for nothing in particular."""
    return not (
        _content(cmd.query)
        or cmd.min_price is not None
        or cmd.max_price is not None
        or cmd.categories
        or cmd.brands
        or cmd.attributes
    )


def _changes_nothing(cmd: Refine) -> bool:
    return not (
        cmd.query
        or cmd.min_price is not None
        or cmd.max_price is not None
        or cmd.price_direction
        or cmd.categories
        or cmd.brands
        or cmd.exclude_brands
        or cmd.exclude_brand_of is not None
        or cmd.attributes
        or cmd.sort
    )


_SERVICE = ("order_status", "return_request", "policy_question", "handoff")


def _other_service_cue(kind: str, message: str) -> bool:
    own = _CUES.get(kind)
    if own is not None and own.search(message):
        return False
    return any(_CUES[k].search(message) for k in _SERVICE if k != kind)


def check_commands(
    commands: list[Command], screen: Screen, vocab: Vocabulary, message: str | None = None
) -> tuple[list[Command], list[str]]:
    """The commands that may run, in order, and what was changed or dropped (for the log).

    With `message` (the model's commands), every price and brand slot must be one the shopper
    wrote; the rules' own slots come from the message already."""
    notes: list[str] = []
    out: list[Command] = []
    asked: set[int] = set()  # ids of the questions code asked about a bad reference
    searched = False

    def ask(question: Clarify, note: str) -> None:
        out.append(question)
        asked.add(id(question))
        notes.append(note)

    for cmd in commands:
        cue = _CUES.get(cmd.type)
        # Continuing the last topic needs no cue, unless the message cues another service
        # ("what's your return window?" after an order status is a policy question).
        # Nor when it asks for a product ("fine, I'd like a desk lamp then").
        follows = _FOLLOWS.get(cmd.type)
        follow_up = (
            follows is not None
            and follows == screen.last_intent
            and not (
                message is not None
                and (_other_service_cue(cmd.type, message) or product_words(message, vocab))
            )
        )
        if message is not None and cue is not None and not follow_up and not cue.search(message):
            notes.append(f"dropped {cmd.type}: the message does not ask for it")
            continue
        if (
            message is not None
            and not screen.shown
            and isinstance(cmd, (AskAbout, Compare, CartAdd))
            and product_words(message, vocab)
        ):
            # "Do you have any copiers?" read as a question about an item: nothing is on
            # screen, and the message names a kind of product, so it is a search.
            notes.append(f"{cmd.type} with nothing on screen read as a search")
            cmd = _parsed_search(message, vocab)
        if isinstance(cmd, Refine) and not screen.shown:
            # Nothing on screen to refine: it is a new request, checked as one.
            fields = cmd.model_dump(exclude={"type", "price_direction", "exclude_brand_of"})
            cmd = Search(**(fields | {"query": cmd.query or ""}))
        if isinstance(cmd, (Search, Refine)):
            if searched:
                notes.append(f"dropped a second {cmd.type}")
                continue
            searched = True
            brand_of = cmd.exclude_brand_of if isinstance(cmd, Refine) else None
            if brand_of is not None and not _items_ok(screen, [brand_of]):
                ask(_bad_reference(screen), f"refine points at item {brand_of}")
                continue
            checked = _slots(cmd, vocab, message)
            if message is not None and isinstance(checked, Search):
                if vague(checked) and _other_service_cue("search", message):
                    # "What did I order last time?" read as a search: the rules decide.
                    notes.append("dropped search: the message asks a service question")
                    searched = False
                    continue
                if vague(checked):
                    # "What about that one?": no product, no slot. A pointer is a question
                    # about what is on screen; anything else asks what they are looking for.
                    ask(
                        _bad_reference(screen)
                        if screen.shown
                        else Clarify(question="What kind of product are you looking for?"),
                        "search without product words",
                    )
                    continue
                if not (
                    product_words(message, vocab)
                    or checked.min_price is not None
                    or checked.max_price is not None
                    or checked.brands
                    or checked.categories
                    or (screen.shown and _content(checked.query) <= ATTRIBUTE_WORDS)
                ):
                    # "What did I order last time?" read as a search: the message names no
                    # product and sets no slot, so the rules decide what it asks.
                    notes.append("dropped search: the message names no product")
                    searched = False
                    continue
                if screen.shown and _content(checked.query) <= ATTRIBUTE_WORDS | {"in", "with"}:
                    # "In black" with chairs on screen: the same chairs, in black.
                    notes.append("an attribute-only search refines the one on screen")
                    checked = Refine(
                        attributes=sorted(_content(checked.query) - {"in", "with"}),
                        min_price=checked.min_price,
                        max_price=checked.max_price,
                        exclude_brands=checked.exclude_brands,
                    )
            if (
                message is not None
                and isinstance(checked, Refine)
                and _changes_nothing(checked)
                and not _MORE_CUE.search(message)
            ):
                notes.append("dropped refine: the message changes nothing")
                searched = False
                continue
            out.append(checked)
        elif isinstance(cmd, (AskAbout, Compare)):
            items = list(dict.fromkeys(cmd.items))
            if not items and isinstance(cmd, AskAbout):
                if screen.focus is not None and 1 <= screen.focus <= screen.shown:
                    items = [screen.focus]
                elif screen.shown == 1:
                    items = [1]
                elif screen.shown > 1:
                    items = list(range(1, screen.shown + 1))  # "which of these ...": all of them
            if not screen.shown or not _items_ok(screen, items):
                ask(_bad_reference(screen), f"{cmd.type} points at {items}, {screen.shown} shown")
                continue
            out.append(cmd.model_copy(update={"items": items}))
        elif isinstance(cmd, CartAdd):
            if not _items_ok(screen, [cmd.item]) or not screen.shown:
                ask(_bad_reference(screen), f"cart_add points at {cmd.item}, {screen.shown} shown")
                continue
            out.append(cmd)
        elif isinstance(cmd, CartRemove):
            if not 1 <= cmd.item <= max(screen.cart_lines, 0):
                n = screen.cart_lines
                question = (
                    "Your cart is empty, so there is nothing to remove. Shall I find you something?"
                    if not n
                    else f"Your cart has {n} line{'s' if n != 1 else ''}; which one should I remove?"
                )
                ask(Clarify(question=question), f"cart_remove points at {cmd.item}, {n} lines")
                continue
            out.append(cmd)
        elif isinstance(cmd, (OrderStatus, ReturnRequest)):
            out.append(cmd.model_copy(update={"order_id": normalise_order_id(cmd.order_id)}))
        else:
            out.append(cmd)
    # Small talk and the model's own questions stand alone; a decline goes first.
    real = [c for c in out if not isinstance(c, (SmallTalk, Clarify, Decline)) or id(c) in asked]
    if real:
        dropped = [c.type for c in out if c not in real and not isinstance(c, Decline)]
        if dropped:
            notes.append(f"dropped {dropped} next to a request")
        if any(isinstance(c, (Search, Refine)) for c in real) and not screen.shown:
            # Nothing on screen yet, but this turn searches: the search answers the pointer.
            real = [c for c in real if not (isinstance(c, Clarify) and id(c) in asked)]
        return [c for c in out if isinstance(c, Decline)] + real, notes
    if len(out) > 1:
        out = [c for c in out if isinstance(c, Decline)] or out[:1]
    return out, notes
