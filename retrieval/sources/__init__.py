"""Catalogue sources, registered by name. Superstore is the default demo store."""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from ..settings import Settings

SOURCES: dict[str, type] = {
    "superstore": SuperstoreSource,
    "electronics": ElectronicsSource,
    "retail": RetailSource,
}


def get_source(name: str, settings: Settings | None = None) -> CatalogueSource:
    """A built-in demo store, or an imported store (retrieval/importing) under the data dir of
    `settings` (default: the environment's settings)."""
    if name in SOURCES:
        return SOURCES[name]()
    from ..importing.registry import StoreRegistry, imported_source
    from ..settings import get_settings

    settings = settings or get_settings()
    found = imported_source(name, settings)
    if found is None:
        stores = StoreRegistry(settings.data_dir).names()
        raise ValueError(
            f"unknown catalogue {name!r}; choose one of {sorted(SOURCES)}"
            + (f" or an imported store: {stores}" if stores else "")
            + " (import one with `shopassist import products FILE --store NAME`)"
        )
    return found


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
