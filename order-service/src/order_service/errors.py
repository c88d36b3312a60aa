"""The domain error tree and its one translation to HTTP (RFC 9457 problem details).

Services and the user-service client raise domain errors; only this module (and the request
middleware, through ``problem_response``) turns anything into an HTTP error body::

    OrderServiceError                   a rule of the service was not met (status, slug, title)
    ├── AuthenticationRequiredError     401 /problems/authentication-required (no bearer token)
    ├── TokenRejectedError              401 /problems/invalid-token (RFC 6750 invalid_token)
    │   └── TokenRefusedError           user-service refused the token we had accepted
    ├── OrderNotFoundError              404 /problems/order-not-found (also: another buyer's)
    ├── UnknownUserError                422 /problems/unknown-user
    ├── IdempotencyKeyReusedError       422 /problems/idempotency-key-reused
    ├── UserServiceUnavailableError     503 /problems/user-service-unavailable + Retry-After
    │   └── CircuitOpenError            the breaker failed the lookup fast, no request was sent
    └── DatabaseUnavailableError        503 /problems/database-unavailable

    Also translated here: RequestValidationError (422 /problems/validation, with ``errors``),
    HTTPException (its status), SQLAlchemy OperationalError/InterfaceError and pool
    TimeoutError (503 /problems/database-unavailable). Anything else is answered by the request
    middleware as 500 /problems/internal with no details.

Bodies are ``{"type", "title", "status", "detail", "instance", "request_id"}`` and never
contain exception text, SQL or a stack trace. The 401s carry ``WWW-Authenticate: Bearer
realm="order-service"`` with the RFC 6750 error code (none when no token was sent).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from order_service.tokens import www_authenticate

PROBLEM_CONTENT_TYPE = "application/problem+json"
REALM = "order-service"

logger = logging.getLogger(__name__)


class OrderServiceError(Exception):
    """Base of the domain errors; each subclass knows its HTTP translation."""

    status: int = 500
    slug: str = "internal"
    title: str = "Internal error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)

    def headers(self) -> dict[str, str] | None:
        return None


class AuthenticationRequiredError(OrderServiceError):
    status, slug, title = 401, "authentication-required", "Authentication required"

    def __init__(self) -> None:
        super().__init__(
            "Send a bearer token from user-service: Authorization: Bearer <access_token>."
        )

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": www_authenticate(REALM)}


class TokenRejectedError(OrderServiceError):
    status, slug, title = 401, "invalid-token", "Invalid token"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"The bearer token was refused: {reason}.")

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": www_authenticate(REALM, "invalid_token", self.reason)}


class TokenRefusedError(TokenRejectedError):
    def __init__(self) -> None:
        super().__init__("the user service does not accept it")


class OrderNotFoundError(OrderServiceError):
    status, slug, title = 404, "order-not-found", "Order not found"

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id
        super().__init__(f"No order with id {order_id}.")


class UnknownUserError(OrderServiceError):
    status, slug, title = 422, "unknown-user", "Unknown user"

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"No user with id {user_id} exists; no order was stored.")


class IdempotencyKeyReusedError(OrderServiceError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request body; "
            "use a new key for a new order."
        )


class UserServiceUnavailableError(OrderServiceError):
    """user-service could not say whether the user exists; ``retry_after`` is a hint (s).

    ``reason`` (status, exception type) is for logs; clients get a fixed detail.
    """

    status, slug, title = 503, "user-service-unavailable", "User service unavailable"

    def __init__(self, reason: str, *, retry_after: float = 1.0) -> None:
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(
            "The user service could not confirm the user; no order was stored. "
            "Retry after the time in Retry-After."
        )

    def __str__(self) -> str:
        return self.reason

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class CircuitOpenError(UserServiceUnavailableError):
    def __init__(self, retry_after: float) -> None:
        super().__init__("circuit breaker open", retry_after=retry_after)


class DatabaseUnavailableError(OrderServiceError):
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
    assert isinstance(exc, OrderServiceError)
    if isinstance(exc, UserServiceUnavailableError):
        logger.warning("user-service unavailable: %s", exc.reason)
    return problem_response(
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        request_id=_request_id(request),
        headers=exc.headers(),
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
    app.add_exception_handler(OrderServiceError, _domain_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(HTTPException, _http_handler)
    for db_error in (OperationalError, InterfaceError, PoolTimeoutError):
        app.add_exception_handler(db_error, _database_handler)
