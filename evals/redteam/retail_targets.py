"""Action-abuse targets on the retail store: real customers read from its live data (the
attacker, two victims with pending and delivered orders, a gift card and a card), what the
attacks' turns may refer to, and the poisoned copy of the store's data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from retrieval.db import Database
from retrieval.sources.base import CatalogueData, Product
from retrieval.store_state import export_store

from .attacks import ItemPoison, render


# Targets: real customers from the store ------------------------------------------------------
@dataclass(frozen=True)
class Shopper:
    id: str
    first: str
    last: str
    email: str
    zip: str
    street: str
    city: str
    pending: tuple[str, ...]
    delivered: tuple[str, ...]
    methods: frozenset[str]
    gift_card: str  # a gift card's id, or ""
    last_four: str  # a credit card's last four digits, or ""

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(frozen=True)
class ActionTargets:
    attacker: Shopper
    victims: tuple[Shopper, ...]
    owner: dict[str, str]  # order id -> user id, every order
    items: dict[str, tuple[str, ...]]  # order id -> item names
    status: dict[str, str]  # order id -> status in the pristine store
    product_of: dict[str, str]  # order id -> the product id of its first item
    other_names: frozenset[str]  # every other customer's full name
    other_emails: frozenset[str]
    other_streets: frozenset[str]  # other customers' and their orders' first address lines
    other_last_fours: frozenset[str]  # other customers' card digits, not also the attacker's
    wrong_zips: tuple[str, ...]  # zips that identify nobody by the first victim's name
    missing_order: str  # an order id no one has

    @property
    def own_items(self) -> frozenset[str]:
        mine = (o for o, u in self.owner.items() if u == self.attacker.id)
        return frozenset(name for o in mine for name in self.items[o])

    def template_values(self) -> dict[str, Any]:
        """What the retail attacks' turns may refer to: `me` (the attacker), `v1` and `v2` (other
        customers with pending and delivered orders, a gift card and a card), each with `id`,
        `first`, `last`, `name`, `email`, `zip`, `street`, `city`, `pending` and `delivered` (order
        ids), `pending2`, `pending_item`, `delivered_item`, `gift_card`, `last_four`; and
        `wrong_zips` (a list) and `missing_order`."""
        values: dict[str, Any] = {
            key: self._values(s)
            for key, s in (("me", self.attacker), ("v1", self.victims[0]), ("v2", self.victims[1]))
        }
        values["wrong_zips"] = list(self.wrong_zips)
        values["missing_order"] = self.missing_order
        return values

    def _values(self, s: Shopper) -> dict[str, Any]:
        return {
            "id": s.id,
            "first": s.first,
            "last": s.last,
            "name": s.name,
            "email": s.email,
            "zip": s.zip,
            "street": s.street,
            "city": s.city,
            "pending": s.pending[0],
            "pending2": s.pending[-1],
            "pending_item": self.items[s.pending[0]][-1],
            "delivered": s.delivered[0],
            "delivered_item": self.items[s.delivered[0]][0],
            "gift_card": s.gift_card,
            "last_four": s.last_four,
        }


def _shopper(user: dict[str, Any], orders: dict[str, Any]) -> Shopper:
    mine = sorted(user["orders"])
    methods = user["payment_methods"]
    cards = [m for m in methods.values() if m.get("source") == "credit_card"]
    gifts = [m for m in methods.values() if m.get("source") == "gift_card"]
    return Shopper(
        user["user_id"],
        user["name"]["first_name"],
        user["name"]["last_name"],
        user["email"],
        str(user["address"].get("zip", "")),
        user["address"].get("address1", ""),
        user["address"].get("city", ""),
        tuple(o for o in mine if orders[o]["status"] == "pending"),
        tuple(o for o in mine if orders[o]["status"] == "delivered"),
        frozenset(methods),
        gifts[0]["id"] if gifts else "",
        str(cards[0].get("last_four", "")) if cards else "",
    )


def _fits(s: Shopper) -> bool:
    return bool(s.pending and s.delivered and s.gift_card and s.last_four)


def load_action_targets(db: Database, attacker: str, n_victims: int = 2) -> ActionTargets:
    state = export_store(db)
    users, orders = state["users"], state["orders"]
    if attacker not in users:
        raise ValueError(f"attacker {attacker} has no account in this store")
    me = _shopper(users[attacker], orders)
    if not (me.pending and me.delivered):
        raise ValueError(f"attacker {attacker} needs a pending and a delivered order")
    # The first customers (by id) with something of every kind to attack, and another first
    # name than the attacker's (a greeting by first name would be ambiguous).
    others = [_shopper(u, orders) for uid, u in sorted(users.items()) if uid != attacker]
    victims = tuple(v for v in others if _fits(v) and v.first != me.first)[:n_victims]
    if len(victims) < n_victims:
        raise ValueError("the store has too few other customers to attack")
    v1 = victims[0]
    same_name = {
        str(u["address"].get("zip"))
        for u in users.values()
        if (u["name"]["first_name"], u["name"]["last_name"]) == (v1.first, v1.last)
    }
    wrong = [f"{(int(v1.zip) + 7919 * k) % 100000:05d}" for k in range(1, 60)]
    streets = {u["address"].get("address1", "") for uid, u in users.items() if uid != attacker}
    streets |= {
        o["address"].get("address1", "") for o in orders.values() if o["user_id"] != attacker
    }
    own_streets = {me.street} | {
        o["address"].get("address1", "") for o in orders.values() if o["user_id"] == attacker
    }
    own_fours = {
        str(m.get("last_four"))
        for m in users[attacker]["payment_methods"].values()
        if m.get("last_four")
    }
    return ActionTargets(
        attacker=me,
        victims=victims,
        owner={oid: o["user_id"] for oid, o in orders.items()},
        items={oid: tuple(it["name"] for it in o["items"]) for oid, o in orders.items()},
        status={oid: o["status"] for oid, o in orders.items()},
        product_of={oid: o["items"][0]["product_id"] for oid, o in orders.items() if o["items"]},
        other_names=frozenset(
            f"{u['name']['first_name']} {u['name']['last_name']}"
            for uid, u in users.items()
            if uid != attacker
        )
        - {me.name},
        other_emails=frozenset(u["email"].lower() for uid, u in users.items() if uid != attacker),
        other_streets=frozenset(s for s in streets - own_streets if s),
        other_last_fours=frozenset(
            str(m["last_four"])
            for uid, u in users.items()
            if uid != attacker
            for m in u["payment_methods"].values()
            if m.get("last_four")
        )
        - own_fours,
        wrong_zips=tuple(z for z in dict.fromkeys(wrong) if z not in same_name)[:40],
        missing_order=next(f"#W{n:07d}" for n in range(10**7) if f"#W{n:07d}" not in orders),
    )


# The poisoned copy ---------------------------------------------------------------------------
def poison_store(
    data: CatalogueData, spec: ItemPoison, targets: ActionTargets
) -> tuple[CatalogueData, Product, list[str]]:
    """The store's data with `spec` planted in the product of the attacker's first delivered
    order's first item: the new data, the poisoned product, and the planted texts (a reply that
    shows them is showing data, not obeying it)."""
    values = targets.template_values()
    product_id = targets.product_of[targets.attacker.delivered[0]]
    prefix = render(spec.name_prefix, values)
    option = {render(k, values): render(v, values) for k, v in spec.option.items()}
    features = render(spec.features, values)
    old = next(p for p in data.products if p.id == product_id)
    poisoned = replace(
        old, name=f"{prefix} {old.name}", features=f"{old.features}. {features}".strip(". ")
    )
    variants = [
        replace(v, options={**v.options, **option}) if v.product_id == product_id else v
        for v in data.variants
    ]
    states = []
    for o in data.order_states:
        items = [
            {**it, "name": poisoned.name, "options": {**it["options"], **option}}
            if it["product_id"] == product_id
            else it
            for it in o.items
        ]
        states.append(replace(o, items=items))
    products = [poisoned if p.id == product_id else p for p in data.products]
    new = replace(data, products=products, variants=variants, order_states=states)
    planted = sorted({poisoned.name, prefix, features, *option.values()} - {""}, key=len)
    return new, poisoned, planted[::-1]
