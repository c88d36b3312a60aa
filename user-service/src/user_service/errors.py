"""The domain error tree and its one translation to HTTP (RFC 9457 problem details).

Services raise domain errors; only this module (and the request middleware, through
``problem_response``) turns anything into an HTTP error body::

    UserServiceError               a rule of the service was not met (status, slug, title)
    ├── UserNotFoundError          404 /problems/user-not-found
    ├── EmailTakenError            409 /problems/email-taken
    ├── InvalidCredentialsError    401 /problems/invalid-credentials (token endpoint; same answer
    │                                  for a wrong password and an unknown email)
    ├── LoginThrottledError        429 /problems/too-many-login-failures + Retry-After
    ├── AuthenticationRequiredError 401 /problems/authentication-required (no bearer token)
    ├── TokenRejectedError         401 /problems/invalid-token (RFC 6750 invalid_token)
    ├── ForbiddenError             403 /problems/forbidden (RFC 6750 insufficient_scope)
    └── DatabaseUnavailableError   503 /problems/database-unavailable

    The 401s and the 403 carry ``WWW-Authenticate: Bearer realm="user-service"`` with the RFC 6750
    error code (none when no token was sent).

    Also translated here: RequestValidationError (422 /problems/validation, with ``errors``),
    HTTPException (its status), SQLAlchemy OperationalError/InterfaceError and pool
    TimeoutError (503 /problems/database-unavailable). Anything else is answered by the request
    middleware as 500 /problems/internal with no details.

Bodies are ``{"type", "title", "status", "detail", "instance", "request_id"}`` and never
contain exception text, SQL or a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from user_service.tokens import www_authenticate

PROBLEM_CONTENT_TYPE = "application/problem+json"
REALM = "user-service"

logger = logging.getLogger(__name__)


class UserServiceError(Exception):
    """Base of the domain errors; each subclass knows its HTTP translation."""

    status: int = 500
    slug: str = "internal"
    title: str = "Internal error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)

    def headers(self) -> dict[str, str] | None:
        return None

    def extra(self) -> dict[str, Any] | None:
        return None


class UserNotFoundError(UserServiceError):
    status, slug, title = 404, "user-not-found", "User not found"

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"No user with id {user_id}.")


class EmailTakenError(UserServiceError):
    status, slug, title = 409, "email-taken", "Email already registered"

    def __init__(self) -> None:
        super().__init__("A user with this email already exists.")


class InvalidCredentialsError(UserServiceError):
    status, slug, title = 401, "invalid-credentials", "Invalid credentials"

    def __init__(self) -> None:
        super().__init__("The email or the password is wrong.")

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": www_authenticate(REALM)}

    def extra(self) -> dict[str, Any] | None:
        return {"error": "invalid_grant"}  # RFC 6749 section 5.2, for OAuth2 clients


class LoginThrottledError(UserServiceError):
    status, slug, title = 429, "too-many-login-failures", "Too many failed logins"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__("Too many failed logins for this account; retry after Retry-After.")

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)}


class AuthenticationRequiredError(UserServiceError):
    status, slug, title = 401, "authentication-required", "Authentication required"

    def __init__(self) -> None:
        super().__init__("Send a bearer token: Authorization: Bearer <access_token> (POST /token).")

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": www_authenticate(REALM)}


class TokenRejectedError(UserServiceError):
    status, slug, title = 401, "invalid-token", "Invalid token"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"The bearer token was refused: {reason}.")

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": www_authenticate(REALM, "invalid_token", self.reason)}


class ForbiddenError(UserServiceError):
    status, slug, title = 403, "forbidden", "Forbidden"

    def __init__(self, detail: str = "The token does not allow this request.") -> None:
        super().__init__(detail)

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": www_authenticate(REALM, "insufficient_scope")}


class DatabaseUnavailableError(UserServiceError):
    status, slug, title = 503, "database-unavailable", "Database unavailable"

    def __init__(self) -> None:
        super().__init__("The database is not answering; try again shortly.")


_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("content-too-large", "Content too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def problem_response(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    request_id: str | None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
    }
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)


def http_problem(status: int, *, instance: str, request_id: str | None) -> JSONResponse:
    """A problem for a plain HTTP status (router 404/405, body too large, ...)."""
    slug, title = _HTTP_SLUGS.get(status, (f"http-{status}", f"HTTP {status}"))
    return problem_response(
        status=status,
        slug=slug,
        title=title,
        detail=title + ".",
        instance=instance,
        request_id=request_id,
    )


def internal_problem(*, instance: str, request_id: str | None) -> JSONResponse:
    return problem_response(
        status=500,
        slug="internal",
        title="Internal error",
        detail="The server failed to answer; the error is logged under this request id.",
        instance=instance,
        request_id=request_id,
    )


def validation_problem(
    exc: RequestValidationError, *, instance: str, request_id: str | None
) -> JSONResponse:
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]
    return problem_response(
        status=422,
        slug="validation",
        title="Invalid request",
        detail="The request does not match the schema; see errors.",
        instance=instance,
        request_id=request_id,
        extra={"errors": errors},
    )


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _domain_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UserServiceError)
    return problem_response(
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        request_id=_request_id(request),
        headers=exc.headers(),
        extra=exc.extra(),
    )


async def _database_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", type(exc).__name__, exc_info=exc)
    return await _domain_handler(request, DatabaseUnavailableError())


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(exc, instance=request.url.path, request_id=_request_id(request))


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    response = http_problem(
        exc.status_code, instance=request.url.path, request_id=_request_id(request)
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(UserServiceError, _domain_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(HTTPException, _http_handler)
    for db_error in (OperationalError, InterfaceError, PoolTimeoutError):
        app.add_exception_handler(db_error, _database_handler)
