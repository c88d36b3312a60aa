"""Bearer authentication for routes: the token verified locally, or an RFC 6750 problem.

A service builds its verifier once (``service_kit.tokens.TokenVerifier``: the issuer's own keys,
or a JWKS fetched from it) and puts it on ``app.state.token_verifier``; routes then take
``principal: Annotated[Principal, Depends(bearer_principal(scheme))]``, where ``scheme`` is the
FastAPI security scheme the OpenAPI document should declare (``OAuth2PasswordBearer`` where the
service issues tokens, ``HTTPBearer`` elsewhere), created with ``auto_error=False`` so a missing
token is answered here, as a problem::

    ServiceError                      service_kit.problems
    ├── AuthenticationRequiredError   401 /problems/authentication-required (no bearer token)
    ├── TokenRejectedError            401 /problems/invalid-token (error="invalid_token")
    ├── ForbiddenError                403 /problems/forbidden (error="insufficient_scope")
    └── IssuerUnavailableError        503 /problems/token-issuer-unavailable + Retry-After: the
                                          token names a key we lack and the issuer cannot be asked

The 401s and the 403 carry ``WWW-Authenticate: Bearer realm="<service>"`` with the RFC 6750
error code and description (none when no token was sent, RFC 6750 section 3.1): each error
states its ``challenge()``, and ``service_kit.problems`` adds the realm, the service's name.
"""

# No ``from __future__ import annotations``: FastAPI must see the closure's ``Depends(scheme)``
# in ``bearer_principal`` as an object, not as a string it cannot resolve.
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.base import SecurityBase

from service_kit.problems import ServiceError
from service_kit.tokens import InvalidTokenError, KeysUnavailableError, Principal, TokenVerifier


class AuthenticationRequiredError(ServiceError):
    status, slug, title = 401, "authentication-required", "Authentication required"
    detail = "Send a bearer token: Authorization: Bearer <access_token>."

    def challenge(self) -> tuple[str | None, str | None]:
        return None, None


class TokenRejectedError(ServiceError):
    status, slug, title = 401, "invalid-token", "Invalid token"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"The bearer token was refused: {reason}.")

    def challenge(self) -> tuple[str | None, str | None]:
        return "invalid_token", self.reason


class ForbiddenError(ServiceError):
    status, slug, title = 403, "forbidden", "Forbidden"
    detail = "The token does not allow this request."

    def challenge(self) -> tuple[str | None, str | None]:
        return "insufficient_scope", None


class IssuerUnavailableError(ServiceError):
    status, slug, title = 503, "token-issuer-unavailable", "Token issuer unavailable"
    detail = (
        "The token is signed with a key this service does not have yet, and the issuer "
        "cannot be asked for it now; retry after the time in Retry-After."
    )
    retry_after = 5


async def get_token_verifier(request: Request) -> TokenVerifier:
    """The app's verifier (``app.state.token_verifier``); override it in tests."""
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


def bearer_principal(
    scheme: SecurityBase, *, user_subject: bool = True
) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the verified principal of the request's bearer token, read through
    ``scheme`` (which also declares the security scheme in the OpenAPI document). With
    ``user_subject`` a subject that is not a user id is refused like any invalid token."""

    async def principal(
        credentials: Annotated[Any, Depends(scheme)],
        verifier: Annotated[TokenVerifier, Depends(get_token_verifier)],
    ) -> Principal:
        token = (
            credentials.credentials
            if isinstance(credentials, HTTPAuthorizationCredentials)
            else credentials
        )
        if not isinstance(token, str) or not token:
            raise AuthenticationRequiredError()
        try:
            verified = await verifier.verify(token)
            if user_subject:
                verified.user_id  # noqa: B018  (raises InvalidTokenError when it is not one)
            return verified
        except InvalidTokenError as exc:
            raise TokenRejectedError(exc.reason) from None
        except KeysUnavailableError:
            raise IssuerUnavailableError() from None

    return principal
