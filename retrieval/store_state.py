"""The active store's live data, for harnesses: restore it to the source's pristine records, or
write it out in tau2-bench's `db.json` shape (`products`, `users`, `orders`) so a run's end state
can be diffed against the data it started from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from .db import AccountRow, Database, OrderStateRow, ProductRow, VariantRow
from .settings import Settings
from .sources import get_source


def reset_store(settings: Settings, db: Database) -> int:
    """Restore accounts and live orders from the fetched source files; returns the order count."""
    data = get_source(settings.catalogue, settings).load(settings.raw_dir)
    db.reset_store_state(data)
    return len(data.order_states)


def export_store(db: Database) -> dict[str, Any]:
    with db.session() as s:
        variants: dict[str, dict[str, Any]] = {}
        for v in s.scalars(select(VariantRow).order_by(VariantRow.id)):
            variants.setdefault(v.product_id, {})[v.id] = {
                "item_id": v.id,
                "options": dict(v.options),
                "available": v.available,
                "price": v.price,
            }
        products = {
            p.id: {"name": p.name, "product_id": p.id, "variants": variants.get(p.id, {})}
            for p in s.scalars(select(ProductRow).order_by(ProductRow.id))
        }
        orders: dict[str, dict[str, Any]] = {}
        by_user: dict[str, list[str]] = {}
        for o in s.scalars(select(OrderStateRow).order_by(OrderStateRow.order_id)):
            orders[o.order_id] = {
                "order_id": o.order_id,
                "user_id": o.user_id,
                "address": o.address,
                "items": o.items,
                "status": o.status,
                "fulfillments": o.fulfillments,
                "payment_history": o.payment_history,
                **(o.extra or {}),
            }
            by_user.setdefault(o.user_id, []).append(o.order_id)
        users = {
            a.user_id: {
                "user_id": a.user_id,
                "name": {"first_name": a.first_name, "last_name": a.last_name},
                "address": a.address,
                "email": a.email,
                "payment_methods": a.payment_methods,
                "orders": by_user.get(a.user_id, []),
            }
            for a in s.scalars(select(AccountRow).order_by(AccountRow.user_id))
        }
    return {"products": products, "users": users, "orders": orders}
