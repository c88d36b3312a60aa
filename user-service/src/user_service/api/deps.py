"""What routes get injected; override these with ``app.dependency_overrides`` in tests.

They only hand out what the lifespan built (no I/O), so they are ``async def``: FastAPI calls
them on the event loop instead of sending each one through the thread pool. Sync routes get the
session factory, not a session, and open the session themselves, so a request's blocking
database work (checkout, queries, release) is one thread-pool trip, not three.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from user_service.config import Settings


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
