"""What order-service's routes get injected beyond the kit's ``SessionsDep``; override these with
``app.dependency_overrides`` in tests.

``service_kit.deps.app_state``, like the kit's: they hand out what the lifespan built (no I/O),
on the event loop instead of the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPBearer

from order_service.config import Settings
from order_service.service import Buyer
from order_service.user_directory import UserDirectory
from service_kit.auth import bearer_principal
from service_kit.deps import app_state
from service_kit.tokens import Principal

# Declares bearer auth in the OpenAPI document; auto_error=False: a missing token gets the kit's
# problem (401 + WWW-Authenticate), not FastAPI's 403.
bearer_scheme = HTTPBearer(
    auto_error=False, description="An access token from user-service's POST /token"
)
caller = bearer_principal(bearer_scheme)


get_app_settings = app_state("settings", Settings)
# the app's one user-service client (opened and closed by the lifespan); UserDirectory is a
# Protocol, which mypy refuses as a type[T] argument although only its name is used
get_user_directory = app_state("user_directory", UserDirectory)  # type: ignore[type-abstract]


async def get_buyer(principal: Annotated[Principal, Depends(caller)]) -> Buyer:
    """The caller, from a bearer token verified locally against user-service's JWKS (401 when
    it is missing or refused, 503 when its key cannot be fetched): the order's buyer."""
    return Buyer(user_id=principal.user_id, token=principal.token)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
UserDirectoryDep = Annotated[UserDirectory, Depends(get_user_directory)]
BuyerDep = Annotated[Buyer, Depends(get_buyer)]
