"""Acting on orders and the account: identify the shopper, collect the request's slots, state
what will happen, and run it only after an explicit "yes" in the next message.

Code reads the slots from the shopper's words against their own orders (`account_slots`) and
the policy decides (`support.actions`); every reply here is a template over those facts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..commands import account_slots as slots
from ..commands.schema import OrderAction
from ..support.actions import (
    ActionKind,
    ActionRefused,
    Proposal,
    payment_label,
)
from ..support.identity import IdentificationLocked
from ..support.orders import OrderNotFound
from .account_info import (
    address_text,
    answer_questions,
    asks_about_orders,
    options_text,
    record_refund,
)
from .context import TurnContext

log = logging.getLogger(__name__)

REFUSAL_TEXT = {
    "wrong_status": "order {order_id} is {status}, and only {needs} orders can be {verb}",
    "bad_reason": "an order can be cancelled only because it's no longer needed or was ordered "
    "by mistake",
    "payment_not_on_file": "that payment method isn't on file for your account",
    "refund_method": "a refund can go only to the original payment method or a gift card on file",
    "gift_card_balance": "the gift card's balance doesn't cover the amount",
    "other_product": "an item can only be changed to another version of the same product",
    "unavailable": "that version isn't available",
    "same_item": "that's the version you already have",
    "same_payment": "the order is already paid with that method",
    "payment_changed": "the payment of this order was already changed",
    "item_not_in_order": "that item isn't part of the order",
    "changed": "the order changed since I described the action; please check it again",
    "no_account": "this store keeps no account for you",
    "incomplete_address": "the address is incomplete",
    "partial_cancel": "a pending order can only be cancelled as a whole, not item by item. "
    "I can cancel all of order {order_id}, or you can return items once they're delivered",
}
_VERBS = {
    ActionKind.CANCEL: "cancelled",
    ActionKind.MODIFY_ADDRESS: "changed",
    ActionKind.MODIFY_PAYMENT: "changed",
    ActionKind.MODIFY_ITEMS: "changed",
    ActionKind.RETURN: "returned",
    ActionKind.EXCHANGE: "exchanged",
}
_NEEDS_ITEMS = (ActionKind.RETURN, ActionKind.EXCHANGE, ActionKind.MODIFY_ITEMS, "change_items")


@dataclass
class AccountTask:
    """The request being put together, and the proposal waiting for a "yes"."""

    kind: ActionKind | str | None = None
    order_id: str | None = None
    item_ids: list[str] = field(default_factory=list)
    new_item_ids: dict[int, str] = field(default_factory=dict)  # position in item_ids -> new
    payment_method_id: str | None = None
    reason: str | None = None
    address: dict[str, str] | None = None
    targets: list[str] = field(default_factory=list)  # more orders (or "account") to do next
    every_item: bool = False  # "all items" of each order in `targets`
    original_payment: bool = False  # "to the original payment method(s)", per order
    payment_fallbacks: list[str] = field(default_factory=list)  # "if not, my credit card"
    item_names: list[str] = field(default_factory=list)  # products asked for across `targets`
    wishes: dict[str, str] = field(default_factory=dict)  # product name -> words on its version
    queue: list[str] = field(default_factory=list)  # further requests said in the same message
    suspended: AccountTask | None = None  # the request this one interrupted ("also, ...")
    whole_order: bool = False  # "if you can't cancel just that item, cancel the whole order"
    not_whole: bool = False  # "I don't want to cancel the whole order"
    unmet: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # item id -> options no version has
    pending: Proposal | None = None


def wants_account(ctx: TurnContext) -> bool:
    """Whether this message belongs to the account flow: one is under way, or it asks for an
    action, names a store order, or identifies the shopper."""
    st, text = ctx.state, ctx.text
    if st.account is not None or st.identifying:
        return True
    mid_service = st.identified_in_chat or st.last_intent == "order_action"
    if (
        _GENERAL_QUESTION.search(text)
        and not (_MINE.search(text) or slots.order_ids(text))
        and not (mid_service and _ABOUT_IT.search(text))
    ):
        return False  # "can I exchange a delivered item?": the policy answers that
    kind = slots.action_kind(text)
    direct = kind in (ActionKind.CANCEL, ActionKind.MODIFY_ADDRESS, ActionKind.USER_ADDRESS)
    asked = kind is not None and (direct or bool(_ORDERISH.search(text)))
    if not ctx.deps.desk.actions_enabled():
        # Returns keep their eligibility answer; the rest is explained as not possible here.
        return asked and kind is not ActionKind.RETURN
    if st.last_intent == "order_action" and (
        kind is not None or slots.is_yes(text) or slots.SAME_AGAIN.search(text)
    ):
        return True
    if kind is not None and st.identified_in_chat:
        return True
    if (st.identified_in_chat or st.last_intent == "order_action") and asks_about_orders(text):
        return True
    return (
        asked
        or bool(slots.order_ids(text) or slots.EMAIL.search(text))
        or (not st.user_id and slots.identity(text).usable())
    )


def account_action(ctx: TurnContext, cmd: OrderAction | None = None) -> Iterator[None]:
    ctx.reply.intent = "order_action"
    desk, st, text = ctx.deps.desk, ctx.state, ctx.text
    if not desk.actions_enabled():
        ctx.reply.refused = "not_supported"
        _say(ctx, "not_supported", store=ctx.deps.store_name)
        yield
        return
    task = st.account or AccountTask()
    st.account = task
    if cmd is not None and cmd.order_id and not slots.order_ids(text):
        text = f"{text} #{cmd.order_id.lstrip('#')}"
    if task.pending is not None:
        if slots.is_no(text):
            st.account = None
            _say(ctx, "dropped")
            yield
            return
        if slots.confirms(text, task.pending.order_id):
            proposal, task.pending = task.pending, None
            _execute(ctx, proposal)
            more = _after_yes(text)
            if not more:  # "yes. And what's my balance now?"
                answer_questions(ctx, slots.after_yes(text), None)
            if more:
                st.account = task = AccountTask()
                text = more
            elif task.targets:
                _next_target(task)
                _advance(ctx, task)
                yield
                return
            else:
                st.account = None
                _continue(ctx, task)
                yield
                return
        else:
            task.pending = None  # anything else amends the request: say it again
    elif (
        task.kind is not None
        and slots.drops_request(text)
        and not slots.action_kind(slots.DROP_PART.sub("", text))
    ):
        st.account = None
        _say(ctx, "dropped")
        yield
        return
    elif (
        task.kind is None
        and slots.is_yes(text)
        and not slots.action_kind(text)
        and len(text.split()) <= 6
    ):
        _say(ctx, "nothing_to_confirm")
        yield
        return
    known = st.user_id is not None  # identified before this message
    if not known and not _identify(ctx, text):
        _read_request(ctx, task, text, None)
        yield
        return
    account = desk.actions.account(st.user_id) if st.user_id else None
    if account is None:
        ctx.reply.refused = "no_account"
        _say(ctx, "not_supported", store=ctx.deps.store_name)
        st.account = None
        yield
        return
    if known and _someone_else(text, account):  # one shopper per conversation
        ctx.reply.refused = "other_customer"
        _say(ctx, "other_customer")
        st.account = None
        yield
        return
    requests = slots.split_requests(text)
    if len(requests) > 1:  # one at a time, each with its own confirmation
        # Items can be changed once and that locks the order: other changes go first.
        requests.sort(key=lambda r: slots.action_kind(r) == "change_items")
        text = requests[0]
        task.queue.extend(requests[1:])
    _read_request(ctx, task, text, account)
    if task.kind is None and task.order_id is None and _product_question(ctx, text):
        yield
        return
    answered = answer_questions(ctx, text, task.pending)
    if answered and task.kind is None:
        st.account = None
        yield
        return
    _advance(ctx, task, account)
    yield


_VERSIONS_ASKED = re.compile(
    r"\b(how many|options?|versions?|variants?|available|in stock|do you have|colou?rs?|sizes?)\b",
    re.I,
)


def _product_question(ctx: TurnContext, text: str) -> bool:
    """Answers "how many t-shirt options do you have?" from the store's variants, mid-way
    through a service conversation. False when the message is no such question."""
    if not _VERSIONS_ASKED.search(text):
        return False
    ids = ctx.deps.desk.actions.product_ids()
    named = slots.named_products(text, sorted(ids))
    if len(named) != 1:
        return False
    variants = ctx.deps.desk.actions.variants(ids[named[0]])
    _say(
        ctx,
        "product_versions",
        name=named[0],
        count=sum(v["available"] for v in variants),
        versions=_versions(variants, ""),
    )
    return True


def _someone_else(text: str, account: dict[str, Any]) -> bool:
    """The message identifies a person, and not the shopper this conversation is for (only
    their own account is compared: nothing is looked up)."""
    said = slots.identity(text, explicit=True)
    if not said.usable():
        return False
    if said.email:
        emails = {e.lower() for e in (said.email, *said.other_emails)}
        return str(account["email"]).lower() not in emails
    return (
        str(said.first_name).lower() != account["first_name"].lower()
        or str(said.last_name).lower() != account["last_name"].lower()
        or said.zip != str(account["address"].get("zip", ""))
    )


_GENERAL_QUESTION = re.compile(
    r"^\s*(can|could|may) (i|you|we|one)\b|^\s*how (do|can|long|many)\b|^\s*is it possible\b|"
    r"^\s*(what|what's|whats) (is )?(your|the) (policy|rule)|^\s*do you (allow|accept|offer)\b",
    re.I,
)
_ABOUT_IT = re.compile(r"\b(it|them|this one|that one|mine)\b", re.I)  # "can I exchange it?"
_MINE = re.compile(r"\b(my|mine|i've|i have|i received|i bought|i ordered)\b", re.I)
_ORDERISH = re.compile(
    r"\b(orders?|ordered|bought|received|purchased|delivered|arrived|payment)\b", re.I
)


def _after_yes(text: str) -> str:
    """What a confirming message asks for besides the "yes" ("yes, and also cancel #W1"): a new
    request, which needs its own confirmation."""
    rest = slots.after_yes(text)
    return rest if slots.action_kind(rest) else ""


# Identification -------------------------------------------------------------------------------
def _identify(ctx: TurnContext, text: str) -> bool:
    st, desk = ctx.state, ctx.deps.desk
    if not desk.identification_allowed():
        ctx.reply.refused = "auth_required"
        _say(ctx, "sign_in_required")
        return False
    hint = slots.identity(text, st.identity_hint)
    st.identity_hint = hint
    if not hint.usable():
        st.identifying = True
        _say(ctx, "identify")
        return False
    try:
        user_id = desk.identity.identify(
            email=hint.email,
            other_emails=hint.other_emails,
            first_name=hint.first_name,
            last_name=hint.last_name,
            zip=hint.zip,
            conversation_failures=st.id_failures,
            client=st.client,
        )
    except IdentificationLocked:
        ctx.reply.refused = "identification_locked"
        _say(ctx, "identify_locked")
        return False
    if user_id is None:
        st.id_failures += 1
        # A name stays for the next try ("sorry, my zip is 98186"); what failed with it goes.
        st.identity_hint = slots.Identity(first_name=hint.first_name, last_name=hint.last_name)
        ctx.reply.refused = "identification_failed"
        _say(ctx, "identify_failed")
        return False
    st.user_id, st.identified_in_chat, st.identifying = user_id, True, False
    account = desk.actions.account(user_id) or {}
    _say(ctx, "identified", first_name=account.get("first_name", ""))
    ctx.say(" ")
    return True


# Reading the request --------------------------------------------------------------------------
def _read_request(
    ctx: TurnContext, task: AccountTask, text: str, account: dict[str, Any] | None
) -> None:
    kind = slots.action_kind(text)
    if kind is None and task.kind is None and slots.SAME_AGAIN.search(text):
        kind = ctx.state.last_action
    ids = slots.order_ids(text)
    same_change = kind == "change_items" and task.kind in (
        ActionKind.MODIFY_ITEMS,
        ActionKind.EXCHANGE,
    )
    if kind and kind != task.kind and not same_change:
        if task.kind is not None:  # a new request: start over, keep the order if it can fit
            common = set(_STATUSES.get(kind, ())) & set(_STATUSES.get(task.kind, ()))
            keep = task.order_id if not ids and common else None
            # Unless it replaces it ("return it instead"), the earlier request waits its turn.
            left = task.suspended if _INSTEAD.search(text) else AccountTask(**task.__dict__)
            task.__dict__.update(AccountTask(order_id=keep, queue=task.queue).__dict__)
            task.suspended = left  # "also, ...": the earlier request is taken up again after
        task.kind = kind
    if account is None:
        if ids:
            task.order_id = ids[0]
        return
    actions = ctx.deps.desk.actions
    orders = actions.orders_of(account["user_id"])
    by_id = {o["order_id"]: o for o in orders}
    for oid in ids:
        if oid not in by_id:
            task.order_id = oid  # not theirs (or not real): refused when looked up
            return
    if task.kind in (ActionKind.MODIFY_ADDRESS, ActionKind.USER_ADDRESS) or (
        kind is None and task.kind is None and slots.address(text)
    ):
        _address_targets(task, text, orders, account, ids, ctx.state)
    elif ids:
        if ids[0] != task.order_id:
            task.item_ids, task.new_item_ids = [], {}
        task.order_id = ids[0]
        task.targets = [i for i in ids[1:] if i != task.order_id]
    elif task.kind is not None and task.order_id is None and slots.MANY_ORDERS.search(text):
        many = _orders_for(task, text, orders)
        if many:
            task.order_id, task.targets = many[0], many[1:]
            task.every_item = task.every_item or task.kind in (ActionKind.RETURN,)
    if task.order_id is None and task.kind is not None:
        spread = _orders_holding(task, text, orders)
        if spread:  # "return the keyboard and the gaming mouse": one order after the other
            task.order_id, task.targets, task.item_names = (
                spread[0],
                spread[1:],
                _named(text, orders),
            )
        else:
            task.order_id = _infer_order(task, text, orders, ctx.state.last_order_id)
    if task.kind is ActionKind.CANCEL and slots.cancel_whole_order(text):
        task.whole_order = True
    if task.kind is ActionKind.CANCEL and slots.refuses_whole_order(text):
        task.not_whole = True
    task.reason = slots.cancel_reason(text) or task.reason
    order = by_id.get(task.order_id or "")
    paid = order["payment_history"] if order else []
    original = paid[0]["payment_method_id"] if paid else None
    choices = slots.payment_choices(text, account["payment_methods"], original)
    method = choices[0] if choices else None
    if choices:
        task.payment_fallbacks = choices[1:]
    if method and method == original and slots.says_original(text):
        task.original_payment = True
    elif method:
        task.original_payment = False
    task.payment_method_id = method or task.payment_method_id
    if task.original_payment and original:
        task.payment_method_id = original
    if slots.says_all_items(text):
        task.every_item = True
    if order is not None and task.kind in _NEEDS_ITEMS:
        _read_items(ctx, task, text, order)
        _more_orders(task, text, orders, order)
    elif order is not None and task.kind is ActionKind.CANCEL:
        task.item_ids = slots.pick_items(text, order) or task.item_ids  # checked: whole orders only
    last = ctx.state.last_item
    if (
        order is not None
        and not task.item_ids
        and last
        and last["order_id"] == order["order_id"]
        and _ABOUT_IT.search(text)
        and task.kind in (*_NEEDS_ITEMS, ActionKind.CANCEL)
        and not slots.says_all_items(text)
    ):  # "can you take it off my order?" after asking about its speaker
        task.item_ids = [it["item_id"] for it in order["items"] if it["name"] == last["name"]]
        if task.kind is not ActionKind.CANCEL:
            _read_items(ctx, task, text, order)


def _address_targets(
    task: AccountTask,
    text: str,
    orders: list[dict[str, Any]],
    account: dict[str, Any],
    ids: list[str],
    context: Any,
) -> None:
    """Which orders (or the account) get which address. The address may be written out or
    referred to: "my default address", "the same address as order #W1", "the address on my
    luggage set order", "my New York address", "that new address"."""
    low = text.lower()
    source_part = _SOURCE.search(text)
    same_as = [
        i
        for i in ids
        if re.search(rf"same (address )?as (my )?(order )?{re.escape(i)}", text, re.I)
    ]
    ids = [i for i in ids if i not in same_as]
    targets: list[str] = []
    pending = [o for o in orders if o["status"] == "pending"]
    if task.kind is ActionKind.MODIFY_ADDRESS or "order" in low:
        if re.search(r"\ball (of )?my (pending )?orders\b|\bboth (of my )?orders\b", low):
            targets = [o["order_id"] for o in pending]
        elif ids:
            targets = list(ids)
    if (
        re.search(r"\b(default|account|profile)('s)? address\b|\bmy account\b", low)
        and (task.kind is ActionKind.USER_ADDRESS or targets)
        and not _DEFAULT_AS_SOURCE.search(text)
    ):
        targets.append("account")
    if targets:
        task.targets = targets[1:]
        _set_target(task, targets[0])
    elif task.kind is ActionKind.MODIFY_ADDRESS and task.order_id is None:
        task.order_id = _address_order(text, pending, source_part, context.last_order_id)
    target = next((o for o in orders if o["order_id"] == task.order_id), None)
    new = slots.address(text) or _address_reference(
        text, orders, account, target, same_as, source_part, context.last_address, task.kind
    )
    task.address = new or task.address


_SOURCE = re.compile(
    r"\b(?:address|it'?s|it is|one|that'?s)\s+(?:is\s+)?(?:on|from|of|in)\s+(?:my|the|one of my)\s+"
    r"([\w\s-]{0,40}?)\s*orders?\b",
    re.I,
)
_DEFAULT_AS_SOURCE = re.compile(
    r"\b(to|with|use) (my |the )?(default|account)\b(?! address to)|\bwhich is my default\b", re.I
)
_CITY_ALIASES = {
    "nyc": "new york",
    "new york city": "new york",
    "la": "los angeles",
    "dc": "washington",
    "sf": "san francisco",
    "philly": "philadelphia",
}


def _cities(text: str, known: set[str]) -> list[tuple[int, str]]:
    """The cities of `known` the text names, with where ("NYC" is New York)."""
    low = text.lower()
    out = [(m.start(), c) for c in known for m in re.finditer(rf"\b{re.escape(c)}\b", low)]
    for alias, city in _CITY_ALIASES.items():
        if city in known:
            flags = 0 if len(alias) == 2 else re.I  # "LA", "DC" only in capitals
            name = alias.upper() if len(alias) == 2 else alias
            out += [
                (m.start(), city)
                for m in re.finditer(rf"(?<![A-Za-z]){name}(?![A-Za-z])", text, flags)
            ]
    return sorted(out)


def _address_order(
    text: str, pending: list[dict[str, Any]], source: re.Match[str] | None, context: str | None
) -> str | None:
    """The pending order whose address is to change: "my order going to Los Angeles", "my
    laptop order" (not the one the new address is taken from), or the only one."""
    if len(pending) == 1:
        return str(pending[0]["order_id"])
    known = {str(o["address"].get("city", "")).lower() for o in pending}
    going = re.finditer(
        r"\b(?:going|shipping|sent|headed|heading|ships|delivered)"
        r"(?:\s+(?:it|them|the order|my order|that order))?\s+to\s+(?:my\s+)?",
        text,
        re.I,
    )
    for m in going:
        hits = [c for _, c in _cities(text[m.end() : m.end() + 40], known)][:1]
        fits = [o for o in pending if str(o["address"].get("city", "")).lower() in hits]
        if len(fits) == 1:
            return str(fits[0]["order_id"])
    said = text[: source.start()] + text[source.end() :] if source else text
    names = sorted({it["name"] for o in pending for it in o["items"]})
    named = set(slots.named_products(said, names))
    if named and re.search(r"\b(my|the) other order\b", text, re.I):
        rest = [o for o in pending if not named & {it["name"] for it in o["items"]}]
        if len(rest) == 1:  # "my luggage set order ... but my other order"
            return str(rest[0]["order_id"])
    if named:
        fits = [o for o in pending if named & {it["name"] for it in o["items"]}]
        if source:  # "... it's the address on my tablet order": not that one
            src = set(slots.named_products(source.group(1), names))
            fits = [
                o for o in fits if not (src and src & {it["name"] for it in o["items"]})
            ] or fits
        if len(fits) == 1:
            return str(fits[0]["order_id"])
    if context and any(o["order_id"] == context for o in pending):
        return context
    return None


def _address_reference(
    text: str,
    orders: list[dict[str, Any]],
    account: dict[str, Any],
    target: dict[str, Any] | None,
    same_as: list[str],
    source: re.Match[str] | None,
    last: dict[str, str] | None,
    kind: ActionKind | str | None,
) -> dict[str, str] | None:
    """An address the text points at instead of writing it out; None when it points nowhere
    or at more than one."""
    low = text.lower()
    here = dict(target["address"]) if target else None
    others = [o for o in orders if target is None or o["order_id"] != target["order_id"]]
    by_id = {o["order_id"]: o for o in orders}
    if same_as and same_as[0] in by_id:
        return dict(by_id[same_as[0]]["address"])
    if kind is ActionKind.MODIFY_ADDRESS and re.search(r"\bdefault\b", low):
        return dict(account["address"])
    candidates: list[dict[str, str]] = []
    if source is not None:
        names = sorted({it["name"] for o in others for it in o["items"]})
        src = set(slots.named_products(source.group(1), names))
        held = [o for o in others if src & {it["name"] for it in o["items"]}] if src else others
        candidates = [dict(o["address"]) for o in held]
    known = {str(o["address"].get("city", "")).lower() for o in orders}
    known.add(str(account["address"].get("city", "")).lower())
    cities = {c for _, c in _cities(text, known)}
    if cities:
        pool = candidates or [dict(o["address"]) for o in others] + [dict(account["address"])]
        candidates = [a for a in pool if str(a.get("city", "")).lower() in cities]
    elif last is not None and re.search(r"\b(that|the|this) (new |same )?address\b", low):
        return dict(last)
    if here is not None:
        candidates = [a for a in candidates if a != here]
    unique = [a for i, a in enumerate(candidates) if a not in candidates[:i]]
    if len(unique) == 1 and ("address" in low or "use that" in low or "place" in low or cities):
        return unique[0]
    return None


def _set_target(task: AccountTask, target: str) -> None:
    if target == "account":
        task.kind, task.order_id = ActionKind.USER_ADDRESS, None
    else:
        task.kind, task.order_id = ActionKind.MODIFY_ADDRESS, target


def _next_target(task: AccountTask) -> None:
    target = task.targets.pop(0)
    if task.kind in (ActionKind.MODIFY_ADDRESS, ActionKind.USER_ADDRESS):
        _set_target(task, target)
        return
    task.order_id, task.item_ids, task.new_item_ids = target, [], {}
    if not task.original_payment:
        return
    task.payment_method_id = None


_STATUSES = {
    ActionKind.CANCEL: ("pending",),
    ActionKind.MODIFY_ADDRESS: ("pending",),
    ActionKind.MODIFY_PAYMENT: ("pending",),
    ActionKind.MODIFY_ITEMS: ("pending",),
    "change_items": ("pending", "delivered"),
    ActionKind.RETURN: ("delivered",),
    ActionKind.EXCHANGE: ("delivered",),
}


def _named(text: str, orders: list[dict[str, Any]]) -> list[str]:
    """The products of the shopper's orders the text names, less those it sets aside."""
    names = sorted({it["name"] for o in orders for it in o["items"]})
    left_out = set(slots.excluded_products(text, names))
    return [n for n in slots.named_products(text, names) if n not in left_out]


def _orders_holding(task: AccountTask, text: str, orders: list[dict[str, Any]]) -> list[str]:
    """The orders the named products are spread over, when no one order holds them all (in
    the order they were bought); with "the more expensive one", the order holding that one.
    Empty when one order will do (`_infer_order` picks it)."""
    named = set(_named(text, orders))
    if not named:
        return []
    low = text.lower()
    fits = _fitting_orders(task, low, orders)
    cover = [o for o in fits if named & {it["name"] for it in o["items"]}]
    pick = slots.price_pick(text)
    if len(named) == 1 and len(cover) > 1 and pick:
        (name,) = named
        prices = {
            o["order_id"]: (min if pick == "min" else max)(
                it["price"] for it in o["items"] if it["name"] == name
            )
            for o in cover
        }
        best = (min if pick == "min" else max)(prices.values())
        return [oid for oid, p in prices.items() if p == best][:1]
    several = re.search(r"\b(both|all|each)\b", low) and not re.search(r"\bone of\b", low)
    if len(cover) < 2 or (
        any(named <= {it["name"] for it in o["items"]} for o in cover) and not several
    ):
        return []
    return [o["order_id"] for o in cover]


def _fitting_orders(
    task: AccountTask, low: str, orders: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The orders whose status the action needs, and the status said ("my pending orders")."""
    said = [s for s in ("pending", "delivered") if s in low]
    return [
        o
        for o in orders
        if o["status"] in _STATUSES.get(task.kind, ())  # type: ignore[arg-type]
        and (not said or o["status"] in said)
    ]


def _orders_for(task: AccountTask, text: str, orders: list[dict[str, Any]]) -> list[str]:
    """The orders a request over several covers ("all my pending orders", "the t-shirts in my
    pending orders"), the one it says to start with first."""
    low = text.lower()
    fits = _fitting_orders(task, low, orders)
    names = sorted({it["name"] for o in orders for it in o["items"]})
    named = set(slots.named_products(text, names))
    if named:
        fits = [o for o in fits if named & {it["name"] for it in o["items"]}]
    fits.sort(key=lambda o: -_option_match(text, o, named))
    return [o["order_id"] for o in fits]


def _option_match(text: str, order: dict[str, Any], named: set[str]) -> int:
    """How many option values of the order's (named) items the text says; only the part after
    "start with" when there is one ("... let's start with the black XXL one")."""
    first = slots.START_WITH.search(text)
    said = first.group(1) if first else text
    return max(
        (
            slots.option_hits(said, it["options"])
            for it in order["items"]
            if not named or it["name"] in named
        ),
        default=0,
    )


def _infer_order(
    task: AccountTask, text: str, orders: list[dict[str, Any]], context: str | None
) -> str | None:
    """The one order the request can mean: by the products named and the status the action
    needs; else the order this conversation was about; else the one holding the products
    (its status then explains the refusal)."""
    names = sorted({it["name"] for o in orders for it in o["items"]})
    named = set(slots.named_products(text, names))
    statuses = _STATUSES.get(task.kind, ())  # type: ignore[arg-type]
    fits = [o for o in orders if o["status"] in statuses]
    said = slots.said_status(text)  # "in my pending order", "the grill I received"
    fits = [o for o in fits if o["status"] in said] or fits if said else fits
    if context and slots.OTHER_ORDER.search(text):  # "in my other order": not this one
        orders = [o for o in orders if o["order_id"] != context]
        fits = [o for o in fits if o["order_id"] != context]
        context = None
    holding = [o for o in orders if named and named & {it["name"] for it in o["items"]}]
    if named:
        with_named = [o for o in fits if named <= {it["name"] for it in o["items"]}]
        with_any = [o for o in fits if named & {it["name"] for it in o["items"]}]
        fits = with_named or with_any
    if len(fits) > 1 and context in {o["order_id"] for o in fits}:
        return context  # the order this conversation is about, before any guess by options
    if len(fits) > 1 and named:  # "the small t-shirt": the order whose item has those options
        hits = {o["order_id"]: _option_match(text, o, named) for o in fits}
        best = max(hits.values())
        if best > 0:
            fits = [o for o in fits if hits[o["order_id"]] == best]
    if len(fits) == 1:
        return str(fits[0]["order_id"])
    ids = {o["order_id"] for o in (fits or holding)}
    if context and (context in ids or (not named and not fits)):
        return context
    if not fits and len(holding) == 1:
        return str(holding[0]["order_id"])
    return None


def _more_orders(
    task: AccountTask, text: str, orders: list[dict[str, Any]], order: dict[str, Any]
) -> None:
    """ "I also want to return the e-reader" when it is in another order: that order is next."""
    here = {it["name"] for it in order["items"]}
    missing = [n for n in _named(text, orders) if n not in here]
    if not missing:
        return
    for o in orders:
        if (
            o["order_id"] != order["order_id"]
            and o["status"] in _STATUSES.get(task.kind, ())  # type: ignore[arg-type]
            and set(missing) & {it["name"] for it in o["items"]}
            and o["order_id"] not in task.targets
        ):
            task.targets.append(o["order_id"])
    task.item_names = list(dict.fromkeys(task.item_names + missing))


_INSTEAD = re.compile(
    r"\b(instead|actually|rather|changed my mind|never ?mind|forget (it|that|about)|then just|"
    r"fine,? then|ok(ay)?,? then)\b",
    re.I,
)


def _continue(ctx: TurnContext, task: AccountTask) -> None:
    """After a request ends: the next one said in the same message, else the one it
    interrupted."""
    st = ctx.state
    assert st.user_id is not None
    account = ctx.deps.desk.actions.account(st.user_id)
    if task.queue:
        nxt = AccountTask(queue=task.queue[1:], suspended=task.suspended)
        st.account = nxt
        ctx.say(" ")
        _read_request(ctx, nxt, task.queue[0], account)
        _advance(ctx, nxt, account)
    elif task.suspended is not None and task.suspended.kind is not None:
        st.account = task.suspended
        task.suspended.pending = None
        ctx.say(" ")
        _say(ctx, "back_to_request")
        ctx.say(" ")
        _advance(ctx, task.suspended, account)


_ADDING = re.compile(r"\b(also|too|as well|both together|add|plus)\b", re.I)


def _read_items(ctx: TurnContext, task: AccountTask, text: str, order: dict[str, Any]) -> None:
    picked = slots.pick_items(text, order)
    if not picked and task.every_item and not task.item_ids:
        picked = [it["item_id"] for it in order["items"]]
    if picked and task.item_ids and _ADDING.search(text):  # "I also want to return the watch"
        name_of = {it["item_id"]: it["name"] for it in order["items"]}
        again = {name_of.get(i) for i in picked}  # "the robotic vacuum, plus ...": told apart now
        still = [i for i in task.item_ids if name_of.get(i) not in again]
        picked = list(dict.fromkeys(still + picked))
    if picked and picked != task.item_ids:
        kept = {task.item_ids[i]: n for i, n in task.new_item_ids.items() if i < len(task.item_ids)}
        task.item_ids = picked
        task.new_item_ids = {i: kept[x] for i, x in enumerate(picked) if x in kept}
    if task.kind not in (ActionKind.EXCHANGE, ActionKind.MODIFY_ITEMS, "change_items"):
        return
    items = {it["item_id"]: it for it in order["items"]}
    names = sorted({items[i]["name"] for i in task.item_ids if i in items})
    parts = slots.item_segments(text, names)
    for pos, item_id in enumerate(task.item_ids):
        item = items.get(item_id)
        if item is None:
            continue
        # "all the items, to the most expensive versions" speaks for every item
        whole = len(names) == 1 or (slots.says_all_items(text) and slots.price_pick(text))
        part = parts.get(item["name"]) or (text if whole else "")
        if not part:
            continue
        variants = ctx.deps.desk.actions.variants(item["product_id"])
        choice = slots.pick_version(part, item, variants)
        if choice.wanted:
            task.wishes[item["name"]] = part  # the same wish holds in the next order
        if choice.variant is not None:
            task.new_item_ids[pos] = choice.variant["item_id"]
            task.unmet.pop(item_id, None)
        elif choice.wanted:
            task.unmet[item_id] = choice.wanted


def _drop_unmet(ctx: TurnContext, task: AccountTask, order: dict[str, Any]) -> bool:
    """Says which asked-for versions no available variant has. Those items leave the request
    when others remain (the statement that follows shows what is left); when none remain the
    shopper is shown what exists. True when the request can go on."""
    items = {it["item_id"]: it for it in order["items"]}
    missing = [
        (pos, i)
        for pos, i in enumerate(task.item_ids)
        if i in task.unmet and pos not in task.new_item_ids
    ]
    if not missing:
        return True
    keep = [pos for pos in range(len(task.item_ids)) if pos not in {p for p, _ in missing}]
    if not keep:
        pos, item_id = missing[0]
        item = items[item_id]
        variants = ctx.deps.desk.actions.variants(item["product_id"])
        _say(
            ctx,
            "no_such_version",
            name=item["name"],
            wanted=options_text(task.unmet.pop(item_id)),
            versions=_versions(variants, item_id),
        )
        return False
    for _, item_id in missing:
        _say(
            ctx,
            "version_left_out",
            name=items[item_id]["name"],
            wanted=options_text(task.unmet.pop(item_id)),
        )
        ctx.say(" ")
    task.new_item_ids = {
        n: task.new_item_ids[p] for n, p in enumerate(keep) if p in task.new_item_ids
    }
    task.item_ids = [task.item_ids[p] for p in keep]
    return True


# Moving the request on ------------------------------------------------------------------------
def _advance(ctx: TurnContext, task: AccountTask, account: dict[str, Any] | None = None) -> None:
    st = ctx.state
    actions = ctx.deps.desk.actions
    assert st.user_id is not None
    account = account or actions.account(st.user_id) or {}
    if task.kind is None:
        if task.order_id:
            _order_info(ctx, task.order_id)
            ctx.state.account = None
            return
        _say(ctx, "what_to_do")
        return
    order = None
    if task.kind is not ActionKind.USER_ADDRESS:
        if task.order_id is None:
            _ask_order(ctx, task)
            return
        try:
            order = actions.order(st.user_id, task.order_id)
        except OrderNotFound:
            ctx.reply.refused = "order_not_found"
            ctx.say(ctx.deps.library.text("replies", "order_not_found", order_id=task.order_id))
            task.order_id = None
            return
        if task.kind == "change_items":
            task.kind = (
                ActionKind.MODIFY_ITEMS if order["status"] == "pending" else ActionKind.EXCHANGE
            )
        ctx.state.last_order_id = task.order_id
        needs = _STATUSES[task.kind]
        if order["status"] not in needs:
            _refuse(ctx, task, "wrong_status", order_id=task.order_id, status=order["status"])
            return
        if task.every_item and not task.item_ids:
            task.item_ids = [it["item_id"] for it in order["items"]]
        if task.original_payment and order["payment_history"]:
            task.payment_method_id = order["payment_history"][0]["payment_method_id"]
    kind = ActionKind(task.kind)
    if order is not None and not task.item_ids and task.item_names:
        task.item_ids = [it["item_id"] for it in order["items"] if it["name"] in task.item_names]
    if kind is ActionKind.CANCEL and order is not None and task.item_ids:
        everything = {it["item_id"] for it in order["items"]}
        if (set(task.item_ids) != everything and not task.whole_order) or task.not_whole:
            _refuse(ctx, task, "partial_cancel", order_id=task.order_id)
            return
        task.item_ids = []
    if kind is ActionKind.CANCEL and task.not_whole:  # "I don't want to cancel the whole order"
        _refuse(ctx, task, "partial_cancel", order_id=task.order_id)
        return
    if kind in (ActionKind.RETURN, ActionKind.EXCHANGE, ActionKind.MODIFY_ITEMS):
        assert order is not None
        if not task.item_ids:
            _say(ctx, "which_items", order_id=order["order_id"], items=_items_view(order["items"]))
            return
    if kind in (ActionKind.EXCHANGE, ActionKind.MODIFY_ITEMS):
        assert order is not None
        if not _drop_unmet(ctx, task, order):
            return
        for pos, item_id in enumerate(task.item_ids):
            item = next(it for it in order["items"] if it["item_id"] == item_id)
            wish = task.wishes.get(item["name"])
            if pos not in task.new_item_ids and wish:
                choice = slots.pick_version(wish, item, actions.variants(item["product_id"]))
                if choice.variant is not None:
                    task.new_item_ids[pos] = choice.variant["item_id"]
            if pos not in task.new_item_ids:
                _ask_version(ctx, order, item_id)
                return
    if kind is ActionKind.CANCEL and task.reason is None:
        _say(ctx, "which_reason", order_id=task.order_id)
        return
    if kind in (ActionKind.MODIFY_ADDRESS, ActionKind.USER_ADDRESS) and task.address is None:
        _say(ctx, "which_address")
        return
    needs_payment = kind in (
        ActionKind.RETURN,
        ActionKind.EXCHANGE,
        ActionKind.MODIFY_ITEMS,
        ActionKind.MODIFY_PAYMENT,
    )
    last = ctx.state.last_payment
    if (
        needs_payment
        and task.payment_method_id is None
        and kind in (ActionKind.EXCHANGE, ActionKind.MODIFY_ITEMS)
        and last in account.get("payment_methods", {})
    ):
        task.payment_method_id = last  # stated with the request; "use my card instead" amends it
    if needs_payment and task.payment_method_id is None:
        methods = account.get("payment_methods", {})
        _say(
            ctx,
            "which_payment",
            refund=kind is ActionKind.RETURN,
            methods=[payment_label(m) for m in methods.values()],
        )
        return
    try:
        proposal = actions.propose(
            kind,
            st.user_id,
            task.order_id,
            item_ids=task.item_ids,
            new_item_ids=[task.new_item_ids[i] for i in range(len(task.item_ids))]
            if kind in (ActionKind.EXCHANGE, ActionKind.MODIFY_ITEMS)
            else [],
            payment_method_id=task.payment_method_id,
            reason=task.reason,
            address=task.address,
        )
    except OrderNotFound:
        ctx.reply.refused = "order_not_found"
        ctx.say(ctx.deps.library.text("replies", "order_not_found", order_id=task.order_id))
        return
    except ActionRefused as exc:
        if exc.code in _PAYMENT_REFUSALS and task.payment_fallbacks:
            _refuse(ctx, task, exc.code, order_id=task.order_id, **exc.facts)
            ctx.say(" ")
            task.payment_method_id = task.payment_fallbacks.pop(0)
            _advance(ctx, task, account)
            return
        _refuse(ctx, task, exc.code, order_id=task.order_id, **exc.facts)
        return
    task.pending = proposal
    _state_proposal(ctx, proposal, order)
    ctx.say(" ")
    _say(ctx, "ask_yes")


_PAYMENT_REFUSALS = ("payment_not_on_file", "refund_method", "gift_card_balance", "same_payment")


def _refuse(ctx: TurnContext, task: AccountTask, code: str, **facts: Any) -> None:
    ctx.reply.refused = code
    kind = task.kind
    verb = _VERBS.get(kind, "changed") if isinstance(kind, ActionKind) else "changed"
    needs = facts.get("needs") or "/".join(_STATUSES.get(kind, ("pending",)))  # type: ignore[arg-type]
    text = REFUSAL_TEXT.get(code, code.replace("_", " ")).format(
        order_id=facts.get("order_id"), status=facts.get("status"), needs=needs, verb=verb
    )
    _say(ctx, "refused", reason=text)
    # Keep what can be fixed in the next message; a status that forbids it ends the request.
    if code in _PAYMENT_REFUSALS:
        task.payment_method_id = None
    elif code in ("unavailable", "same_item", "other_product"):
        task.new_item_ids = {}
    elif code in ("bad_reason",):
        task.reason = None
    elif code == "incomplete_address":
        task.address = None
    elif code == "partial_cancel" and not slots.drops_request(ctx.text, conditional=True):
        task.item_ids = []  # "then cancel the whole order" goes on from here
    else:
        ctx.state.account = None
        _continue(ctx, task)


def _ask_order(ctx: TurnContext, task: AccountTask) -> None:
    assert ctx.state.user_id is not None
    orders = ctx.deps.desk.actions.orders_of(ctx.state.user_id)
    fits = [o for o in orders if o["status"] in _STATUSES.get(task.kind, ())] or orders  # type: ignore[arg-type]
    _say(
        ctx,
        "which_order",
        orders=[
            {
                "id": o["order_id"],
                "status": o["status"],
                "contents": ", ".join(it["name"] for it in o["items"]),
            }
            for o in fits[:8]
        ],
    )


def _ask_version(ctx: TurnContext, order: dict[str, Any], item_id: str) -> None:
    item = next(it for it in order["items"] if it["item_id"] == item_id)
    variants = ctx.deps.desk.actions.variants(item["product_id"])
    _say(
        ctx,
        "which_version",
        name=item["name"],
        options=options_text(item["options"]),
        versions=_versions(variants, item_id),
    )


def _versions(
    variants: list[dict[str, Any]], item_id: str, limit: int = 12
) -> list[dict[str, Any]]:
    return [
        {"options": options_text(v["options"]), "price": v["price"]}
        for v in variants
        if v["available"] and v["item_id"] != item_id
    ][:limit]


def _order_info(ctx: TurnContext, order_id: str) -> None:
    assert ctx.state.user_id is not None
    try:
        order = ctx.deps.desk.actions.order(ctx.state.user_id, order_id)
    except OrderNotFound:
        ctx.reply.refused = "order_not_found"
        ctx.say(ctx.deps.library.text("replies", "order_not_found", order_id=order_id))
        return
    account = ctx.deps.desk.actions.account(ctx.state.user_id) or {}
    methods = account.get("payment_methods", {})
    paid = [p for p in order["payment_history"] if p["transaction_type"] == "payment"]
    tracking = [t for f in order["fulfillments"] for t in f.get("tracking_id", [])]
    _say(
        ctx,
        "order_info",
        order_id=order_id,
        status=order["status"],
        items=_items_view(order["items"]),
        total=sum(it["price"] for it in order["items"]),
        paid_with=", ".join(
            payment_label(methods.get(p["payment_method_id"], {"id": p["payment_method_id"]}))
            for p in paid[:1]
        )
        or "no payment on record",
        tracking=", ".join(tracking),
        address=address_text(order["address"]),
    )


def _state_proposal(ctx: TurnContext, p: Proposal, order: dict[str, Any] | None) -> None:
    kind = p.kind
    if kind is ActionKind.CANCEL:
        assert order is not None
        account = ctx.deps.desk.actions.account(p.user_id) or {}
        methods = account.get("payment_methods", {})
        gift = all(methods.get(m, {}).get("source") == "gift_card" for m in p.refunds)
        _say(
            ctx,
            "propose_cancel",
            order_id=p.order_id,
            items=", ".join(it["name"] for it in order["items"]),
            reason=p.reason,
            amount=p.amount,
            refund_to=p.payment_label,
            gift_card=gift,
        )
    elif kind in (ActionKind.MODIFY_ADDRESS, ActionKind.USER_ADDRESS):
        _say(
            ctx,
            f"propose_{kind}",
            order_id=p.order_id,
            address=address_text(p.address or {}),
        )
    elif kind is ActionKind.MODIFY_PAYMENT:
        _say(
            ctx,
            "propose_modify_payment",
            order_id=p.order_id,
            amount=p.amount,
            payment=p.payment_label,
        )
    elif kind is ActionKind.RETURN:
        _say(
            ctx,
            "propose_return",
            order_id=p.order_id,
            changes=[
                {"name": c.name, "old": options_text(c.options), "price": c.price}
                for c in p.changes
            ],
            amount=p.amount,
            payment=p.payment_label,
        )
    else:
        _say(
            ctx,
            "propose_items",
            kind=str(kind),
            order_id=p.order_id,
            changes=[
                {
                    "name": c.name,
                    "old": options_text(c.options),
                    "price": c.price,
                    "new": options_text(c.new_options),
                    "new_price": c.new_price,
                }
                for c in p.changes
            ],
            amount=p.amount,
            payment=p.payment_label,
        )


def _execute(ctx: TurnContext, proposal: Proposal) -> None:
    outcome = ctx.call("execute_action", proposal=proposal, session_id=ctx.state.session_id)
    ctx.state.last_action = str(proposal.kind)
    if proposal.payment_method_id:
        ctx.state.last_payment = proposal.payment_method_id
    if not outcome.repeated:
        record_refund(ctx, proposal)
    if proposal.address:
        ctx.state.last_address = dict(proposal.address)
    if outcome.repeated:
        _say(ctx, "done_already")
    else:
        _say(
            ctx,
            f"done_{proposal.kind}",
            order_id=proposal.order_id,
            payment=proposal.payment_label,
        )
    ctx.say(" ")


def _say(ctx: TurnContext, key: str, **values: Any) -> None:
    ctx.say(ctx.deps.library.text("account", key, **values))


def _items_view(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": it["name"], "options": options_text(it["options"]), "price": it["price"]}
        for it in items
    ]
