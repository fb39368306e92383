"""FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from backend import __version__
from backend.bootstrap import Container, ready
from backend.entrypoints.api.action_fast_path import ActionFastPath
from backend.entrypoints.api.body_limit import BodyLimitMiddleware
from backend.entrypoints.api.json_depth import JsonDepthMiddleware
from backend.entrypoints.api.method_routing import MethodRouting
from backend.entrypoints.api.problems import install_problem_handlers
from backend.entrypoints.api.rate_limit import RateLimitMiddleware
from backend.entrypoints.api.routes.audit import exports as audit_routes
from backend.entrypoints.api.routes.dashboard import pages as dashboard_routes
from backend.entrypoints.api.routes.earning import actions as actions_routes
from backend.entrypoints.api.routes.earning import promotions as promotions_routes
from backend.entrypoints.api.routes.earning import rewards as rewards_routes
from backend.entrypoints.api.routes.foundation import api_keys as api_keys_routes
from backend.entrypoints.api.routes.foundation import auth as auth_routes
from backend.entrypoints.api.routes.foundation import brands as brands_routes
from backend.entrypoints.api.routes.foundation import health
from backend.entrypoints.api.routes.foundation import metrics as metrics_routes
from backend.entrypoints.api.routes.gdpr import subjects as gdpr_routes
from backend.entrypoints.api.routes.indexer import analytics as analytics_routes
from backend.entrypoints.api.routes.indexer import balances as wallets_balances_routes
from backend.entrypoints.api.routes.minting import batches as batches_routes
from backend.entrypoints.api.routes.notifications import feed as feed_routes
from backend.entrypoints.api.routes.notifications import webhooks as webhooks_routes
from backend.entrypoints.api.routes.qr import campaigns as qr_routes
from backend.entrypoints.api.routes.shoppers import offers as offers_routes
from backend.entrypoints.api.routes.shoppers import profiles as shoppers_routes
from backend.entrypoints.api.routes.shoppers import redemptions as redemptions_routes
from backend.entrypoints.api.routes.shoppers import siwe as siwe_routes

API_DESCRIPTION = (
    "Loyalty tokens on Polygon: brands issue actions, the backend batches mints, the indexer mirrors the chain. "
    "Errors are RFC 9457 `application/problem+json` documents with a stable `code`."
)


def create_app(container: Container | None = None) -> FastAPI:
    """Build the app around a container; without one (uvicorn --factory) connect from the environment.

    NOTE: a serving process never migrates nor deploys (two workers starting together would race); it refuses to
    start until `loyalty migrate` and `loyalty deploy` have run, so a supervisor's restart picks up when they did.
    """
    container = container or ready()
    app = FastAPI(title="Loyalty Chain API", version=__version__, description=API_DESCRIPTION)
    app.state.container = container
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(batches_routes.router)
    app.include_router(metrics_routes.router)
    app.include_router(wallets_balances_routes.router)
    app.include_router(analytics_routes.router)
    app.include_router(qr_routes.router)
    app.include_router(auth_routes.router)
    app.include_router(brands_routes.router)
    app.include_router(api_keys_routes.router)
    app.include_router(promotions_routes.router)
    app.include_router(actions_routes.router)
    app.include_router(rewards_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(webhooks_routes.router)
    app.include_router(feed_routes.router)
    app.include_router(gdpr_routes.router)
    app.include_router(siwe_routes.router)
    app.include_router(shoppers_routes.router)
    app.include_router(offers_routes.router)
    app.include_router(redemptions_routes.router)
    app.include_router(dashboard_routes.router)
    app.add_middleware(MethodRouting, api=app)  # a wrong method on a known path: 405 with every allowed one
    app.add_middleware(ActionFastPath, api=app, container=container)  # innermost: after limits and body size
    app.add_middleware(JsonDepthMiddleware, max_depth=container.settings.max_json_depth)  # before any JSON parse
    app.add_middleware(BodyLimitMiddleware, max_bytes=container.settings.max_body_bytes)
    app.add_middleware(RateLimitMiddleware, container=container)  # outermost: refuse before reading bodies
    return app
