"""Problem details (RFC 9457) and the one translation of errors to HTTP.

A service raises domain errors, subclasses of ``ServiceError`` that declare their status, slug,
title and, when it is fixed, detail. An error that tells the client when to come back carries
``retry_after`` (seconds), sent as ``Retry-After`` in whole seconds, at least 1; one that asks
for a bearer token states its ``challenge()``, sent as ``WWW-Authenticate`` with the service's
name as the realm. ``install_error_handlers`` answers them, and everything else an app can
raise, with one body shape::

    ServiceError                 a rule of the service was not met (status, slug, title)
    ├── <the service's errors>   drawn in each service's ``errors.py``
    ├── DatabaseUnavailableError 503 /problems/database-unavailable
    └── InternalError            500 /problems/internal: what the request middleware answers to
                                     anything else, with no details

    Also translated here: RequestValidationError (422 /problems/validation, with ``errors``),
    HTTPException (its status), SQLAlchemy OperationalError/InterfaceError and pool
    TimeoutError (503 /problems/database-unavailable).

Bodies are ``{"type", "title", "status", "detail", "instance", "request_id"}`` and never
contain exception text, SQL or a stack trace.
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

from service_kit.tokens import www_authenticate

PROBLEM_CONTENT_TYPE = "application/problem+json"

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of every domain error; each subclass knows its HTTP translation.

    A subclass declares ``detail`` when it is always the same (else the title stands in), and
    ``retry_after`` when it has a default hint.
    """

    status: int = 500
    slug: str = "internal"
    title: str = "Internal error"
    detail: str = ""
    retry_after: float | None = None

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None) -> None:
        self.detail = detail or self.detail or self.title
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.detail)

    def headers(self) -> dict[str, str] | None:
        """Response headers the error adds: ``Retry-After`` when it carries a hint."""
        if self.retry_after is None:
            return None
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}

    def challenge(self) -> tuple[str | None, str | None] | None:
        """The RFC 6750 error code and description of the ``WWW-Authenticate: Bearer``
        challenge the answer carries ((None, None): a bare one), whose realm is the service's
        name; None when it carries none."""
        return None

    def extra(self) -> dict[str, Any] | None:
        """Extension members of the problem body (RFC 9457 section 3.2)."""
        return None


class DatabaseUnavailableError(ServiceError):
    status, slug, title = 503, "database-unavailable", "Database unavailable"
    detail = "The database is not answering; try again shortly."


class InternalError(ServiceError):  # ServiceError's own status, slug and title
    detail = "The server failed to answer; the error is logged under this request id."


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


def error_problem(
    exc: ServiceError, *, instance: str, request_id: str | None, realm: str | None = None
) -> JSONResponse:
    """The problem a domain error stands for; ``realm`` (the service's name) when it carries a
    challenge."""
    headers = exc.headers()
    if (challenge := exc.challenge()) is not None:
        if realm is None:
            raise ValueError(f"{type(exc).__name__} carries a challenge: its realm is needed")
        headers = {"WWW-Authenticate": www_authenticate(realm, *challenge), **(headers or {})}
    return problem_response(
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        instance=instance,
        request_id=request_id,
        headers=headers,
        extra=exc.extra(),
    )


def internal_problem(*, instance: str, request_id: str | None) -> JSONResponse:
    return error_problem(InternalError(), instance=instance, request_id=request_id)


def validation_problem(
    exc: RequestValidationError, *, instance: str, request_id: str | None
) -> JSONResponse:
    # loc, msg and type only: the rejected input (``input``, ``ctx``) is never echoed back.
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


def _realm(request: Request) -> str | None:
    """The service's name (``app.state.settings``), the realm of every challenge it sends."""
    settings = getattr(request.app.state, "settings", None)
    return None if settings is None else str(settings.service_name)


def _domain_problem(request: Request, exc: ServiceError) -> JSONResponse:
    return error_problem(
        exc, instance=request.url.path, request_id=_request_id(request), realm=_realm(request)
    )


async def _domain_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    if exc.status >= 500:  # a dependency failed: the client sees a fixed detail, the log why
        logger.warning("%s: %s", exc.title, exc)
    return _domain_problem(request, exc)


async def _database_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", type(exc).__name__, exc_info=exc)
    return _domain_problem(request, DatabaseUnavailableError())


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
    app.add_exception_handler(ServiceError, _domain_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(HTTPException, _http_handler)
    for db_error in (OperationalError, InterfaceError, PoolTimeoutError):
        app.add_exception_handler(db_error, _database_handler)
