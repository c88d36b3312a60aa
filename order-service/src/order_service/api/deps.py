"""What routes get injected; override these with ``app.dependency_overrides`` in tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from order_service.config import Settings
from order_service.db import session_scope
from order_service.users import UserDirectory


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    yield from session_scope(engine)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_user_directory(request: Request) -> UserDirectory:
    """The app's one user-service client (opened and closed by the lifespan)."""
    directory: UserDirectory = request.app.state.user_directory
    return directory


UsersDep = Annotated[UserDirectory, Depends(get_user_directory)]
