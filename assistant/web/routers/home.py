"""GET /api/home/{user}: a shopper's personalised home page (a read, on the home lane)."""

# No `from __future__ import annotations`: FastAPI must see the real annotations.
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from ..deps import Identity, ShopDep
from ..errors import ApiError, documented_errors
from ..schemas import HomeResponse
from ..shop import ANONYMOUS, Shop

router = APIRouter(tags=["home"])


@router.get(
    "/home/{user}",
    response_model=HomeResponse,
    responses=documented_errors(401, 404, busy="the home-page budget is full"),
    summary="A shopper's personalised home page ('anonymous' or 'new': cold start)",
)
async def home(
    user: Annotated[str, Path(max_length=64)],
    caller: Identity,
    shop: ShopDep,
    per_section: Annotated[int, Query(ge=1, le=24)] = 8,
) -> Response:
    if user not in ANONYMOUS and caller is None:
        # A home page reveals what someone bought: only its owner may read it. Without a
        # token we answer 401 before looking the user up, so nothing leaks either way.
        raise ApiError(401, "unauthorized", "sign in to see a personalised home page")
    # Built and rendered on the home lane's thread: the event loop only sends the bytes.
    content = await shop.homes.run(_home, shop, user, caller, per_section)
    return Response(content, media_type="application/json")


def _home(shop: Shop, user: str, caller: str | None, per_section: int) -> bytes:
    if user in ANONYMOUS:
        view = shop.home(None, per_section=per_section, log_exposure=False)
    elif caller != user or not shop.is_customer(user):
        raise ApiError(404, "user_not_found", f"no shopper {user!r}")
    else:
        view = shop.home(user, per_section=per_section)
    return HomeResponse.of(view).model_dump_json().encode()
