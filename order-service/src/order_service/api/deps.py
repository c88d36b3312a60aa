"""What order-service's routes get injected beyond the kit's ``SessionsDep``; override these with
``app.dependency_overrides`` in tests.

``async def``, like the kit's: they hand out what the lifespan built (no I/O), so FastAPI calls
them on the event loop instead of the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from order_service.config import Settings
from order_service.user_directory import UserDirectory


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_user_directory(request: Request) -> UserDirectory:
    """The app's one user-service client (opened and closed by the lifespan)."""
    directory: UserDirectory = request.app.state.user_directory
    return directory


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
UserDirectoryDep = Annotated[UserDirectory, Depends(get_user_directory)]
