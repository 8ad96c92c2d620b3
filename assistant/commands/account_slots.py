"""Reading an account request's slots from the shopper's words, against their own data.

Pure functions: the text, plus the order, the account or the product's variants it may refer to.
They never decide whether an action is allowed (that is `support.actions`); they only find which
order, items, versions, payment method, reason or address the shopper means, or None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..support.actions import ActionKind

WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
ORDER_ID = re.compile(r"#?\s?\b(W\d{7})\b", re.I)
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
ZIP = re.compile(r"\b(\d{5})\b")
_NAME = re.compile(
    r"\b(?i:i am|i'm|im|my name is|name's|this is|it's|it is|name is)\s+"
    r"(?i:(?:also|actually|really|now)\s+)?([A-Z][a-zA-Z'-]+)\s+([A-Z][a-zA-Z'-]+)"
)
_USER_ID = re.compile(r"\b([a-z]+)_([a-z]+)_\d{3,5}\b")
_PAIR = re.compile(r"\b([A-Z][a-z'-]+)\s+([A-Z][a-z'-]+)\b")
_NOT_NAMES = {"Hi", "Hello", "Hey", "I", "My", "The", "Thanks", "Please", "Dear", "Good", "Yes"}

_YES = re.compile(
    r"^\s*(yes|yeah|yep|yup|y|sure|ok(ay)?|confirm(ed)?|correct|go ahead|do it|please do|"
    r"that's (right|correct|fine)|sounds good|proceed)\b",
    re.I,
)
_NO = re.compile(r"^\s*(no|nope|nah|don't|do not|cancel that|stop|never ?mind)\b", re.I)
_AMEND = re.compile(r"\b(but|instead|actually|wait|change|rather)\b", re.I)

_KINDS: list[tuple[ActionKind | str, re.Pattern[str]]] = [
    (ActionKind.USER_ADDRESS, re.compile(r"\b(default|account|profile|user)('s)? address\b", re.I)),
    (
        ActionKind.MODIFY_ADDRESS,
        re.compile(
            r"\b(shipping|delivery|order('s)?) address\b|\baddress (on|of|for)\b.{0,30}\border|"
            r"\b(ship|send|deliver) (it|them|the order|my order|\w+) to\b|"
            r"\b(ship|send|sent|shipped|deliver|delivered)\b.{0,40}\bto (my|the|our|a) .{0,25}address\b|"
            r"\b(change|update|fix|correct|wrong)\b.{0,40}\baddress\b",
            re.I,
        ),
    ),
    (
        ActionKind.MODIFY_PAYMENT,
        re.compile(
            r"\b(change|switch|update|modify)\b.{0,40}\b(payment method|payment|pay(ing)? with)\b|"
            r"\bpay (for it|for the order|for that order)? ?(with|using) (a |my )?(different|other)\b",
            re.I,
        ),
    ),
    (ActionKind.CANCEL, re.compile(r"\bcancel(?!led\b)", re.I)),  # not "my cancelled order"
    ("change_items", re.compile(r"\b(exchange|swap|replace|switch|upgrade|downgrade)\b", re.I)),
    (
        ActionKind.RETURN,
        re.compile(r"\b(return|send (it|them|\w+) back|refund (for|on) (the|my))\b", re.I),
    ),
    (
        "change_items",
        re.compile(
            r"\b(change|modify|update)\b.{0,60}\b(to|into|for) (a |an |the )?"
            r"(\w+ )*(one|version|size|color|colou?r|model)\b|"
            r"\b(change|modify)\b.{0,20}\b(items?|options?|size|colou?r)\b|"
            # "change the luggage set to red" (not "change the shipping address to ...")
            r"\b(change|switch|swap|upgrade)\s+(the|my|that|this)\s+"
            r"(?!shipping|delivery|address|payment|default)[\w-]+(\s+[\w-]+)?\s+(to|into)\b",
            re.I,
        ),
    ),
]
CANCEL_REASON_WORDS: list[tuple[str, re.Pattern[str]]] = [
    (
        "ordered by mistake",
        re.compile(r"\b(mistake|mistaken|accident|accidentally|by error|didn't mean)\b", re.I),
    ),
    (
        "no longer needed",
        re.compile(
            r"\b(no longer need|don'?t need|do not need|not needed|no longer want|"
            r"don'?t want|do not want|no need|not need)",
            re.I,
        ),
    ),
]
_ALL_ITEMS = re.compile(
    r"\b(everything|all (the |of the )?items|all of it|whole order|entire order|all of them)\b",
    re.I,
)
_ORIGINAL = re.compile(
    r"\b(original|same) (payment( method)?|card|method|way)|\bthe (one|card|method) i (paid|used)\b|"
    r"\bwhatever i paid with\b",
    re.I,
)
MANY_ORDERS = re.compile(
    r"\b(all|both|each) (of )?(my |the )?(\w+ )?orders\b|\bboth of them\b|\beach order\b|"
    r"\b(in|from) (all )?my (\w+ )?orders\b",
    re.I,
)


START_WITH = re.compile(r"\bstart(?:ing)? with (?:the )?([^.;!?]+)", re.I)
SAME_AGAIN = re.compile(r"\b(do|the) (the )?same( thing)? (for|with|to)\b|\bsame for\b", re.I)


_CHEAPEST = re.compile(r"\b(cheapest|lowest[- ]priced|least expensive|lowest price)\b", re.I)
_DEAREST = re.compile(
    r"\b(most expensive|priciest|highest[- ]priced|highest price|top of the line)\b", re.I
)
_CHEAPER = re.compile(r"\b(cheaper|less expensive|lower[- ]priced)\b", re.I)
_DEARER = re.compile(r"\b(more expensive|pricier|higher[- ]priced)\b", re.I)


_WHOLE_ORDER = re.compile(r"\b(whole|entire|complete) orders?\b", re.I)
_NOT_WHOLE = re.compile(
    r"\b(don't|do not|doesn't|does not|not) (want to )?(cancel )?(the |my )?(whole|entire)", re.I
)


def refuses_whole_order(text: str) -> bool:
    """ "I don't want to cancel the whole order"."""
    return bool(_NOT_WHOLE.search(text))


def cancel_whole_order(text: str) -> bool:
    """ "then cancel the whole order" (and not "I don't want to cancel the whole order")."""
    return bool(_WHOLE_ORDER.search(text)) and not _NOT_WHOLE.search(text)


OTHER_ORDER = re.compile(r"\b(another|other|different|second) (pending |delivered )?order\b", re.I)
_PENDING_SAID = re.compile(
    r"\b(pending|just (ordered|bought|placed)|(haven'?t|hasn'?t|has not|have not) (yet )?"
    r"(received|got|arrived)|not (yet )?(shipped|arrived))\b",
    re.I,
)
_DELIVERED_SAID = re.compile(r"\b(received|delivered|arrived|already got|i got)\b", re.I)


def said_status(text: str) -> tuple[str, ...]:
    """The order status the words point at: "my pending order", "the grill I received"."""
    pending = _PENDING_SAID.search(text)
    delivered = _DELIVERED_SAID.search(_PENDING_SAID.sub(lambda m: " " * len(m.group(0)), text))
    # Both said: the first belongs to the item ("the hose I received, like the one in my
    # pending order").
    if pending and (not delivered or pending.start() < delivered.start()):
        return ("pending", "processed") if "receiv" in pending.group(0).lower() else ("pending",)
    if delivered:
        return ("delivered",)
    return ()


def price_pick(text: str) -> str | None:
    """ "the cheapest version" -> "min", "the more expensive one" -> "max" (of two, the more
    expensive is the most expensive)."""
    if _CHEAPEST.search(text) or _CHEAPER.search(text):
        return "min"
    if _DEAREST.search(text) or _DEARER.search(text):
        return "max"
    return None


def order_ids(text: str) -> list[str]:
    return list(dict.fromkeys(f"#{m.upper()}" for m in ORDER_ID.findall(text)))


def is_yes(text: str) -> bool:
    return bool(_YES.search(text)) and not _NO.search(text)


def after_yes(text: str) -> str:
    """The message without its leading "yes" and a joining "and / also / then"."""
    rest = _YES.sub("", text, count=1).strip(" ,.;!-")
    return re.sub(r"^(and|also|then|plus)\b", "", rest, flags=re.I).strip(" ,.")


def says_original(text: str) -> bool:
    """ "the original payment method", "the card I paid with"."""
    return bool(_ORIGINAL.search(text))


def says_all_items(text: str) -> bool:
    return bool(_ALL_ITEMS.search(text))


def is_no(text: str) -> bool:
    return bool(_NO.search(text))


# Words that make a "yes" something less than a go-ahead: a doubt, a delay, a question.
_HESITANT = re.compile(
    r"\?|\b(not|no|never|don'?t|do not|wait|hold on|later|think|hmm+|unsure|maybe|perhaps|"
    r"whatever|first|before|if|cost|how|what|why|which|when)\b|n't\b",
    re.I,
)
_THEN_NEW = re.compile(
    r"\b(and also|also|and then|then|plus|next|additionally|one more thing)\b", re.I
)


def confirms(text: str, order_id: str | None) -> bool:
    """An explicit go-ahead for the action stated just before: a yes-word first, and nothing
    in the same breath that doubts, delays, asks, or points at another order. A new request
    may follow ("yes, and also cancel #W2"); it is taken up for its own confirmation."""
    if not is_yes(text) or amends(text):
        return False
    rest = after_yes(text)
    split = _THEN_NEW.search(rest)
    head = rest[: split.start()] if split and action_kind(rest[split.start() :]) else rest
    if _HESITANT.search(head):
        return False
    return all(i == order_id for i in order_ids(head))


def amends(text: str) -> bool:
    """ "yes, but ..." changes the request rather than confirming it."""
    return bool(_AMEND.search(text))


_LAST_WINS = (ActionKind.CANCEL, ActionKind.RETURN, "change_items")
_CHANGE = re.compile(r"\b(change|modify)\b", re.I)


def action_kind(text: str) -> ActionKind | str | None:
    """The action asked for: an ActionKind, "change_items" (a modification or an exchange,
    decided by the order's status), or None. Of cancel / return / exchange, the last one said
    wins ("I won't exchange it; I'd like to return it")."""
    found: list[tuple[int, ActionKind | str]] = []
    for kind, pattern in _KINDS:
        starts = [m.start() for m in pattern.finditer(text)]
        if not starts:
            continue
        if (
            kind is ActionKind.USER_ADDRESS
            and _DEFAULT_AS_TARGET.search(text)
            and _KINDS[1][1].search(text)
        ):
            return ActionKind.MODIFY_ADDRESS
        if kind not in _LAST_WINS:
            return kind
        found.append((starts[-1], kind))
    if found:
        return max(found, key=lambda pk: pk[0])[1]
    return "change_items" if _CHANGE.search(text) else None


# "ship it to my default address" / "..., which is my default address": the default address
# is where the order goes, not what changes.
_DEFAULT_AS_TARGET = re.compile(
    r"\b(to|is|use|with) (my |the )?default( \w+)? (address|one|place)\b", re.I
)


_NOT_SEPARATE = re.compile(
    r"\b(if|otherwise|or|instead|rather|won'?t|don'?t|not|unless|only|i mean|sorry|"
    r"correction|meant)\b|n't\b",
    re.I,
)
_CLAUSE_END = re.compile(r"[,;.!?]\s+|\s+(and|then|also|plus)\s+", re.I)


def split_requests(text: str) -> list[str]:
    """Several requests of different kinds in one message ("cancel my pending orders, and
    return the smart watch") as one text each, in order. A correction or a fallback ("return
    it instead", "if not, cancel it") is one request, read as before."""
    cues: list[tuple[int, int, ActionKind | str]] = []
    for kind, pattern in _KINDS:
        cues += [(m.start(), m.end(), kind) for m in pattern.finditer(text)]
    cues.sort()
    starts: list[int] = []
    last_kind: ActionKind | str | None = None
    last_end = -1
    addresses = (ActionKind.MODIFY_ADDRESS, ActionKind.USER_ADDRESS)
    for start, end, kind in cues:
        if start < last_end or kind == last_kind or (kind in addresses and last_kind in addresses):
            last_end = max(last_end, end)
            continue
        if last_kind is not None:
            clause = text[starts[-1] if starts else 0 : start]
            cut = [m.start() for m in _CLAUSE_END.finditer(text, max(last_end, 0), start)]
            if not cut or _NOT_SEPARATE.search(clause):
                return [text]
            starts.append(cut[-1])
        last_kind, last_end = kind, end
    if not starts:
        return [text]
    bounds = [0, *starts, len(text)]
    joins = re.compile(r"^(and|then|also|plus)\s+|\s+(and|then|also|plus)$", re.I)
    parts = [
        joins.sub("", text[a:b].strip(" ,;.")).strip(" ,;.")
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    return [p for p in parts if p and not _NOT_NOW.search(p)]


_NOT_NOW = re.compile(r"\b(later|myself|another time|some other time)\b", re.I)


def cancel_reason(text: str) -> str | None:
    for reason, pattern in CANCEL_REASON_WORDS:
        if pattern.search(text):
            return reason
    return None


@dataclass(frozen=True)
class Identity:
    email: str | None = None
    other_emails: tuple[str, ...] = ()  # "... or maybe ...": tried too, as one attempt
    first_name: str | None = None
    last_name: str | None = None
    zip: str | None = None

    def usable(self) -> bool:
        return bool(self.email or (self.first_name and self.last_name and self.zip))


def identity(text: str, known: Identity | None = None, *, explicit: bool = False) -> Identity:
    """Email, or first + last name and zip, in this message (added to what was said before).
    `explicit`: only a name introduced as one ("I'm Ann Lee"), never a guess from two
    capitalised words or a user id (an address holds such pairs: "Highland Drive")."""
    known = known or Identity()
    emails = EMAIL.findall(text)
    name = _NAME.search(text)
    uid = _USER_ID.search(text)
    zip_ = ZIP.search(text)
    first, last = known.first_name, known.last_name
    pair = next(
        (m for m in _PAIR.finditer(text) if not {m.group(1), m.group(2)} & _NOT_NAMES), None
    )
    if name:
        first, last = name.group(1), name.group(2)
    elif explicit:
        pass
    elif uid and not first:
        first, last = uid.group(1).title(), uid.group(2).title()
    elif pair and zip_ and not first:
        first, last = pair.group(1), pair.group(2)
    return Identity(
        emails[0] if emails else known.email,
        tuple(emails[1:3]),
        first,
        last,
        zip_.group(1) if zip_ and not order_ids(zip_.group(0)) else known.zip,
    )


def words(text: str) -> set[str]:
    found = set(WORD.findall(text.lower().replace("t-shirt", "tshirt")))
    return found | {w[:-3] + "f" for w in found if w.endswith("ves")}  # "bookshelves"


def named_products(text: str, names: list[str]) -> list[str]:
    """The product names (of `names`) the text mentions: by the name's last word (its head,
    "keyboard" for "Mechanical Keyboard"), or all its words; among names sharing a head, those
    with the most words said ("action camera" over "digital camera")."""
    have = words(text)
    have |= {w.rstrip("s") for w in have} | {w + "s" for w in have}
    have |= {"tshirt"} if "shirt" in have or "shirts" in have else set()
    hits: dict[str, int] = {}
    for n in names:
        ws = [w for w in WORD.findall(n.lower().replace("t-shirt", "tshirt"))]
        if ws and (ws[-1] in have or all(w in have for w in ws)):
            hits[n] = sum(w in have for w in ws)
    heads = {WORD.findall(m.lower())[-1] for m in names if WORD.findall(m.lower())}
    for n in names:  # "watch" for a Wristwatch, when no product is called "... Watch"
        ws = WORD.findall(n.lower())
        if (
            n not in hits
            and ws
            and any(len(w) >= 4 and ws[-1].endswith(w) and ws[-1] != w for w in have)
            and not (heads - {ws[-1]}) & have
        ):
            hits[n] = 1
    best: dict[str, int] = {}
    for n, h in hits.items():
        head = WORD.findall(n.lower())[-1]
        best[head] = max(best.get(head, 0), h)
    return [n for n, h in hits.items() if h == best[WORD.findall(n.lower())[-1]]]


def mention_positions(text: str, name: str) -> list[int]:
    low = text.lower().replace("t-shirt", "tshirt")
    out = []
    for w in WORD.findall(name.lower().replace("t-shirt", "tshirt"))[-1:]:
        out += [m.start() for m in re.finditer(rf"\b{re.escape(w)}s?\b", low)]
    return sorted(out)


_ORDER_BY = re.compile(
    r"\b(?:i )?(?:got|came|bought|ordered|received|order|one)\s+with\s+(?:the\s+|my\s+|a\s+)?"
    r"[\w-]+(?:\s+[\w-]+)?(?:\s+and\s+(?:the\s+)?[\w-]+(?:\s+[\w-]+)?)?",
    re.I,
)
_CHANGE_TO = re.compile(r"\s(?:to|into|for)\s(?:a|an|the)\b", re.I)


def pick_items(text: str, order: dict[str, Any]) -> list[str]:
    """The order's item ids the text names: "everything", or by product name, told apart by
    option values when the order holds the same product twice."""
    items = order["items"]
    text = _ORDER_BY.sub(" ", text)  # "the backpack I got with the vacuum": not the vacuum
    all_names = sorted({it["name"] for it in items})
    left_out = set(excluded_products(text, all_names))
    if says_all_items(text):
        return [it["item_id"] for it in items if it["name"] not in left_out]
    names = [n for n in named_products(text, all_names) if n not in left_out]
    # "change the 17-inch laptop to a 13-inch one": the item is told apart before the "to"
    source = _CHANGE_TO.split(text, maxsplit=1)[0]
    chosen: list[str] = []
    for name in names:
        same = [it for it in items if it["name"] == name]
        if len(same) > 1:
            said = source if any(option_hits(source, it["options"]) for it in same) else text
            told = [it for it in same if option_hits(said, it["options"]) > 0]
            best = max((option_hits(said, it["options"]) for it in told), default=0)
            told = [it for it in told if option_hits(said, it["options"]) == best]
            same = told or same
            pick = price_pick(text)
            if len(same) > 1 and pick:  # "the more expensive one"
                chosen_price = (min if pick == "min" else max)(it["price"] for it in same)
                same = [it for it in same if it["price"] == chosen_price][:1]
        chosen += [it["item_id"] for it in same]
    return chosen


def _norm(value: str) -> str:
    return re.sub(r"[\s-]+", " ", value.lower()).strip()


# Letter sizes are said in words, and a bare letter ("it's", "a") must not count as one.
LETTER_SIZES = {
    "xs": "extra small",
    "s": "small",
    "m": "medium",
    "l": "large",
    "xl": "extra large",
    "xxl": "(?:extra extra large|double extra large|2xl)",
}


def _mentions(text: str, value: str) -> list[int]:
    """Where an option value occurs ("1000ml" matches "1000 ml"; "full size" "full-size";
    the size "S" as "size S" or "small")."""
    low = text.lower()
    size = LETTER_SIZES.get(value.lower())
    if size is not None:
        v = re.escape(value.lower())
        spoken = size.replace(" ", r"[\s-]*")
        pattern = rf"size\s+{v}|{v}\s+size|(?<!extra ){spoken}"
        if len(v) > 1:  # "so XL" is a size; a bare "s" or "m" is not
            pattern += rf"|{v}"
        else:
            upper = re.finditer(rf"(?<![A-Za-z0-9'’]){value.upper()}(?![A-Za-z0-9'’])", text)
            extra = [m.start() for m in upper]
            hits = re.finditer(rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])", low)
            return sorted({m.start() for m in hits} | set(extra))
    else:
        pattern = re.escape(_norm(value)).replace(r"\ ", r"[\s-]*")
        pattern = re.sub(r"(\d)([a-z])", r"\1\\s*\2", pattern)
    return [m.start() for m in re.finditer(rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])", low)]


def option_hits(text: str, options: dict[str, str]) -> int:
    return sum(1 for v in options.values() if _mentions(text, v))


def item_segments(text: str, names: list[str]) -> dict[str, str]:
    """Each named product's part of the text: from each of its mentions to the next mention
    of any product ("in my order with the bicycle and the puzzle ... the bicycle for a large
    one, and the puzzle for ...")."""
    marks = sorted((pos, n) for n in names for pos in mention_positions(text, n))
    out: dict[str, str] = {}
    for i, (start, name) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        out[name] = (out.get(name, "") + " " + text[start:end]).strip()
    return out


@dataclass(frozen=True)
class VersionChoice:
    variant: dict[str, Any] | None
    wanted: dict[str, str]  # the option values the shopper asked for
    ambiguous: bool = False


def pick_version(text: str, item: dict[str, Any], variants: list[dict[str, Any]]) -> VersionChoice:
    """The available version of the item's product that the text asks for: every option value
    it names, and the old item's values for the options it does not name. A value the text
    names that the item already has ("same black color", "full size") is a requirement too."""
    old = item["options"]
    wanted: dict[str, str] = {}
    changes = False
    keys = {k for v in variants for k in v["options"]}
    for key in keys:
        values = {str(v["options"].get(key)) for v in variants} - {"None"}
        hits = [(pos, val) for val in values for pos in _mentions(text, val)]
        if not [v for _, v in hits if v != old.get(key)]:
            hits += _loose_hits(text, key, values)
        # Longest value first at a position: "full size" over "full".
        new = [(p, v) for p, v in hits if v != old.get(key)]
        if new:
            wanted[key] = max(new, key=lambda pv: (pv[0], len(pv[1])))[1]
            changes = True
        elif hits or _same_option(text, key):  # "same size", "keep the 1TB SSD"
            wanted[key] = str(old.get(key))
    pick = price_pick(text)
    if not changes and not pick:
        return VersionChoice(None, {})
    fits = [
        v
        for v in variants
        if v["available"]
        and v["item_id"] != item["item_id"]
        and all(v["options"].get(k) == val for k, val in wanted.items())
    ]
    if _CHEAPER.search(text) and not _CHEAPEST.search(text):
        fits = [v for v in fits if v["price"] < item["price"]]  # "only if there are cheaper ones"
    elif _DEARER.search(text) and not _DEAREST.search(text):
        fits = [v for v in fits if v["price"] > item["price"]]
    if not fits:
        return VersionChoice(None, wanted or {"price": pick or ""})
    if pick:
        chosen = (min if pick == "min" else max)(fits, key=lambda v: v["price"])
        return VersionChoice(chosen, wanted)
    kept = [sum(v["options"].get(k) == old.get(k) for k in old) for v in fits]
    best = max(kept)
    top = [v for v, n in zip(fits, kept, strict=True) if n == best]
    return VersionChoice(top[0], wanted, ambiguous=len(top) > 1)


def _same_option(text: str, key: str) -> bool:
    k = re.escape(key.lower())
    return bool(
        re.search(rf"\b(same|keep the|keep its|still the) ({k}|[a-z ]*\band {k})\b", text.lower())
        or re.search(rf"\b{k} (stays|the same)\b", text.lower())
    )


PART = re.compile(r"[a-z0-9]+")


def _loose_hits(text: str, key: str, values: set[str]) -> list[tuple[int, str]]:
    """ "no backlight" for the value "none"; "Google Home" for "Google Assistant" (a word of
    the value that no other value of the option has)."""
    low = text.lower()
    out = []
    neg = re.search(rf"\b(no|without)\s+{re.escape(key.split()[-1].lower())}", low)
    if neg and "none" in values:
        out.append((neg.start(), "none"))
    said = [(p, p + len(v)) for v in values for p in _mentions(text, v)]
    for val in values:
        own = set(PART.findall(val.lower())) - {
            w for other in values if other != val for w in PART.findall(other.lower())
        }
        for w in own:
            if len(w) >= 4 and not w.isdigit():
                out += [
                    (m.start(), val)
                    for m in re.finditer(rf"\b{re.escape(w)}\b", low)
                    if not any(a <= m.start() < b for a, b in said)  # "neck" of "v-neck"
                ]
    return out


def payment_method(
    text: str, methods: dict[str, dict[str, Any]], original: str | None = None
) -> str | None:
    """The payment method on file the text names: "original", "PayPal", "gift card", "the Visa
    ending in 1234", "my credit card" (when there is one)."""
    low = text.lower()
    if original and says_original(low):
        return original
    named_id = re.search(r"\b(gift_card|credit_card|paypal)_\d+\b", low)
    if named_id:  # an id, on file or not: the policy refuses one that isn't the shopper's
        return named_id.group(0)
    last_four = re.findall(r"\b(\d{4})\b", low)
    for mid, m in methods.items():
        if m.get("source") == "credit_card" and m.get("last_four") in last_four:
            return mid
    by_source = {
        "paypal": re.compile(r"\bpay ?pal\b"),
        "gift_card": re.compile(r"\bgift ?cards?\b"),
        "credit_card": re.compile(
            r"\b(credit card|(?<!gift )(?<!gift)card|visa|mastercard|master card|amex|american express|discover)\b"
        ),
    }
    for source, pattern in by_source.items():
        if not pattern.search(low):
            continue
        found = [mid for mid, m in methods.items() if m.get("source") == source]
        if source == "credit_card":
            if last_four:  # "ending in 4242" and no such card: not any card on file
                return None
            brands = re.findall(
                r"\b(visa|mastercard|master card|amex|american express|discover)\b", low
            )
            if brands:
                said = {b.replace(" ", "").replace("americanexpress", "amex") for b in brands}
                found = [m for m in found if str(methods[m].get("brand", "")).lower() in said]
        if len(found) == 1:
            return found[0]
    return None


_FALLBACK = re.compile(
    r"\bif (?:that|it|this)(?:'s| is)? not (?:possible|allowed|available)\b|\bif not\b|"
    r"\botherwise\b|\bif (?:that|it|you) (?:doesn't|does not|can't|cannot|won't)\b|\bor else\b",
    re.I,
)


def payment_choices(
    text: str, methods: dict[str, dict[str, Any]], original: str | None = None
) -> list[str]:
    """The payment methods the text names, the preferred first: "my PayPal; if that's not
    possible, my credit card" gives [PayPal, the card]."""
    out: list[str] = []
    for part in _FALLBACK.split(text):
        m = payment_method(part, methods, original)
        if m and m not in out:
            out.append(m)
    return out


_DROP = re.compile(
    r"\b(never ?mind|forget (it|about it)|changed my mind|i'?ll keep (it|them)|"
    r"(don't|do not) (cancel|change|return|exchange) (it|them|anything)|leave it( as it is)?|"
    r"leave (that|the|this|my) order (alone|as it is)|i'?ll (do|cancel|handle|change) (it|that) myself)\b",
    re.I,
)


DROP_PART = _DROP


def drops_request(text: str, *, conditional: bool = False) -> bool:
    """ "I've changed my mind, I'll keep it": the request under way is dropped. A condition
    ("if you can't, never mind") counts only when `conditional` (the request was refused)."""
    return bool(_DROP.search(text)) and (conditional or not re.search(r"\bif\b", text, re.I))


_EXCLUDE = re.compile(
    r"\b(?:not|except(?: for)?|but not|other than|apart from|besides|keep|keeping)\s+(?:the\s+|my\s+)?((?:[\w-]+\s+){0,3}[\w-]+)",
    re.I,
)


def excluded_products(text: str, names: list[str]) -> list[str]:
    """Products the text sets aside: "not the backpack", "except the coffee machine", "keep
    the kettle"."""
    out: list[str] = []
    for m in _EXCLUDE.finditer(text):
        out += [n for n in named_products(m.group(1), names) if n not in out]
    return out


_STREET = re.compile(r"^\d+\s+\w+")
_UNIT = re.compile(r"^(apt|apartment|suite|ste|unit|#|floor|fl|room)\b", re.I)
_STATE_ZIP = re.compile(r"^([A-Z]{2})\s+(\d{5})$")


def address(text: str) -> dict[str, str] | None:
    """A full postal address written out: "123 Main St, Apt 4, Austin, TX 78701, USA"."""
    sentences = re.split(r"(?<=[A-Za-z0-9]{3})[.!?]\s+(?=[A-Z])", text)
    found = [m for part in sentences for m in re.finditer(r"\d+\s+[^,]+(?:,[^,]+){2,5}", part)]
    for m in found:
        parts = [p.strip(" .!?") for p in m.group(0).split(",")]
        if not _STREET.match(parts[0]):
            continue
        out = {"address1": parts[0], "address2": "", "city": "", "state": "", "zip": ""}
        rest = parts[1:]
        if rest and _UNIT.match(rest[0]):
            out["address2"] = rest.pop(0)
        if not rest:
            continue
        out["city"] = rest.pop(0)
        for p in rest:
            sz = _STATE_ZIP.match(p)
            if sz:
                out["state"], out["zip"] = sz.group(1), sz.group(2)
            elif re.fullmatch(r"[A-Z]{2}", p):
                out["state"] = p
            elif re.fullmatch(r"\d{5}", p):
                out["zip"] = p
            elif p:
                out["country"] = "USA" if p.upper() in ("US", "USA", "UNITED STATES") else p
        if out["state"] and out["zip"]:
            out.setdefault("country", "USA")
            return out
    return None
