"""What user-service's routes get injected beyond the kit's ``SessionsDep``; override these with
``app.dependency_overrides`` in tests.

``async def``, like the kit's: they hand out what ``create_app`` built (no I/O), so FastAPI calls
them on the event loop instead of the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from service_kit.auth import bearer_principal
from service_kit.tokens import Principal
from user_service.config import Settings
from user_service.passwords import PasswordHasher
from user_service.signing import KeyRing
from user_service.throttle import LoginThrottle

# Declares the OAuth2 password flow (and its tokenUrl) in the OpenAPI document, so /docs can
# authorize; auto_error=False: a missing token is answered by the kit's problem, not FastAPI's.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.hasher
    return hasher


async def get_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


async def get_keyring(request: Request) -> KeyRing:
    keyring: KeyRing = request.app.state.keyring
    return keyring


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]
KeyRingDep = Annotated[KeyRing, Depends(get_keyring)]
# the verified bearer token (401 when missing or refused); subjects are user ids
PrincipalDep = Annotated[Principal, Depends(bearer_principal(oauth2_scheme))]
