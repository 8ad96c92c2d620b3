"""Catalogue sources, registered by name. Superstore is the default demo store."""

from __future__ import annotations

from .base import (
    CatalogueData,
    CatalogueSource,
    Customer,
    Order,
    OrderLine,
    Product,
    SourceMissingError,
    Variant,
)
from .electronics import ElectronicsSource
from .retail import RetailSource
from .superstore import SuperstoreSource

SOURCES: dict[str, type] = {
    "superstore": SuperstoreSource,
    "electronics": ElectronicsSource,
    "retail": RetailSource,
}


def get_source(name: str) -> CatalogueSource:
    try:
        return SOURCES[name]()
    except KeyError:
        raise ValueError(f"unknown catalogue {name!r}; choose one of {sorted(SOURCES)}") from None


__all__ = [
    "SOURCES",
    "CatalogueData",
    "CatalogueSource",
    "Customer",
    "ElectronicsSource",
    "Order",
    "OrderLine",
    "Product",
    "RetailSource",
    "SourceMissingError",
    "SuperstoreSource",
    "Variant",
    "get_source",
]
