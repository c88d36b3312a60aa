"""The ASGI app: ``create_app()`` mounts order-service's routes on the kit's plumbing, and holds
the one user-service client for the app's life, and the verifier of callers' tokens (user-service's
public keys, fetched through that client and cached).

Routers are mounted only here. Nothing runs at import time; migrations are a separate
command (``order-service migrate``), never a side effect of starting the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from order_service.api import orders
from order_service.clients.user_service_client import UserServiceClient
from order_service.config import Settings, get_settings
from service_kit.app import create_service_app
from service_kit.tokens import JwksCache, TokenVerifier
from service_kit.tracing import Tracing

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, tracing: Tracing | None = None) -> FastAPI:
    """``tracing``: from the OTEL_* environment unless given (tests export to memory)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def user_service_client(app: FastAPI) -> AsyncIterator[None]:
        # One pooled client for the app's life; routes get it through api.deps.UserDirectoryDep.
        client = UserServiceClient.from_settings(settings, tracing=app.state.tracing)
        app.state.user_directory = client
        # Tokens are checked here, against user-service's public keys, fetched once and cached.
        app.state.token_verifier = TokenVerifier(
            JwksCache(
                client.fetch_jwks,
                refresh_interval=settings.jwks_refresh_interval,
                max_age=settings.jwks_max_age,
            ),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
        )
        logger.info("user-service client open", extra={"user_service": settings.user_service_url})
        try:
            yield
        finally:
            await client.aclose()

    return create_service_app(
        settings, routers=[orders.router], lifespan=user_service_client, tracing=tracing
    )
