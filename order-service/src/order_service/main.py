"""The ASGI app: ``create_app()`` mounts order-service's routes on the kit's plumbing and, for the
app's life, holds the one user-service client, the verifier of callers' tokens (user-service's
public keys, fetched through that client and cached) and the ``Orders`` use cases over them.

Routers are mounted only here. Nothing runs at import time; migrations are a separate
command (``order-service migrate``), never a side effect of starting the app.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from order_service import service
from order_service.api import orders
from order_service.clients.user_service_client import UserServiceClient
from order_service.config import Settings, get_settings
from service_kit.app import create_service_app
from service_kit.tokens import JwksCache, TokenVerifier
from service_kit.tracing import Tracing

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    tracing: Tracing | None = None,
    user_service: UserServiceClient | None = None,
) -> FastAPI:
    """``tracing``: from the OTEL_* environment unless given (tests export to memory);
    ``user_service``: a client from the settings unless given (tests pass one over
    httpx.MockTransport, and close it themselves)."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def use_cases(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            client = user_service
            if client is None:  # one pooled client for the app's life
                client = UserServiceClient.from_settings(settings, tracing=app.state.tracing)
                stack.push_async_callback(client.aclose)
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
            app.state.orders = service.Orders(
                sessions=app.state.sessions,
                directory=client,
                key_window=settings.idempotency_key_window,
                tracer=app.state.tracing.tracer(service.__name__),
            )
            logger.info("user-service client open", extra={"user_service": client.settings.url})
            yield

    return create_service_app(
        settings, routers=[orders.router], lifespan=use_cases, tracing=tracing
    )
