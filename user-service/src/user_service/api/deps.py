"""What user-service's routes get injected: the caller, and the ``Users`` use cases the app built
at startup; override these with ``app.dependency_overrides`` in tests.

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
from user_service.service import Users

# Declares the OAuth2 password flow (and its tokenUrl) in the OpenAPI document, so /docs can
# authorize; auto_error=False: a missing token is answered by the kit's problem, not FastAPI's.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)

# the caller, from a verified bearer token (401 when missing or refused); subjects are user ids
get_principal = bearer_principal(oauth2_scheme)
# the app's one Users (built by create_app)
get_users = app_state("users", Users)

PrincipalDep = Annotated[Principal, Depends(get_principal)]
UsersDep = Annotated[Users, Depends(get_users)]


async def limit_client(request: Request, users: UsersDep) -> None:
    """The per-client budget of the password endpoints (429 + ``Retry-After`` when spent),
    checked before the body is validated, so a malformed request spends it too."""
    users.admit(request.client.host if request.client else None)
