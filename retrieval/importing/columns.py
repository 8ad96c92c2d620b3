"""What the customers and orders importers share: the mapping file that names a generic file's
columns, reading a mapped field from a CSV row or a JSON object, dates as shops write them,
e-mail addresses and customer ids.

A mapping file is YAML. It maps shopassist's field names to the file's column names, either at
the top level, under `columns:`, or under a section per kind (`orders:`, `customers:`), so one
file can serve several imports:

```yaml
orders:
  columns:
    order_id: Order Number
    email: Customer Email
    created_at: Placed At
    sku: SKU
    quantity: Qty
    price: Unit Price
```

In a JSONL file a column may be a dotted path into nested objects (`customer.email`). Without a
mapping file, a generic file's columns (or JSONL keys) are the field names themselves.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .generic import MappingError

__all__ = ["MappingError"]

GUEST_PREFIX = "guest-"
DERIVED_PREFIX = "cust-"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",  # Shopify: 2024-03-01 10:15:22 -0500
    "%Y-%m-%d %H:%M %z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
)


def load_columns(
    path: Path | None, kind: str, known: Iterable[str], required: Iterable[str] = ()
) -> dict[str, str]:
    """The field → column mapping for `kind` ("orders", "customers") from a YAML file; without
    one, each field's column is its own name."""
    import yaml

    if path is None:
        return {f: f for f in known}

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"cannot read the mapping file {path}: {exc}") from exc
    if isinstance(doc, dict) and isinstance(doc.get(kind), dict):
        doc = doc[kind]
    if isinstance(doc, dict) and isinstance(doc.get("columns"), dict):
        doc = doc["columns"]
    if not isinstance(doc, dict):
        raise MappingError(f"{path}: expected a mapping of field names to column names")
    columns = {
        str(k): str(v) for k, v in doc.items() if v is not None and k not in ("format", "kind")
    }
    known = tuple(known)
    unknown = sorted(set(columns) - set(known))
    if unknown:
        raise MappingError(
            f"{path}: unknown {kind} field(s) {unknown}; the fields are {', '.join(known)}"
        )
    missing = [f for f in required if f not in columns]
    if missing:
        raise MappingError(f"{path}: the {kind} mapping must name a column for {missing}")
    return columns


def value(row: Mapping[str, Any], column: str | None) -> str:
    """The row's text for `column` ("" when absent); a dotted path reaches into a JSON object.
    Spreadsheet exports guard numbers with a leading apostrophe ("'02134"); it is dropped."""
    if not column:
        return ""
    got: Any = row.get(column)
    if got is None and "." in column:
        got = row
        for part in column.split("."):
            got = got.get(part) if isinstance(got, Mapping) else None
    if got is None:
        return ""
    text = str(got).strip()
    return text[1:] if text.startswith("'") else text


def parse_when(text: str) -> datetime | None:
    """A shop export's timestamp as the shop's wall-clock time (the offset dropped), or None
    when `text` is empty. Raises ValueError for text that is not a date."""
    text = text.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueError(f"unreadable date {text!r} (use e.g. 2024-03-01 10:15:22 -0500)")
    return parsed.replace(tzinfo=None)


def day(when: datetime | None) -> date | None:
    return when.date() if when else None


def normalise_email(text: str) -> str:
    return text.strip().lower()


def valid_email(text: str) -> bool:
    return bool(_EMAIL.match(text))


def customer_id_for_email(email: str) -> str:
    """The id a customer known only by e-mail gets (an orders export names no customer id):
    stable, and not the address itself, so it can sit in URLs and logs."""
    digest = hashlib.sha256(normalise_email(email).encode()).hexdigest()[:12]
    return f"{DERIVED_PREFIX}{digest}"


def clean_id(text: str, limit: int = 64) -> str:
    """An id from an export: trimmed, the spreadsheet apostrophe dropped, within `limit`."""
    text = text.strip()
    if text.startswith("'"):
        text = text[1:]
    return text[:limit]


def fit(text: str | None, limit: int) -> str:
    """Text cut to a column's width (PostgreSQL enforces VARCHAR lengths; SQLite does not)."""
    return (text or "").strip()[:limit]
