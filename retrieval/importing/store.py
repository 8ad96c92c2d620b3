"""Reading an imported store back from its database (`read_catalogue`)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from ..db import (
    AccountRow,
    CustomerRow,
    Database,
    OrderLineRow,
    OrderRow,
    OrderStateRow,
    ProductRow,
    VariantRow,
)
from ..sources.base import (
    Account,
    CatalogueData,
    Customer,
    Order,
    OrderLine,
    OrderState,
    Product,
    Variant,
)


def read_catalogue(db: Database, name: str) -> CatalogueData:
    """The store's records as a source would produce them: products (this store's), variants,
    customers, orders with their lines, accounts and live orders."""
    with db.session() as s:
        products = [
            Product.from_record(r)
            for r in s.scalars(select(ProductRow).where(ProductRow.source == name))
        ]
        ids = {p.id for p in products}
        variants = [
            Variant(r.id, r.product_id, r.price, dict(r.options or {}), r.available)
            for r in s.scalars(select(VariantRow))
            if r.product_id in ids
        ]
        customers = [
            Customer(r.id, r.name, r.segment, r.city, r.state, r.region)
            for r in s.scalars(select(CustomerRow))
        ]
        lines: dict[str, list[OrderLine]] = defaultdict(list)
        for ln in s.scalars(select(OrderLineRow).order_by(OrderLineRow.id)):
            lines[ln.order_id].append(
                OrderLine(ln.product_id, ln.quantity, ln.unit_price, ln.discount, ln.sales)
            )
        orders = [
            Order(
                r.id,
                r.customer_id,
                r.order_date,
                r.ship_date,
                r.ship_mode,
                r.city,
                r.state,
                r.postal_code,
                tuple(lines.get(r.id, ())),
            )
            for r in s.scalars(select(OrderRow))
        ]
        accounts = [
            Account(
                r.user_id,
                r.email,
                r.first_name,
                r.last_name,
                dict(r.address),
                dict(r.payment_methods),
            )
            for r in s.scalars(select(AccountRow))
        ]
        states = [
            OrderState(
                r.order_id,
                r.user_id,
                r.status,
                dict(r.address),
                list(r.items),
                list(r.fulfillments or []),
                list(r.payment_history or []),
                dict(r.extra or {}),
            )
            for r in s.scalars(select(OrderStateRow))
        ]
    return CatalogueData(name, products, customers, orders, variants, accounts, states)
