"""Shopping carts, one per shopper: the signed-in user's, or an anonymous session's.

Only product ids and quantities are stored; names and prices come from the catalogue each time
a cart is read, so a client can never set a price. Adding to a cart also records an
`add_to_cart` behaviour event for a signed-in shopper (as the "Add to cart" buttons do), so
their profile folds it in at once. Free of the web layer and of the turn layer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retrieval.db import CartLineRow
from retrieval.events import utcnow
from retrieval.stack import RetrievalStack

log = logging.getLogger(__name__)

MAX_QUANTITY = 99  # per line
MAX_LINES = 50  # per cart
MAX_ID_CHARS = 64  # a user or session id, as everywhere else in the store


class CartError(Exception):
    """A cart request that cannot be done, with a stable `code`:

    unknown_product, not_in_cart, bad_quantity, quantity_limit, cart_full, bad_owner."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class CartOwner:
    """Whose cart: the verified user, else the anonymous session. Keys never collide."""

    user_id: str | None
    session_id: str | None = None

    @classmethod
    def of(cls, user_id: str | None, session_id: str | None) -> CartOwner:
        """The owner for a verified user id (wins) or a session id; raises CartError
        ("bad_owner") when there is neither, or one is too long to be real."""
        for value in (user_id, session_id):
            if value is not None and len(value) > MAX_ID_CHARS:
                raise CartError("bad_owner", f"ids are at most {MAX_ID_CHARS} characters")
        if not user_id and not session_id:
            raise CartError("bad_owner", "a cart needs a signed-in shopper or a session")
        return cls(user_id or None, session_id or None)

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def key(self) -> str:
        return f"u:{self.user_id}" if self.user_id else f"s:{self.session_id}"


@dataclass(frozen=True)
class CartLine:
    product_id: str
    name: str
    price: float  # the catalogue's, at read time
    quantity: int
    line_total: float  # rounded to cents


@dataclass(frozen=True)
class Cart:
    lines: list[CartLine] = field(default_factory=list)
    count: int = 0  # items: the sum of the quantities
    total: float = 0.0  # rounded to cents
    currency: str = "USD"  # the store's (an imported store's own)

    @classmethod
    def of(cls, lines: Sequence[CartLine], currency: str = "USD") -> Cart:
        return cls(
            list(lines),
            sum(ln.quantity for ln in lines),
            round(sum(ln.line_total for ln in lines), 2),
            currency,
        )

    def quantity_of(self, product_id: str) -> int:
        return next((ln.quantity for ln in self.lines if ln.product_id == product_id), 0)


def _check_quantity(quantity: int, low: int = 1) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise CartError("bad_quantity", "the quantity must be a whole number")
    if not low <= quantity <= MAX_QUANTITY:
        raise CartError("bad_quantity", f"the quantity must be {low} to {MAX_QUANTITY}")


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class CartService:
    """Carts in the store's database (SQLite or PostgreSQL), priced from the catalogue."""

    def __init__(self, stack: RetrievalStack) -> None:
        self.stack = stack

    # Reading ---------------------------------------------------------------------------------
    def get(self, owner: CartOwner) -> Cart:
        with self.stack.db.session() as s:
            return self._cart(s, owner.key)

    def _rows(self, s: Session, key: str) -> list[CartLineRow]:
        q = (
            select(CartLineRow)
            .where(CartLineRow.owner == key)
            .order_by(CartLineRow.added_at, CartLineRow.id)
        )
        return list(s.scalars(q))

    def _cart(self, s: Session, key: str) -> Cart:
        catalogue = self.stack.catalogue
        lines = []
        for row in self._rows(s, key):
            if row.product_id not in catalogue:  # gone from the catalogue since: not for sale
                continue
            p = catalogue.get(row.product_id)
            price = round(float(p.price), 2)
            lines.append(
                CartLine(p.id, p.name, price, row.quantity, round(price * row.quantity, 2))
            )
        return Cart.of(lines, self.stack.currency)

    def _known(self, product_id: str) -> None:
        if not isinstance(product_id, str) or product_id not in self.stack.catalogue:
            raise CartError("unknown_product", f"no product {product_id!r} in the catalogue")

    # Changing --------------------------------------------------------------------------------
    def add(
        self, owner: CartOwner, product_id: str, quantity: int = 1, *, record_event: bool = True
    ) -> Cart:
        """Add `quantity` of a product: a new line, or more of an existing one (at most
        MAX_QUANTITY a line, MAX_LINES lines). Records `add_to_cart` for a signed-in shopper
        unless `record_event` is False (a caller that records the event itself)."""
        _check_quantity(quantity)
        self._known(product_id)
        for attempt in range(2):
            try:
                cart = self._add(owner.key, product_id, quantity)
                break
            except IntegrityError:
                # The same line was inserted concurrently: the retry adds to that line.
                if attempt:
                    raise
        if record_event and owner.signed_in:
            self._record(owner, product_id)
        return cart

    def _add(self, key: str, product_id: str, quantity: int) -> Cart:
        now = utcnow()
        line = (CartLineRow.owner == key, CartLineRow.product_id == product_id)
        with self.stack.db.session() as s:
            # One atomic UPDATE: concurrent adds of the same product never lose a quantity.
            more = s.execute(
                update(CartLineRow)
                .where(*line, CartLineRow.quantity + quantity <= MAX_QUANTITY)
                .values(quantity=CartLineRow.quantity + quantity, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            have = None if _rowcount(more) else s.scalar(select(CartLineRow.quantity).where(*line))
            if have is not None:
                # Under read committed the line may have been inserted by a concurrent add
                # after the first UPDATE's snapshot: a new statement sees it and adds to it.
                again = s.execute(
                    update(CartLineRow)
                    .where(*line, CartLineRow.quantity + quantity <= MAX_QUANTITY)
                    .values(quantity=CartLineRow.quantity + quantity, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if not _rowcount(again):
                    raise CartError(
                        "quantity_limit",
                        f"at most {MAX_QUANTITY} of one product: the cart has {have}",
                    )
            elif not _rowcount(more):
                lines = s.scalar(
                    select(func.count()).select_from(CartLineRow).where(CartLineRow.owner == key)
                )
                if (lines or 0) >= MAX_LINES:
                    raise CartError("cart_full", f"a cart holds at most {MAX_LINES} products")
                s.add(
                    CartLineRow(
                        owner=key,
                        product_id=product_id,
                        quantity=quantity,
                        added_at=now,
                        updated_at=now,
                    )
                )
                s.flush()  # an IntegrityError here: the same line was just inserted elsewhere
            return self._cart(s, key)

    def _record(self, owner: CartOwner, product_id: str) -> None:
        event = {
            "user_id": owner.user_id,
            "type": "add_to_cart",
            "product_id": product_id,
            "session_id": owner.session_id,
        }
        try:
            result = self.stack.recommendations().record([event])
        except Exception as exc:  # the cart is saved: a lost analytics event must not undo it
            log.error("could not record add_to_cart: %s", exc)
            return
        for e in result.errors:
            log.warning("add_to_cart event not stored (%s): %s", e.code, e.message)

    def set_quantity(self, owner: CartOwner, product_id: str, quantity: int) -> Cart:
        """Set a line's quantity (0 removes it); CartError("not_in_cart") when there is none."""
        _check_quantity(quantity, low=0)
        if quantity == 0:
            return self.remove(owner, product_id)
        with self.stack.db.session() as s:
            done = s.execute(
                update(CartLineRow)
                .where(CartLineRow.owner == owner.key, CartLineRow.product_id == product_id)
                .values(quantity=quantity, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if not _rowcount(done):
                raise CartError("not_in_cart", f"{product_id!r} is not in the cart")
            return self._cart(s, owner.key)

    def remove(self, owner: CartOwner, product_id: str) -> Cart:
        """Remove a product's line; CartError("not_in_cart") when there is none."""
        with self.stack.db.session() as s:
            gone = s.execute(
                delete(CartLineRow)
                .where(CartLineRow.owner == owner.key, CartLineRow.product_id == product_id)
                .execution_options(synchronize_session=False)
            )
            if not _rowcount(gone):
                raise CartError("not_in_cart", f"{product_id!r} is not in the cart")
            return self._cart(s, owner.key)

    def clear(self, owner: CartOwner) -> Cart:
        """Empty the cart (a no-op on an empty one); returns the empty cart."""
        with self.stack.db.session() as s:
            s.execute(
                delete(CartLineRow)
                .where(CartLineRow.owner == owner.key)
                .execution_options(synchronize_session=False)
            )
        return Cart()

    def merge(self, source: CartOwner, into: CartOwner) -> Cart:
        """Move `source`'s lines into `into`'s cart (quantities add up, capped at MAX_QUANTITY;
        lines past MAX_LINES are dropped) and empty `source`. E.g. an anonymous visitor's cart
        kept across a new conversation, or brought along when they sign in. No events."""
        if source.key == into.key:
            return self.get(into)
        now = utcnow()
        with self.stack.db.session() as s:
            mine = {r.product_id: r for r in self._rows(s, into.key)}
            for row in self._rows(s, source.key):
                have = mine.get(row.product_id)
                if have is not None:
                    have.quantity = min(MAX_QUANTITY, have.quantity + row.quantity)
                    have.updated_at = now
                    s.delete(row)
                elif len(mine) < MAX_LINES:
                    row.owner, row.updated_at = into.key, now
                    mine[row.product_id] = row
                else:
                    s.delete(row)
            s.flush()
            return self._cart(s, into.key)
