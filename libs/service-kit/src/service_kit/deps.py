"""What routes get injected; override these with ``app.dependency_overrides`` in tests.

``PageDep`` is the slice a list route answers, from its ``limit`` and ``offset`` query
parameters (their bounds are in the OpenAPI document). The others only hand out what
``create_service_app`` built (no I/O). All are ``async def``: FastAPI calls them on the event
loop instead of sending each one through the thread pool. Routes get the session factory, not a
session, and hand it to the service, which opens each unit of work where the blocking work runs:
checkout, queries and release are one thread-pool trip (docs/design.md, "One idiom each").
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Query, Request

from service_kit.db import Sessions
from service_kit.tracing import Tracing

T = TypeVar("T")

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns: larger ones cannot exist
PAGE_MAX = 100


def app_state(name: str, kind: type[T]) -> Callable[[Request], Coroutine[Any, Any, T]]:
    """A dependency handing out ``app.state.<name>`` (built by the app factory or lifespan).

    Each call makes a new function: keep the one a module defines, since tests override it by
    identity (``app.dependency_overrides[get_x] = ...``).
    """

    async def dependency(request: Request) -> T:
        return cast(T, getattr(request.app.state, name))

    dependency.__name__ = dependency.__qualname__ = f"get_{name}"
    dependency.__doc__ = f"The app's {name} ({kind.__name__})."
    return dependency


get_sessions = app_state("sessions", Sessions)
# tracing.tracer(__name__) for a service's own spans
get_tracing = app_state("tracing", Tracing)


SessionsDep = Annotated[Sessions, Depends(get_sessions)]
TracingDep = Annotated[Tracing, Depends(get_tracing)]


@dataclass(frozen=True, slots=True)
class Page:
    """``limit`` items, after the first ``offset``."""

    limit: int
    offset: int


async def get_page(
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(get_page)]
