"""/api/cart: the caller's shopping cart (read on the reads lane, changed on the writes lane).

Whose cart: the signed-in shopper's (from a verified token; `session_id` is then ignored), else
the anonymous session's, named by `?session_id=` (the chat's session id). An anonymous
`POST` without one starts a session and returns its id (body and `X-Session-Id`), so the
chat can go on in it. Prices are the catalogue's when the cart is read, never the client's.

Errors: 404 `unknown_product` / `not_in_cart`; 422 for a bad quantity (`validation_error`),
more than 99 of one product (`quantity_limit`) or more than 50 lines (`cart_full`).
"""

# No `from __future__ import annotations`: FastAPI must see the real annotations.
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from ...support.cart import Cart, CartError, CartOwner, CartService
from ..deps import Identity, RuntimeDep, Web, client_key
from ..errors import ApiError, documented_errors
from ..schemas import SESSION_ID_PATTERN, CartAddRequest, CartResponse

router = APIRouter(tags=["cart"])

_STATUS = {"unknown_product": 404, "not_in_cart": 404}  # every other CartError: 422


async def get_cart(runtime: RuntimeDep) -> CartService:
    return runtime.desk.cart


CartDep = Annotated[CartService, Depends(get_cart)]
SessionQuery = Annotated[
    str | None,
    Query(
        pattern=SESSION_ID_PATTERN,
        description="An anonymous shopper's session (the chat's); ignored when signed in.",
    ),
]
ProductPath = Annotated[str, Path(max_length=64)]


def _owner(caller: str | None, session_id: str | None) -> CartOwner:
    """The signed-in caller (their session id only tags the add_to_cart event), else the
    anonymous session."""
    try:
        return CartOwner.of(caller, session_id)
    except CartError as exc:
        raise ApiError(422, exc.code, exc.message) from None


def _anonymous_session(owner: CartOwner) -> str | None:
    return None if owner.signed_in else owner.session_id


def _render(cart: Cart, owner: CartOwner) -> bytes:
    # Rendered on the lane's thread: the event loop only sends the bytes.
    return CartResponse.of(cart, _anonymous_session(owner)).model_dump_json().encode()


_EMPTY = CartResponse.of(Cart(), None).model_dump_json().encode()


def _respond(content: bytes, owner: CartOwner) -> Response:
    sid = _anonymous_session(owner)
    return Response(
        content, media_type="application/json", headers={"X-Session-Id": sid} if sid else None
    )


def _read(carts: CartService, owner: CartOwner) -> bytes:
    return _render(carts.get(owner), owner)


def _change(fn: Callable[..., Cart], owner: CartOwner, *args: Any) -> bytes:
    try:
        return _render(fn(owner, *args), owner)
    except CartError as exc:
        raise ApiError(_STATUS.get(exc.code, 422), exc.code, exc.message) from None


@router.get(
    "/cart",
    response_model=CartResponse,
    responses=documented_errors(busy="the reads budget is full"),
    summary="The caller's cart (empty for an anonymous caller without a session)",
)
async def show_cart(
    caller: Identity, web: Web, carts: CartDep, session_id: SessionQuery = None
) -> Response:
    if caller is None and session_id is None:  # nobody's cart yet: answered without a look-up
        return Response(_EMPTY, media_type="application/json")
    owner = _owner(caller, session_id)
    content = await web.shop.reads.run(_read, carts, owner)
    return _respond(content, owner)


@router.post(
    "/cart",
    response_model=CartResponse,
    responses=documented_errors(404, busy="the writes budget is full"),
    summary="Add a product to the caller's cart (more of it if it is there already)",
)
async def add_to_cart(
    body: CartAddRequest,
    request: Request,
    caller: Identity,
    web: Web,
    carts: CartDep,
    session_id: SessionQuery = None,
) -> Response:
    web.events_limiter.check(client_key(request, caller))
    if caller is None and session_id is None:
        session_id = uuid.uuid4().hex  # a new anonymous shopper: their session starts here
    owner = _owner(caller, session_id)
    # Also records `add_to_cart` for a signed-in shopper, as the "Add to cart" buttons do.
    content = await web.shop.writes.run(_change, carts.add, owner, body.product_id, body.quantity)
    return _respond(content, owner)


@router.delete(
    "/cart/{product_id}",
    response_model=CartResponse,
    responses=documented_errors(404, busy="the writes budget is full"),
    summary="Remove a product's line from the caller's cart",
)
async def remove_from_cart(
    product_id: ProductPath,
    request: Request,
    caller: Identity,
    web: Web,
    carts: CartDep,
    session_id: SessionQuery = None,
) -> Response:
    web.events_limiter.check(client_key(request, caller))
    if caller is None and session_id is None:
        raise ApiError(404, "not_in_cart", f"{product_id!r} is not in the cart")
    owner = _owner(caller, session_id)
    content = await web.shop.writes.run(_change, carts.remove, owner, product_id)
    return _respond(content, owner)


@router.delete(
    "/cart",
    response_model=CartResponse,
    responses=documented_errors(busy="the writes budget is full"),
    summary="Empty the caller's cart",
)
async def clear_cart(
    request: Request,
    caller: Identity,
    web: Web,
    carts: CartDep,
    session_id: SessionQuery = None,
) -> Response:
    web.events_limiter.check(client_key(request, caller))
    if caller is None and session_id is None:
        return Response(_EMPTY, media_type="application/json")
    owner = _owner(caller, session_id)
    content = await web.shop.writes.run(_change, carts.clear, owner)
    return _respond(content, owner)
