"""What routes get injected; override these with ``app.dependency_overrides`` in tests.

They only hand out what ``create_service_app`` built (no I/O), so they are ``async def``: FastAPI
calls them on the event loop instead of sending each one through the thread pool. Routes get the
session factory, not a session, and open sessions where the blocking work runs, so each unit of
database work (checkout, queries, release) is one thread-pool trip (docs/design.md, "Sessions
and transactions").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session


async def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
