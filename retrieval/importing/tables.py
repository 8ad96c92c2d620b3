"""The imported-product details the catalogue tables have no column for, in their own table
(created on first use, so existing databases need no migration): the clean description, the
images, the regular price, tags, the source's own key, and the row hash that makes re-imports
incremental."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, Database

_CHUNK = 500  # ids per IN (...) query


class ProductDetailRow(Base):
    """One imported product's details. `row_hash` is `ImportedProduct.row_hash()`."""

    __tablename__ = "product_details"
    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    store: Mapped[str] = mapped_column(String(32), index=True)
    handle: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    images: Mapped[list] = mapped_column(JSON, default=list)
    regular_price: Mapped[float | None] = mapped_column(Float, nullable=True)
    category_path: Mapped[list] = mapped_column(JSON, default=list)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    source_file: Mapped[str] = mapped_column(Text, default="")
    source_line: Mapped[int] = mapped_column(Integer, default=0)
    row_hash: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


def ensure_tables(db: Database) -> None:
    Base.metadata.create_all(db.engine, tables=[ProductDetailRow.__table__])  # type: ignore[list-item]


def image_urls(db: Database, product_ids: Iterable[str]) -> dict[str, str]:
    """Each product's main image URL, for those that have one (product cards: the browser
    loads the URL, the server never fetches it). Empty for stores that were not imported."""
    ids = list(dict.fromkeys(product_ids))
    out: dict[str, str] = {}
    if not ids:
        return out
    ensure_tables(db)
    with db.session() as s:
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            rows = s.execute(
                select(ProductDetailRow.product_id, ProductDetailRow.image_url).where(
                    ProductDetailRow.product_id.in_(chunk)
                )
            )
            out.update({pid: url for pid, url in rows if url})
    return out
