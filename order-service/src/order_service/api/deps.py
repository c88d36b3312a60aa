"""What routes get injected; override these with ``app.dependency_overrides`` in tests.

They only hand out what the lifespan built (no I/O), so they are ``async def``: FastAPI calls
them on the event loop instead of sending each one through the thread pool. Routes get the
session factory, not a session, and open sessions where the blocking work runs, so each unit of
database work (checkout, queries, release) is one thread-pool trip.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from order_service.config import Settings
from order_service.users import UserDirectory


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


async def get_user_directory(request: Request) -> UserDirectory:
    """The app's one user-service client (opened and closed by the lifespan)."""
    directory: UserDirectory = request.app.state.user_directory
    return directory


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
UsersDep = Annotated[UserDirectory, Depends(get_user_directory)]
