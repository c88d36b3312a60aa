"""The ASGI app: ``create_app()`` mounts user-service's routes on the kit's plumbing.

Routers are mounted only here. Nothing runs at import time; migrations are a separate
command (``user-service migrate``), never a side effect of starting the app.
"""

from __future__ import annotations

from fastapi import FastAPI

from service_kit.app import create_service_app
from service_kit.tracing import Tracing
from user_service.api import users
from user_service.config import Settings, get_settings


def create_app(settings: Settings | None = None, *, tracing: Tracing | None = None) -> FastAPI:
    """``tracing``: from the OTEL_* environment unless given (tests export to memory)."""
    return create_service_app(settings or get_settings(), routers=[users.router], tracing=tracing)
