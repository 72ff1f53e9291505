"""The FastAPI app: every router under ``/api``, one error format, OpenAPI at /api/openapi.json."""

from __future__ import annotations

from fastapi import FastAPI, Request

from functions.api.context import ApiContext
from functions.api.correlation import CorrelationIds
from functions.api.errors import ERROR_RESPONSES, install_error_handlers
from functions.api.limits import RequestLimits
from functions.api.routers import (
    accounts,
    alerts,
    auth,
    devices,
    insights,
    leases,
    listings,
    marketplace,
    monitoring,
    overview,
    profit,
    provider,
    wallet,
    withdrawals,
    worker_market,
    workers,
)

ROUTERS = (
    auth,
    accounts,
    withdrawals,
    devices,
    marketplace,
    listings,
    leases,
    monitoring,
    workers,
    worker_market,
    provider,
    profit,
    wallet,
    alerts,
    insights,
    overview,
)


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="XenBlocks hashpower platform",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.context = context
    # An oversized or deeply nested body never reaches a parser...
    app.add_middleware(RequestLimits)
    # ...and outermost, so even that refusal is logged and answered with its correlation id.
    app.add_middleware(CorrelationIds)
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router, responses=ERROR_RESPONSES)

    app.add_api_route("/api/health", health, methods=["GET"], tags=["health"])
    return app


def health(request: Request) -> dict[str, str]:
    # A module-level function, not a closure over the context: FastAPI caches facts about
    # every endpoint by identity (an LRU of 4,096), and a closure per app kept each app's
    # context (its DynamoDB client, ~10 MB) alive for good.
    context: ApiContext = request.app.state.context
    return {"status": "ok", "stage": context.settings.stage}
