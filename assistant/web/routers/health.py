"""GET /api/health (liveness and readiness) and GET /api/me (who the token says you are)."""

# No `from __future__ import annotations`: FastAPI must see the real annotations.
import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ...runtime import Runtime
from ..deps import Identity, RuntimeDep, ShopDep
from ..schemas import ChromaHealth, HealthResponse, MeResponse
from ..shop import Shop

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={
        503: {
            "model": HealthResponse,
            "description": "degraded; or busy (the reads budget is full: an error body)",
        }
    },
    summary="Liveness and readiness",
)
async def health(runtime: RuntimeDep, shop: ShopDep) -> JSONResponse:
    body = await shop.reads.run(_check, runtime, shop)
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)


def _check(runtime: Runtime, shop: Shop) -> HealthResponse:
    t = time.perf_counter()
    try:
        ok = bool(runtime.stack.store.heartbeat())
    except Exception:
        ok = False
    ms = round((time.perf_counter() - t) * 1e3, 2)
    try:
        size = len(runtime.stack.catalogue)
    except Exception:
        size = 0
    return HealthResponse(
        status="ok" if ok and size > 0 else "degraded",
        catalogue_size=size,
        llm_status=runtime.llm_status,
        chroma=ChromaHealth(ok=ok, ms=ms),
        sessions=len(shop.sessions),
    )


@router.get("/me", response_model=MeResponse, summary="Who the token says you are")
def me(user: Identity, shop: ShopDep) -> MeResponse:
    return MeResponse(signed_in=user is not None, user_id=user, name=shop.customer_name(user))
