"""What order-service's routes get injected beyond the kit's ``SessionsDep``; override these with
``app.dependency_overrides`` in tests.

``async def``, like the kit's: they hand out what the lifespan built (no I/O), so FastAPI calls
them on the event loop instead of the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from order_service.config import Settings
from order_service.service import Buyer
from order_service.user_directory import UserDirectory
from service_kit.auth import bearer_principal
from service_kit.tokens import Principal

# Declares bearer auth in the OpenAPI document; auto_error=False: a missing token gets the kit's
# problem (401 + WWW-Authenticate), not FastAPI's 403.
bearer_scheme = HTTPBearer(
    auto_error=False, description="An access token from user-service's POST /token"
)
caller = bearer_principal(bearer_scheme)


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_user_directory(request: Request) -> UserDirectory:
    """The app's one user-service client (opened and closed by the lifespan)."""
    directory: UserDirectory = request.app.state.user_directory
    return directory


async def get_buyer(principal: Annotated[Principal, Depends(caller)]) -> Buyer:
    """The caller, from a bearer token verified locally against user-service's JWKS (401 when
    it is missing or refused, 503 when its key cannot be fetched): the order's buyer."""
    return Buyer(user_id=principal.user_id, token=principal.token)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
UserDirectoryDep = Annotated[UserDirectory, Depends(get_user_directory)]
BuyerDep = Annotated[Buyer, Depends(get_buyer)]
