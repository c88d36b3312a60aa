"""The ASGI app: ``create_app()`` wires settings, engine, middleware, error handlers, routes.

Routers are mounted only here. Nothing runs at import time; migrations are a separate
command (``order-service migrate``), never a side effect of starting the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from order_service.api import health, orders
from order_service.clients.user_service import UserServiceClient
from order_service.config import Settings, get_settings
from order_service.db import make_engine, make_session_factory
from order_service.errors import install_error_handlers
from order_service.log import configure_logging
from order_service.metrics import router as metrics_router
from order_service.middleware import RequestContextMiddleware
from order_service.tokens import JwksCache, TokenVerifier

MAX_BODY_SIZE = 64 * 1024

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One pooled client for the app's life; routes get it through api.deps.UsersDep.
        user_service = UserServiceClient.from_settings(settings)
        app.state.user_directory = user_service
        # Tokens are checked here, against user-service's public keys, fetched once and cached.
        app.state.token_verifier = TokenVerifier(
            JwksCache(
                user_service.fetch_jwks,
                refresh_interval=settings.jwks_refresh_interval,
                max_age=settings.jwks_max_age,
            ),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
        )
        logger.info(
            "order-service ready",
            extra={
                "database": settings.safe_database_url,
                "user_service": settings.user_service_url,
            },
        )
        try:
            yield
        finally:
            await user_service.aclose()
            engine.dispose()

    app = FastAPI(
        title="order-service",
        version=version("order-service"),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_session_factory(engine)
    install_error_handlers(app)
    # Outermost last: the request context refuses a declared oversize body itself (as a problem);
    # Starlette's limiter, inside it, counts streamed bytes and raises 413 into the handlers.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY_SIZE)
    app.add_middleware(RequestContextMiddleware, max_body_size=MAX_BODY_SIZE)
    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(orders.router)
    return app
