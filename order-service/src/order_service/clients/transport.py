"""The user-service client's transport: one request to user-service, and what its answer means.

``GET /users/{id}`` with the caller's own bearer token relayed and the current request's id
(``service_kit.log``) as ``X-Request-ID``: 200 -> ``UserRef`` with the name and email order-service
snapshots; 404 ``/problems/user-not-found`` (or 422 ``/problems/validation``: an id user-service
cannot hold) -> ``None``; 401 ``/problems/invalid-token`` -> ``TokenRefusedError``. A 404 or 401
of another problem ``type`` (a wrong base path, a proxy's page) is no verdict on the user. Each
other answer is classified for the policy (clients/policy.py): ``RetryableError`` (a transport
error, the attempt's time running out, 429/502/503/504 with their ``Retry-After``),
``NoVerdictError`` (another 4xx: our side's fault), or ``UserServiceUnavailableError`` (500, a
malformed body).

``fetch_jwks`` fetches the issuer's public keys for ``service_kit.tokens.JwksCache``: one attempt,
short timeouts, outside the policy (the cache bounds how often it is called and keeps known keys
when it fails).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from order_service.config import UserServiceClientSettings
from order_service.errors import TokenRefusedError, UserServiceUnavailableError
from order_service.user_directory import UserRef
from service_kit.log import current_request_id

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
USER_NOT_FOUND = "/problems/user-not-found"
VALIDATION = "/problems/validation"
INVALID_TOKEN = "/problems/invalid-token"  # noqa: S105  (a problem type, not a secret)
JWKS_PATH = "/.well-known/jwks.json"
_USER_AGENT = "order-service"


class RetryableError(Exception):
    """An attempt failed in a way that another attempt may not: ``retry_after`` is the
    server's hint (seconds), when it gave one."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class NoVerdictError(Exception):
    """user-service refused our request (4xx): says nothing about its health."""


class _UserBody(BaseModel):
    """The part of user-service's ``User`` that order-service reads (and snapshots)."""

    model_config = ConfigDict(extra="ignore")

    id: Annotated[int, Field(strict=True, ge=1)]
    name: Annotated[str, Field(strict=True, min_length=1, max_length=100)]
    email: Annotated[str, Field(strict=True, min_length=3, max_length=320)]


class _ProblemBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = "about:blank"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class UserServiceTransport:
    """One pooled ``httpx.AsyncClient`` to user-service (``http``: instrumented by the client)."""

    def __init__(
        self,
        settings: UserServiceClientSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._settings = settings
        self._wall_clock = wall_clock
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._in_flight: set[asyncio.Future[httpx.Response]] = set()  # strong references
        self.http = httpx.AsyncClient(
            base_url=settings.url,
            transport=transport,
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_keepalive,
            ),
            headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        for request in list(self._in_flight):
            request.cancel()  # the pool goes with the client: no slot left to leak
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self.http.aclose()

    async def get_user(self, user_id: int, *, token: str, budget: float) -> UserRef | None:
        """One attempt, its timeouts and its whole cut to ``budget`` seconds."""
        connect = min(self._settings.connect_timeout, budget)
        read = min(self._settings.read_timeout, budget)
        timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        headers = {"Authorization": f"Bearer {token}"}
        if request_id := current_request_id():
            headers["X-Request-ID"] = request_id
        try:
            # httpx's timeouts are per operation; the deadline caps the attempt as a whole.
            response = await self._send(
                lambda: self.http.get(f"/users/{user_id}", headers=headers, timeout=timeout),
                pool_timeout=connect,
                deadline=asyncio.get_running_loop().time() + budget,
            )
        except TimeoutError:
            raise RetryableError("attempt exceeded the deadline") from None
        except httpx.TransportError as exc:
            raise RetryableError(type(exc).__name__) from None
        return self._user_from(response)

    async def _send(
        self,
        send: Callable[[], Coroutine[Any, Any, httpx.Response]],
        *,
        pool_timeout: float,
        deadline: float | None = None,
    ) -> httpx.Response:
        """``send()`` once one of the pool's connections is ours, and never cancel it.

        httpcore's pool can keep the slot of a request cancelled while it waits for a connection
        (by the caller, or by its own pool timeout) for good, and then every later request fails
        with PoolTimeout (encode/httpcore#1093, open in 1.0.9). So requests wait for a slot here,
        where giving up leaves nothing behind (``httpx.PoolTimeout`` after ``pool_timeout``), and
        httpcore never queues one; and a request past ``deadline`` (loop time: ``TimeoutError``),
        or whose caller is cancelled, is left to end by its own timeouts, holding its slot until
        then.
        """
        loop = asyncio.get_running_loop()
        slot_deadline = loop.time() + pool_timeout
        try:
            async with asyncio.timeout_at(min(slot_deadline, deadline or slot_deadline)):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no connection to user-service free in time") from None
        request = asyncio.ensure_future(send())
        self._in_flight.add(request)
        request.add_done_callback(self._settled)
        async with asyncio.timeout_at(deadline):
            return await asyncio.shield(request)

    def _settled(self, request: asyncio.Future[httpx.Response]) -> None:
        self._in_flight.discard(request)
        self._slots.release()
        if not request.cancelled():
            request.exception()  # retrieved: an abandoned request's failure is not "unhandled"

    def _user_from(self, response: httpx.Response) -> UserRef | None:
        status = response.status_code
        if status == 200:
            try:
                body = _UserBody.model_validate_json(response.content)
            except ValidationError:
                raise UserServiceUnavailableError(
                    "user-service sent a malformed user body"
                ) from None
            return UserRef(id=body.id, name=body.name, email=body.email)
        kind = _problem_type(response)
        if (status, kind) in {(404, USER_NOT_FOUND), (422, VALIDATION)}:
            return None  # no such user; or an id that cannot be one
        if (status, kind) == (401, INVALID_TOKEN):
            raise TokenRefusedError()
        if status in RETRYABLE_STATUSES:
            raise RetryableError(
                f"user-service answered {status}",
                retry_after=retry_after(response, now=self._wall_clock()),
            )
        if 400 <= status < 500:
            logger.error("user-service refused the lookup", extra={"status": status})
            raise NoVerdictError(f"user-service answered {status}")
        raise UserServiceUnavailableError(f"user-service answered {status}")

    async def fetch_jwks(self) -> dict[str, object]:
        """user-service's JWKS document (one attempt); raises UserServiceUnavailableError."""
        try:
            response = await self._send(
                lambda: self.http.get(JWKS_PATH), pool_timeout=self._settings.connect_timeout
            )
        except httpx.HTTPError as exc:
            raise UserServiceUnavailableError(f"JWKS fetch failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise UserServiceUnavailableError(f"JWKS fetch answered {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise UserServiceUnavailableError("JWKS fetch answered malformed JSON") from None
        if not isinstance(document, dict):
            raise UserServiceUnavailableError("JWKS document is not an object")
        return document


def _problem_type(response: httpx.Response) -> str | None:
    """The problem ``type`` of an RFC 9457 answer; None when the body is not a problem."""
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        return _ProblemBody.model_validate_json(response.content).type
    except ValidationError:
        return None


def retry_after(response: httpx.Response, *, now: datetime) -> float | None:
    """``Retry-After`` in seconds (delta-seconds, or an HTTP date counted from ``now``), or None
    when absent or garbled."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
