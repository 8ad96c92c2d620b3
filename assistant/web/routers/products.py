"""GET /api/products/{product_id}: one catalogue product (a cheap read: the reads lane)."""

# No `from __future__ import annotations`: FastAPI must see the real annotations.
from typing import Annotated

from fastapi import APIRouter, Path

from retrieval.catalogue import UnknownProductError

from ..deps import RuntimeDep, ShopDep
from ..errors import ApiError, documented_errors
from ..schemas import ProductOut

router = APIRouter(tags=["products"])


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    responses=documented_errors(404, busy="the reads budget is full"),
    summary="One catalogue product",
)
async def product(
    product_id: Annotated[str, Path(max_length=64)], runtime: RuntimeDep, shop: ShopDep
) -> ProductOut:
    with shop.reads.admit():  # an in-memory look-up: no thread needed, but it counts
        try:
            p = runtime.stack.catalogue.get(product_id)
        except (KeyError, UnknownProductError):
            raise ApiError(404, "product_not_found", f"no product {product_id!r}") from None
        return ProductOut.model_validate(p)
