"""What routes get injected; override these with ``app.dependency_overrides`` in tests.

They only hand out what the lifespan built (no I/O), so they are ``async def``: FastAPI calls
them on the event loop instead of sending each one through the thread pool. Routes get the
session factory, not a session, and open sessions where the blocking work runs, so each unit of
database work (checkout, queries, release) is one thread-pool trip.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from order_service.config import Settings
from order_service.errors import (
    AuthenticationRequiredError,
    TokenRejectedError,
    UserServiceUnavailableError,
)
from order_service.service import Buyer
from order_service.tokens import InvalidTokenError, KeysUnavailableError, TokenVerifier
from order_service.users import UserDirectory

# Declares bearer auth in the OpenAPI document; auto_error=False: a missing token gets our
# problem (401 + WWW-Authenticate), not FastAPI's 403.
bearer_scheme = HTTPBearer(
    auto_error=False, description="An access token from user-service's POST /token"
)


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


async def get_token_verifier(request: Request) -> TokenVerifier:
    """The app's verifier: user-service's public keys, cached (built by the lifespan)."""
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


async def get_buyer(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    verifier: Annotated[TokenVerifier, Depends(get_token_verifier)],
) -> Buyer:
    """The caller, from a bearer token verified locally: 401 when it is missing or refused,
    503 when it names a key we do not have and user-service cannot be asked for it."""
    if credentials is None:
        raise AuthenticationRequiredError()
    try:
        principal = await verifier.verify(credentials.credentials)
        return Buyer(user_id=principal.user_id, token=credentials.credentials)
    except InvalidTokenError as exc:
        raise TokenRejectedError(exc.reason) from None
    except KeysUnavailableError:
        raise UserServiceUnavailableError("the token's signing key could not be fetched") from None


BuyerDep = Annotated[Buyer, Depends(get_buyer)]
