"""The ASGI app: ``create_app()`` wires settings, engine, middleware, error handlers, routes.

Routers are mounted only here. Nothing runs at import time; migrations are a separate
command (``user-service migrate``), never a side effect of starting the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from user_service.api import auth, health, users
from user_service.config import Settings, get_settings
from user_service.db import make_engine, make_session_factory
from user_service.errors import install_error_handlers
from user_service.log import configure_logging
from user_service.metrics import router as metrics_router
from user_service.middleware import RequestContextMiddleware
from user_service.passwords import Argon2Params, PasswordHasher
from user_service.signing import KeyRing
from user_service.throttle import LoginThrottle
from user_service.tokens import StaticKeys, TokenVerifier

MAX_BODY_SIZE = 64 * 1024

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; raises ``SigningKeyError`` when ``keys_dir`` holds no usable signing key."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    keyring = KeyRing.from_directory(settings.keys_dir)
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logger.info(
            "user-service ready",
            extra={
                "database": settings.safe_database_url,
                "signing_kid": keyring.signing_kid,
                "kids": keyring.kids,
            },
        )
        yield
        engine.dispose()

    app = FastAPI(
        title="user-service",
        version=version("user-service"),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_session_factory(engine)
    app.state.keyring = keyring
    app.state.token_verifier = TokenVerifier(
        StaticKeys(keyring.public_keys()),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
    app.state.hasher = PasswordHasher(
        Argon2Params(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
        ),
        max_concurrent=settings.password_hash_concurrency,
    )
    app.state.login_throttle = LoginThrottle(
        max_failures=settings.login_max_failures, lockout=settings.login_lockout
    )
    install_error_handlers(app)
    # Outermost last: the request context refuses a declared oversize body itself (as a problem);
    # Starlette's limiter, inside it, counts streamed bytes and raises 413 into the handlers.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY_SIZE)
    app.add_middleware(RequestContextMiddleware, max_body_size=MAX_BODY_SIZE)
    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(auth.router)
    app.include_router(users.router)
    return app
