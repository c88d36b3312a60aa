"""How the app is wired for speed: what runs on the event loop, what goes to the thread pool."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from order_service.api import orders
from order_service.config import Settings
from service_kit import health


def _dependency_calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _dependency_calls(sub)


def test_every_route_dependency_is_async_so_none_costs_a_thread_pool_trip() -> None:
    """FastAPI runs each sync dependency (and each half of a sync generator) in the pool."""
    routes = [
        route
        for router in (health.router, orders.router)
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    assert routes
    sync = [
        f"{route.path}: {getattr(call, '__name__', call)}"
        for route in routes
        for call in _dependency_calls(route.dependant)
        if not (
            inspect.iscoroutinefunction(call)
            or inspect.iscoroutinefunction(getattr(call, "__call__", None))  # noqa: B004
        )
    ]
    assert sync == []


def test_default_attempts_reach_99_5_percent_success_with_20_percent_independent_failures() -> None:
    attempts = Settings().user_service_max_attempts
    assert 1 - 0.2**attempts >= 0.995


def test_default_keepalive_keeps_every_pooled_connection_to_user_service() -> None:
    """Fewer keep-alive than pool slots closes and reopens connections under load."""
    settings = Settings()
    assert settings.user_service_max_keepalive == settings.user_service_max_connections
