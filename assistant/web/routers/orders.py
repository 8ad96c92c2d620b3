"""GET /api/orders/{order_id}: one of the signed-in shopper's orders (the reads lane)."""

# No `from __future__ import annotations`: FastAPI must see the real annotations.
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from ...support.orders import AuthRequired, OrderNotFound, OrderService
from ..deps import Identity, OrdersDep, ShopDep
from ..errors import ApiError, documented_errors
from ..schemas import OrderOut

router = APIRouter(tags=["orders"])


@router.get(
    "/orders/{order_id}",
    response_model=OrderOut,
    responses=documented_errors(401, 404, busy="the reads budget is full"),
    summary="One of the signed-in shopper's orders",
)
async def order(
    order_id: Annotated[str, Path(max_length=64)],
    caller: Identity,
    orders: OrdersDep,
    shop: ShopDep,
) -> Response:
    if caller is None:  # answered before any look-up: costs no slot
        raise ApiError(401, "unauthorized", "sign in to see order details")
    content = await shop.reads.run(_order, orders, order_id, caller)
    return Response(content, media_type="application/json")


def _order(orders: OrderService, order_id: str, caller: str) -> bytes:
    try:
        view = orders.get_order(order_id, caller)
    except AuthRequired:
        raise ApiError(401, "unauthorized", "sign in to see order details") from None
    except OrderNotFound:
        # Someone else's order and a non-existent one answer identically: no oracle.
        raise ApiError(404, "order_not_found", "no such order for this shopper") from None
    return OrderOut.of(view).model_dump_json().encode()  # rendered here, off the event loop
