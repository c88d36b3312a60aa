"""What user-service's routes get injected beyond the kit's ``SessionsDep``; override these with
``app.dependency_overrides`` in tests.

``service_kit.deps.app_state``, like the kit's: they hand out what ``create_app`` built (no I/O),
on the event loop instead of the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from service_kit.auth import bearer_principal
from service_kit.deps import app_state
from service_kit.tokens import Principal
from user_service.config import Settings
from user_service.errors import ClientRateLimitedError
from user_service.passwords import PasswordHasher
from user_service.ratelimit import ClientRateLimiter
from user_service.signing import KeyRing
from user_service.throttle import LoginThrottle

# Declares the OAuth2 password flow (and its tokenUrl) in the OpenAPI document, so /docs can
# authorize; auto_error=False: a missing token is answered by the kit's problem, not FastAPI's.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


get_app_settings = app_state("settings", Settings)
get_hasher = app_state("hasher", PasswordHasher)
get_throttle = app_state("login_throttle", LoginThrottle)
get_keyring = app_state("keyring", KeyRing)
get_client_limiter = app_state("client_limiter", ClientRateLimiter)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]
KeyRingDep = Annotated[KeyRing, Depends(get_keyring)]
# the verified bearer token (401 when missing or refused); subjects are user ids
PrincipalDep = Annotated[Principal, Depends(bearer_principal(oauth2_scheme))]


async def limit_client(
    request: Request, limiter: Annotated[ClientRateLimiter, Depends(get_client_limiter)]
) -> None:
    """The per-client budget of the password endpoints: 429 + ``Retry-After`` when spent."""
    if (retry_after := limiter.take(request.client.host if request.client else None)) is not None:
        raise ClientRateLimitedError(retry_after)
