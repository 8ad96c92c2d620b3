"""`shopassist import customers FILE`: a Shopify customers export, or a generic CSV/JSONL with a
mapping file, into an imported store's customers and accounts.

A customer's id is the export's own (Shopify's `Customer ID`), so the shop's backend can sign a
shopper's token with the id it already knows; without one it is derived from the e-mail address
(`cust-…`), as the orders importer does for the customers its orders name. A customer whose
orders were imported first, under such a derived id, is moved to the export's id (orders and
purchase history with it). Each problem is reported with file, line and reason; the import
commits whole or not at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..db import AccountRow, CustomerRow, Database, EventRow, OrderRow
from ..settings import Settings
from .columns import (
    DERIVED_PREFIX,
    MappingError,
    clean_id,
    customer_id_for_email,
    fit,
    load_columns,
    normalise_email,
    valid_email,
    value,
)
from .flow import record_import, run_import, write_all_or_nothing
from .readers import iter_csv, iter_jsonl, read_header
from .registry import StoreRegistry
from .report import ImportReport

CUSTOMER_FIELDS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "name",
    "address1",
    "address2",
    "city",
    "state",
    "country",
    "zip",
    "tags",
)
# Shopify's customers export: the current header first, then the older one's names.
SHOPIFY_CUSTOMER_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("Customer ID",),
    "email": ("Email",),
    "first_name": ("First Name",),
    "last_name": ("Last Name",),
    "address1": ("Default Address Address1", "Address1"),
    "address2": ("Default Address Address2", "Address2"),
    "city": ("Default Address City", "City"),
    "state": ("Default Address Province Code", "Province Code", "Province"),
    "country": ("Default Address Country Code", "Country Code", "Country"),
    "zip": ("Default Address Zip", "Zip"),
    "tags": ("Tags",),
}
_SHOPIFY_MARKERS = ("Total Orders", "Total Spent", "Accepts Email Marketing", "Accepts Marketing")


@dataclass
class ImportedCustomer:
    id: str
    email: str
    first_name: str
    last_name: str
    line: int
    address: dict[str, str] = field(default_factory=dict)
    segment: str = ""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email.split("@")[0]


def detect_customers_format(path: Path) -> str:
    header = set(read_header(path)) if path.suffix.lower() != ".jsonl" else set()
    if {"First Name", "Last Name", "Email"} <= header and (
        "Customer ID" in header or any(m in header for m in _SHOPIFY_MARKERS)
    ):
        return "shopify"
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"


def shopify_columns(header: list[str]) -> dict[str, str]:
    """Shopify's column for each customer field, in whichever header version the file has."""
    have = set(header)
    out = {}
    for name, choices in SHOPIFY_CUSTOMER_COLUMNS.items():
        hit = next((c for c in choices if c in have), None)
        if hit:
            out[name] = hit
    return out


def _rows(path: Path, fmt: str, report: ImportReport, progress: bool):
    if fmt == "jsonl":
        return iter_jsonl(path, report, progress=progress)
    return iter_csv(path, report, progress=progress)


def parse_customers(
    path: Path,
    report: ImportReport,
    fmt: str,
    columns: dict[str, str] | None = None,
    progress: bool = False,
) -> list[ImportedCustomer]:
    """Valid customers, in file order; every rejected row is in `report` with its line."""
    label = path.name
    if fmt == "shopify":
        columns = shopify_columns(read_header(path))
    assert columns is not None
    out: list[ImportedCustomer] = []
    seen_ids: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    for line, row in _rows(path, fmt, report, progress):
        got = {f: value(row, columns.get(f)) for f in CUSTOMER_FIELDS}
        email = normalise_email(got["email"])
        raw_id = clean_id(got["id"])
        problem = None
        cid = raw_id or (customer_id_for_email(email) if email else "")
        if email and not valid_email(email):
            problem = f"not an e-mail address: {email!r}"
        elif not cid:
            problem = "no customer id and no e-mail: the customer cannot be told apart"
        elif cid in seen_ids:
            problem = f"duplicate customer id {cid!r} (first on line {seen_ids[cid]})"
        elif email and email in seen_emails:
            problem = f"duplicate e-mail {email!r} (first on line {seen_emails[email]})"
        if problem:
            report.error(label, line, problem)
            report.rejected += 1
            continue
        seen_ids[cid] = line
        if email:
            seen_emails[email] = line
        first, last = got["first_name"], got["last_name"]
        if not first and not last and got["name"]:
            first, _, last = got["name"].partition(" ")
        address = {k: got[k] for k in ("address1", "address2", "city", "state", "country", "zip")}
        out.append(
            ImportedCustomer(
                id=cid,
                email=email,
                first_name=fit(first, 128),
                last_name=fit(last, 128),
                line=line,
                address={k: v for k, v in address.items() if v},
                segment=fit(got["tags"].split(",")[0], 64),
            )
        )
    return out


def _customer_values(c: ImportedCustomer) -> dict[str, Any]:
    return {
        "name": fit(c.name, 128),
        "segment": c.segment,
        "city": fit(c.address.get("city"), 64),
        "state": fit(c.address.get("state"), 64),
        "region": fit(c.address.get("country"), 64),
    }


def move_customer(s: Session, old: str, new: str) -> int:
    """Re-key a customer known by a derived id to the export's id: orders and purchase history
    follow, the derived rows go. Returns the orders moved."""
    moved = s.scalar(select(func.count()).where(OrderRow.customer_id == old)) or 0
    s.execute(update(OrderRow).where(OrderRow.customer_id == old).values(customer_id=new))
    s.execute(update(EventRow).where(EventRow.user_id == old).values(user_id=new))
    s.execute(delete(AccountRow).where(AccountRow.user_id == old))
    s.execute(delete(CustomerRow).where(CustomerRow.id == old))
    return int(moved)


def write_customers(
    s: Session, customers: list[ImportedCustomer], report: ImportReport
) -> dict[str, int]:
    """Add or update each customer and account in the open transaction; counts in `report`."""
    moved = 0
    for c in customers:
        values = _customer_values(c)
        row = s.get(CustomerRow, c.id)
        account = s.get(AccountRow, c.id)
        if c.email:
            holder = s.scalar(
                select(AccountRow.user_id).where(
                    func.lower(AccountRow.email) == c.email, AccountRow.user_id != c.id
                )
            )
            if holder is not None and not holder.startswith(DERIVED_PREFIX):
                report.error(
                    Path(report.file).name,
                    c.line,
                    f"e-mail {c.email!r} already belongs to customer {holder!r}",
                )
                report.rejected += 1
                continue
        else:
            holder = None
        if row is None:
            s.add(CustomerRow(id=c.id, **values))
            s.flush()
            report.added += 1
        else:
            changed = any(getattr(row, k) != v for k, v in values.items())
            changed = changed or not _account_same(account, c)
            for k, v in values.items():
                setattr(row, k, v)
            report.updated += changed
            report.unchanged += not changed
        if account is None:
            s.add(
                AccountRow(
                    user_id=c.id,
                    email=c.email,
                    first_name=c.first_name,
                    last_name=c.last_name,
                    address=c.address,
                    payment_methods={},
                )
            )
        else:
            account.email, account.first_name, account.last_name = (
                c.email,
                c.first_name,
                c.last_name,
            )
            account.address = c.address
        if holder is not None:  # orders imported first, under the e-mail's derived id
            s.flush()
            moved += move_customer(s, holder, c.id)
        report.accepted += 1
    return {"orders_moved": moved}


def _account_same(account: AccountRow | None, c: ImportedCustomer) -> bool:
    return account is not None and (
        account.email,
        account.first_name,
        account.last_name,
        dict(account.address or {}),
    ) == (c.email, c.first_name, c.last_name, c.address)


FORMATS = ("shopify", "csv", "jsonl")


def import_customers(
    settings: Settings,
    path: Path,
    *,
    store: str,
    format: str | None = None,
    mapping: Path | None = None,
    dry_run: bool = False,
    max_errors: int = 0,
    progress: bool = False,
) -> ImportReport:
    """Import a customers file into an imported store and return the report. Never raises on
    bad input: problems are in the report, and `report.exit_code()` is non-zero when the import
    was refused or failed."""
    return run_import(
        "customers",
        settings,
        path,
        store=store,
        format=format,
        formats=FORMATS,
        dry_run=dry_run,
        max_errors=max_errors,
        detect=detect_customers_format,
        columns=lambda p, fmt: _generic_columns(p, fmt, mapping),
        run=lambda p, fmt, cols, report, registry, db: _run(
            p, fmt, cols, report, registry, db, progress
        ),
    )


def _generic_columns(path: Path, fmt: str, mapping: Path | None) -> dict[str, str]:
    columns = load_columns(mapping, "customers", CUSTOMER_FIELDS)
    if "id" not in columns and "email" not in columns:
        raise MappingError(f"{mapping}: the customers mapping must name `id` or `email`")
    if mapping is None and fmt == "csv" and not {"id", "email"} & set(read_header(path)):
        raise MappingError(
            f"{path.name} is neither a Shopify customers export nor has an `id` or `email` "
            f"column: pass --mapping FILE naming its columns ({', '.join(CUSTOMER_FIELDS)})"
        )
    return columns


def _run(
    path: Path,
    fmt: str,
    columns: dict[str, str] | None,
    report: ImportReport,
    registry: StoreRegistry,
    db: Database,
    progress: bool,
) -> None:
    t0 = time.perf_counter()
    customers = parse_customers(path, report, fmt, columns, progress)
    report.seconds["parse"] = round(time.perf_counter() - t0, 3)
    moved = write_all_or_nothing(db, report, lambda s: write_customers(s, customers, report))
    if report.committed:
        record_import(registry, report, path, fmt, **moved)
