"""What routes get injected; override these with ``app.dependency_overrides`` in tests.

They only hand out what the lifespan built (no I/O), so they are ``async def``: FastAPI calls
them on the event loop instead of sending each one through the thread pool. Sync routes get the
session factory, not a session, and open the session themselves, so a request's blocking
database work (checkout, queries, release) is one thread-pool trip, not three.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from user_service.config import Settings
from user_service.errors import AuthenticationRequiredError, TokenRejectedError
from user_service.passwords import PasswordHasher
from user_service.signing import KeyRing
from user_service.throttle import LoginThrottle
from user_service.tokens import InvalidTokenError, Principal, TokenVerifier

# Declares the OAuth2 password flow (and its tokenUrl) in the OpenAPI document, so /docs can
# authorize; auto_error=False: a missing token is answered by our problem, not FastAPI's.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


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


async def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.hasher
    return hasher


async def get_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


async def get_keyring(request: Request) -> KeyRing:
    keyring: KeyRing = request.app.state.keyring
    return keyring


async def get_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The verified bearer token's principal: 401 when the token is missing or refused."""
    if token is None:
        raise AuthenticationRequiredError()
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        principal = await verifier.verify(token)
        principal.user_id  # noqa: B018  (user-service's subjects are user ids)
    except InvalidTokenError as exc:
        raise TokenRejectedError(exc.reason) from None
    return principal


HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]
KeyRingDep = Annotated[KeyRing, Depends(get_keyring)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
