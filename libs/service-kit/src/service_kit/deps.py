"""What routes get injected; override these with ``app.dependency_overrides`` in tests.

They only hand out what ``create_service_app`` built (no I/O), so they are ``async def``: FastAPI
calls them on the event loop instead of sending each one through the thread pool. Routes get the
session factory, not a session, and hand it to the service, which opens each unit of work where
the blocking work runs: checkout, queries and release are one thread-pool trip (docs/design.md,
"One idiom each").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service_kit.db import Sessions
from service_kit.tracing import Tracing


async def get_sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


async def get_tracing(request: Request) -> Tracing:
    """The app's tracing: ``tracing.tracer(__name__)`` for a service's own spans."""
    tracing: Tracing = request.app.state.tracing
    return tracing


SessionsDep = Annotated[Sessions, Depends(get_sessions)]
TracingDep = Annotated[Tracing, Depends(get_tracing)]
