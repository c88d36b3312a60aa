"""``create_service_app``: the plumbing wired around a service's routers, the same for each.

Settings, engine, session factory and tracing on ``app.state``; FastAPI's server spans and the
engine's SQL spans when tracing is on (``service_kit.tracing``); the error handlers; the request
context outermost; ``/health`` and ``/metrics``; then the service's routers. A service's ``main.py``
calls it with its routers and, when it holds more than the database (a client of another
service), a lifespan of its own, entered inside the kit's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.metadata import version

from fastapi import APIRouter, FastAPI
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from service_kit import health, metrics
from service_kit.db import make_engine, make_session_factory
from service_kit.log import configure_logging
from service_kit.middleware import MAX_BODY_SIZE, RequestContextMiddleware
from service_kit.problems import install_error_handlers
from service_kit.settings import ServiceSettings
from service_kit.tracing import Tracing

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

logger = logging.getLogger(__name__)


def create_service_app(
    settings: ServiceSettings,
    *,
    routers: Sequence[APIRouter],
    lifespan: Lifespan | None = None,
    tracing: Tracing | None = None,
) -> FastAPI:
    """Nothing runs at import time, nor at start beyond the lifespan: migrations are a command.

    ``tracing``: from the OTEL_* environment unless given (a test's in-memory exporter).
    """
    name = settings.service_name
    configure_logging(settings.log_level)
    tracing = tracing or Tracing.from_environment(name)
    engine = make_engine(settings)
    tracing.instrument_engine(engine)

    @asynccontextmanager
    async def service_lifespan(app: FastAPI) -> AsyncIterator[None]:
        own: AbstractAsyncContextManager[None] = (
            lifespan(app) if lifespan is not None else contextlib.nullcontext()
        )
        try:
            async with own:
                logger.info("%s ready", name, extra={"database": settings.safe_database_url})
                yield
        finally:
            engine.dispose()
            tracing.shutdown()  # exports the spans still queued

    app = FastAPI(
        title=name,
        version=version(name),
        lifespan=service_lifespan,
        telemetry=tracing.fastapi_telemetry(),
        # Starlette would answer /users/ with a redirect built from the Host header the caller
        # chose; one URL per resource, and a 404 problem for any other spelling.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.tracing = tracing
    app.state.engine = engine
    app.state.sessions = make_session_factory(engine)
    install_error_handlers(app)
    # Outermost last: the request context refuses a declared oversize body itself (as a problem);
    # Starlette's limiter, inside it, counts streamed bytes and raises 413 into the handlers.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY_SIZE)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_size=MAX_BODY_SIZE,
        access_logger=f"{name.replace('-', '_')}.access",
    )
    app.include_router(health.router)
    app.include_router(metrics.router)
    for router in routers:
        app.include_router(router)
    return app
