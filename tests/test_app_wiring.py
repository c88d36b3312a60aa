"""How both apps are wired for speed: what runs on the event loop, what goes to the thread pool."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from order_service.api import orders
from service_kit import health, metrics
from user_service.api import users

pytestmark = pytest.mark.unit

# What each app mounts: the kit's routers, then the service's (see create_service_app).
ROUTERS: dict[str, list[APIRouter]] = {
    "user-service": [health.router, metrics.router, users.router],
    "order-service": [health.router, metrics.router, orders.router],
}


def _dependency_calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _dependency_calls(sub)


@pytest.mark.parametrize("service", ROUTERS)
def test_every_route_dependency_is_async_so_none_costs_a_thread_pool_trip(service: str) -> None:
    """FastAPI runs each sync dependency (and each half of a sync generator) in the pool."""
    routes = [
        route
        for router in ROUTERS[service]
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
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
