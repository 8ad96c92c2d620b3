"""Actions on orders and accounts, under the store's written policy, decided by code.

`ActionService.propose` checks a requested action against the policy and states what it would
do (items, amounts, refund method) as a `Proposal`; nothing changes. `execute` runs a proposal
the shopper confirmed: it checks it again on the current data, applies it in one transaction,
and writes the audit log. The proposal's key is unique in the log, so a repeated "yes" or a
retried request runs it once. Amounts are summed in cents.

Authorisation is the caller's identity: an order of another customer raises the same
`OrderNotFound` as one that does not exist.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retrieval.db import AccountRow, ActionLogRow, Database, OrderStateRow, ProductRow, VariantRow
from retrieval.events import utcnow

from .orders import OrderNotFound

log = logging.getLogger(__name__)

CANCEL_REASONS = ("no longer needed", "ordered by mistake")
ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")


class ActionKind(StrEnum):
    CANCEL = "cancel"
    MODIFY_ADDRESS = "modify_address"
    MODIFY_PAYMENT = "modify_payment"
    MODIFY_ITEMS = "modify_items"
    RETURN = "return"
    EXCHANGE = "exchange"
    USER_ADDRESS = "user_address"


ORDER_ACTIONS = frozenset(ActionKind) - {ActionKind.USER_ADDRESS}
# The status an order must have for each action (the policy's "only if its status is ...").
REQUIRED_STATUS = {
    ActionKind.CANCEL: "pending",
    ActionKind.MODIFY_ADDRESS: "pending",
    ActionKind.MODIFY_PAYMENT: "pending",
    ActionKind.MODIFY_ITEMS: "pending",
    ActionKind.RETURN: "delivered",
    ActionKind.EXCHANGE: "delivered",
}


class ActionRefused(Exception):
    """The policy forbids the action; `code` names the rule, `facts` what it was decided on."""

    def __init__(self, code: str, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.code = code
        self.facts = facts


@dataclass(frozen=True)
class ItemChange:
    item_id: str
    name: str
    options: dict[str, str]
    price: float
    new_item_id: str | None = None
    new_options: dict[str, str] = field(default_factory=dict)
    new_price: float | None = None


@dataclass(frozen=True)
class Proposal:
    """What an action would do, as code decided it. `amount`: the refund for a cancellation or a
    return; the price difference for an item change or exchange (positive: the shopper pays)."""

    kind: ActionKind
    user_id: str
    order_id: str | None = None
    item_ids: tuple[str, ...] = ()
    new_item_ids: tuple[str, ...] = ()
    payment_method_id: str | None = None
    reason: str | None = None
    address: dict[str, str] | None = None
    amount: float = 0.0
    changes: tuple[ItemChange, ...] = ()
    payment_label: str = ""
    # Refunds paid to each method (method id -> amount): cancellations and payment changes.
    refunds: dict[str, float] = field(default_factory=dict)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def args(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.item_ids:
            out["item_ids"] = list(self.item_ids)
        if self.new_item_ids:
            out["new_item_ids"] = list(self.new_item_ids)
        for k in ("payment_method_id", "reason", "address"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out


@dataclass(frozen=True)
class Outcome:
    proposal: Proposal
    status: str | None  # the order's status afterwards
    repeated: bool = False  # the proposal had run already: nothing was done twice


def cents(x: float) -> int:
    return round(x * 100)


def payment_label(method: dict[str, Any]) -> str:
    """How a shopper recognises a payment method: "Visa ending in 8674", "gift card (balance
    $51.00)", "PayPal"."""
    source = method.get("source", "")
    if source == "credit_card":
        brand = str(method.get("brand", "card")).title()
        return f"{brand} ending in {method.get('last_four', '')}"
    if source == "gift_card":
        return f"gift card {method['id']} (balance ${method.get('balance', 0):.2f})"
    if source == "paypal":
        return "PayPal"
    return str(method.get("id", "payment method"))


def _same_status(status: str, kind: ActionKind) -> bool:
    return status == REQUIRED_STATUS[kind]


def _check_items(order: dict[str, Any], item_ids: list[str]) -> None:
    have = Counter(it["item_id"] for it in order["items"])
    want = Counter(item_ids)
    if not item_ids:
        raise ActionRefused("no_items", "no items were named")
    for item_id, n in want.items():
        if n > have[item_id]:
            raise ActionRefused("item_not_in_order", "that item isn't part of this order")


class ActionService:
    """Propose and execute actions for one store. Thread-safe: each call uses its own session."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Reads ---------------------------------------------------------------------------------
    def enabled(self) -> bool:
        """Whether this store's data supports actions (it keeps live orders and accounts)."""
        with self.db.session() as s:
            return s.scalar(select(OrderStateRow.order_id).limit(1)) is not None

    def account(self, user_id: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.get(AccountRow, user_id)
            return _account_dict(row) if row else None

    def order(self, user_id: str, order_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            row = s.get(OrderStateRow, order_id)
            if row is None or row.user_id != user_id:
                if row is not None:
                    log.warning("authorisation failure: %s asked about %s", user_id, order_id)
                raise OrderNotFound(order_id)
            return _order_dict(row)

    def orders_of(self, user_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(
                select(OrderStateRow)
                .where(OrderStateRow.user_id == user_id)
                .order_by(OrderStateRow.order_id)
            ).all()
            return [_order_dict(r) for r in rows]

    def product_ids(self) -> dict[str, str]:
        """Product name -> id, for products sold in versions (a question names them by name)."""
        with self.db.session() as s:
            rows = s.execute(
                select(ProductRow.name, VariantRow.product_id)
                .join(ProductRow, ProductRow.id == VariantRow.product_id)
                .group_by(VariantRow.product_id, ProductRow.name)
                .having(func.count() > 1)
            ).all()
            return {name: pid for name, pid in rows}

    def variants(self, product_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(
                select(VariantRow)
                .where(VariantRow.product_id == product_id)
                .order_by(VariantRow.id)
            ).all()
            return [_variant_dict(v) for v in rows]

    # Proposals -----------------------------------------------------------------------------
    def propose(
        self, kind: ActionKind, user_id: str, order_id: str | None = None, **slots: Any
    ) -> Proposal:
        """What the action would do, or ActionRefused with the policy's reason. Changes nothing."""
        with self.db.session() as s:
            account = s.get(AccountRow, user_id)
            if account is None:
                raise ActionRefused("no_account", "this store keeps no account for you")
            proposal, _ = self._decide(s, kind, _account_dict(account), order_id, slots)
            return proposal

    def execute(self, proposal: Proposal, session_id: str | None = None) -> Outcome:
        """Run a confirmed proposal once: re-checked on the current data, one transaction."""
        try:
            with self.db.session() as s:
                done = s.scalar(select(ActionLogRow).where(ActionLogRow.key == proposal.key))
                if done is not None:
                    return Outcome(proposal, done.result.get("status"), repeated=True)
                account_row = _locked(s, AccountRow, proposal.user_id)
                if account_row is None:
                    raise ActionRefused("no_account", "this store keeps no account for you")
                # Lock the order before deciding on it: the decision reads the row below.
                order_row = _locked(s, OrderStateRow, proposal.order_id)
                slots = proposal.args()
                checked, new = self._decide(
                    s, proposal.kind, _account_dict(account_row), proposal.order_id, slots
                )
                if cents(checked.amount) != cents(proposal.amount):
                    raise ActionRefused("changed", "the order changed since I described it")
                new_order, new_account = new
                if new_order is not None:
                    assert order_row is not None
                    for k in ("status", "address", "items", "payment_history", "extra"):
                        setattr(order_row, k, new_order[k])
                account_row.payment_methods = new_account["payment_methods"]
                account_row.address = new_account["address"]
                status = new_order["status"] if new_order else None
                s.add(
                    ActionLogRow(
                        key=proposal.key,
                        ts=utcnow(),
                        user_id=proposal.user_id,
                        session_id=session_id,
                        action=str(proposal.kind),
                        order_id=proposal.order_id,
                        args=slots,
                        result={"status": status, "amount": checked.amount},
                    )
                )
        except IntegrityError:  # the same key committed by a concurrent request
            return Outcome(proposal, None, repeated=True)
        log.info("action %s on %s by %s", proposal.kind, proposal.order_id, proposal.user_id)
        return Outcome(proposal, status)

    # The policy ----------------------------------------------------------------------------
    def _decide(
        self,
        s: Session,
        kind: ActionKind,
        account: dict[str, Any],
        order_id: str | None,
        slots: dict[str, Any],
    ) -> tuple[Proposal, tuple[dict[str, Any] | None, dict[str, Any]]]:
        """The proposal and the new (order, account) state, or ActionRefused."""
        user_id = account["user_id"]
        account = copy.deepcopy(account)
        methods: dict[str, dict[str, Any]] = account["payment_methods"]
        if kind is ActionKind.USER_ADDRESS:
            address = _address(slots.get("address"))
            account["address"] = address
            return Proposal(kind, user_id, address=address), (None, account)
        if not order_id:
            raise ActionRefused("no_order", "which order is it?")
        row = s.get(OrderStateRow, order_id)
        if row is None or row.user_id != user_id:
            raise OrderNotFound(order_id)
        order = _order_dict(row)
        if not _same_status(order["status"], kind):
            raise ActionRefused(
                "wrong_status",
                "the order's status doesn't allow it",
                status=order["status"],
                needs=REQUIRED_STATUS[kind],
            )
        pay_id = slots.get("payment_method_id")
        method = methods.get(pay_id) if pay_id else None
        if pay_id and method is None:
            raise ActionRefused("payment_not_on_file", "that payment method isn't on file")

        if kind is ActionKind.CANCEL:
            reason = slots.get("reason")
            if reason not in CANCEL_REASONS:
                raise ActionRefused("bad_reason", "the reason must be one the policy accepts")
            refunds = _net_paid(order)
            for mid, amount in refunds.items():
                order["payment_history"].append(_entry("refund", amount, mid))
                _credit(methods.get(mid), amount)
            order["status"] = "cancelled"
            order["extra"]["cancel_reason"] = reason
            proposal = Proposal(
                kind,
                user_id,
                order_id,
                reason=reason,
                amount=round(sum(refunds.values()), 2),
                refunds=refunds,
                payment_label=_labels(methods, refunds),
            )
            return proposal, (order, account)

        if kind is ActionKind.MODIFY_ADDRESS:
            order["address"] = _address(slots.get("address"))
            return Proposal(kind, user_id, order_id, address=order["address"]), (order, account)

        if kind is ActionKind.MODIFY_PAYMENT:
            payments = order["payment_history"]
            if len(payments) != 1 or payments[0]["transaction_type"] != "payment":
                raise ActionRefused("payment_changed", "the payment was already changed once")
            old_id, amount = payments[0]["payment_method_id"], payments[0]["amount"]
            if method is None:
                raise ActionRefused("no_payment", "which payment method should it be?")
            if pay_id == old_id:
                raise ActionRefused("same_payment", "that is the payment method already used")
            _debit(method, amount)
            _credit(methods.get(old_id), amount)
            payments += [_entry("payment", amount, pay_id), _entry("refund", amount, old_id)]
            proposal = Proposal(
                kind,
                user_id,
                order_id,
                payment_method_id=pay_id,
                amount=amount,
                refunds={old_id: amount},
                payment_label=payment_label(method),
            )
            return proposal, (order, account)

        item_ids = list(slots.get("item_ids") or [])
        _check_items(order, item_ids)
        if kind is ActionKind.RETURN:
            original = order["payment_history"][0]["payment_method_id"]
            if method is None:
                raise ActionRefused("no_payment", "where should the refund go?")
            if pay_id != original and method.get("source") != "gift_card":
                raise ActionRefused(
                    "refund_method",
                    "a refund goes to the original payment method or a gift card on file",
                )
            changes = _changes(order, item_ids)
            order["status"] = "return requested"
            order["extra"]["return_items"] = sorted(item_ids)
            order["extra"]["return_payment_method_id"] = pay_id
            refund = sum(cents(c.price) for c in changes) / 100
            proposal = Proposal(
                kind,
                user_id,
                order_id,
                item_ids=tuple(item_ids),
                payment_method_id=pay_id,
                amount=refund,
                changes=changes,
                payment_label=payment_label(method),
            )
            return proposal, (order, account)

        # Item changes: a pending order's items (once), or a delivered order's exchange.
        new_ids = list(slots.get("new_item_ids") or [])
        if len(new_ids) != len(item_ids):
            raise ActionRefused("unmatched_items", "each item needs its new version")
        changes = self._new_versions(s, order, item_ids, new_ids)
        diff = sum(cents(c.new_price or 0) - cents(c.price) for c in changes) / 100
        if method is None:
            raise ActionRefused("no_payment", "which payment method covers the difference?")
        if method.get("source") == "gift_card" and cents(method.get("balance", 0)) < cents(diff):
            raise ActionRefused(
                "gift_card_balance",
                "the gift card's balance doesn't cover the difference",
                balance=method.get("balance", 0),
                needed=diff,
            )
        if kind is ActionKind.MODIFY_ITEMS:
            if cents(diff):
                kind_of = "payment" if diff > 0 else "refund"
                order["payment_history"].append(_entry(kind_of, abs(diff), pay_id))
            if method.get("source") == "gift_card":
                method["balance"] = (cents(method["balance"]) - cents(diff)) / 100
            pending = Counter(item_ids)
            replaced = dict(zip(item_ids, changes, strict=True))
            for it in order["items"]:
                if pending[it["item_id"]] > 0:
                    pending[it["item_id"]] -= 1
                    c = replaced[it["item_id"]]
                    it.update(item_id=c.new_item_id, price=c.new_price, options=c.new_options)
            order["status"] = "pending (item modified)"
        else:
            order["status"] = "exchange requested"
            order["extra"] |= {
                "exchange_items": sorted(item_ids),
                "exchange_new_items": sorted(new_ids),
                "exchange_payment_method_id": pay_id,
                "exchange_price_difference": diff,
            }
        proposal = Proposal(
            kind,
            user_id,
            order_id,
            item_ids=tuple(item_ids),
            new_item_ids=tuple(new_ids),
            payment_method_id=pay_id,
            amount=diff,
            changes=changes,
            payment_label=payment_label(method),
        )
        return proposal, (order, account)

    def _new_versions(
        self, s: Session, order: dict[str, Any], item_ids: list[str], new_ids: list[str]
    ) -> tuple[ItemChange, ...]:
        out = []
        for old_id, new_id in zip(item_ids, new_ids, strict=True):
            item = next(it for it in order["items"] if it["item_id"] == old_id)
            variant = s.get(VariantRow, new_id)
            if variant is None or variant.product_id != item["product_id"]:
                raise ActionRefused(
                    "other_product",
                    "an item can only change to another version of the same product",
                    product=item["name"],
                )
            if new_id == old_id:
                raise ActionRefused("same_item", "the new version must differ from the old one")
            if not variant.available:
                raise ActionRefused("unavailable", "that version isn't available")
            out.append(
                ItemChange(
                    old_id,
                    item["name"],
                    item["options"],
                    item["price"],
                    new_id,
                    dict(variant.options),
                    variant.price,
                )
            )
        return tuple(out)


def _changes(order: dict[str, Any], item_ids: list[str]) -> tuple[ItemChange, ...]:
    out = []
    for item_id in item_ids:
        it = next(x for x in order["items"] if x["item_id"] == item_id)
        out.append(ItemChange(item_id, it["name"], it["options"], it["price"]))
    return tuple(out)


def _net_paid(order: dict[str, Any]) -> dict[str, float]:
    """What each payment method has paid for the order, net of refunds, in cents then dollars."""
    net: Counter[str] = Counter()
    for p in order["payment_history"]:
        sign = 1 if p["transaction_type"] == "payment" else -1
        net[p["payment_method_id"]] += sign * cents(p["amount"])
    return {mid: c / 100 for mid, c in net.items() if c > 0}


def _entry(kind: str, amount: float, method_id: str | None) -> dict[str, Any]:
    return {"transaction_type": kind, "amount": round(amount, 2), "payment_method_id": method_id}


def _credit(method: dict[str, Any] | None, amount: float) -> None:
    """A refund to a gift card is immediate; other methods are refunded by the bank later."""
    if method is not None and method.get("source") == "gift_card":
        method["balance"] = (cents(method.get("balance", 0)) + cents(amount)) / 100


def _debit(method: dict[str, Any], amount: float) -> None:
    if method.get("source") != "gift_card":
        return
    if cents(method.get("balance", 0)) < cents(amount):
        raise ActionRefused(
            "gift_card_balance",
            "the gift card's balance doesn't cover the order",
            balance=method.get("balance", 0),
            needed=amount,
        )
    method["balance"] = (cents(method["balance"]) - cents(amount)) / 100


def _labels(methods: dict[str, dict[str, Any]], refunds: dict[str, float]) -> str:
    return " and ".join(payment_label(methods.get(m, {"id": m})) for m in refunds)


def _address(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ActionRefused("no_address", "what is the new address?")
    address = {k: str(raw.get(k) or "").strip() for k in ADDRESS_FIELDS}
    missing = [k for k in ("address1", "city", "state", "zip") if not address[k]]
    if missing:
        raise ActionRefused("incomplete_address", "the address is incomplete", missing=missing)
    address["country"] = address["country"] or "USA"
    return address


def _locked(s: Session, table: type, key: str | None) -> Any:
    """The row, locked for this transaction where the database can (PostgreSQL)."""
    if key is None:
        return None
    return s.get(table, key, with_for_update=s.bind.dialect.name != "sqlite")  # type: ignore[union-attr]


def _account_dict(row: AccountRow) -> dict[str, Any]:
    return {
        "user_id": row.user_id,
        "email": row.email,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "address": dict(row.address),
        "payment_methods": copy.deepcopy(row.payment_methods),
    }


def _order_dict(row: OrderStateRow) -> dict[str, Any]:
    return {
        "order_id": row.order_id,
        "user_id": row.user_id,
        "status": row.status,
        "address": dict(row.address),
        "items": copy.deepcopy(row.items),
        "fulfillments": copy.deepcopy(row.fulfillments),
        "payment_history": copy.deepcopy(row.payment_history),
        "extra": dict(row.extra or {}),
    }


def _variant_dict(v: VariantRow) -> dict[str, Any]:
    return {
        "item_id": v.id,
        "product_id": v.product_id,
        "options": dict(v.options),
        "price": v.price,
        "available": v.available,
    }
