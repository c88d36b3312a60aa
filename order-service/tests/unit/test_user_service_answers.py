"""What each answer of user-service means (clients/transport.py), through the client and on the
transport alone, against httpx.MockTransport: the table in docs/design.md, "order-service's calls
to user-service". Nothing sleeps for real: the client's clock is the fake one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from order_service.clients.breaker import BreakerState
from order_service.clients.transport import (
    NoVerdictError,
    RetryableError,
    UserServiceTransport,
    retry_after,
)
from order_service.clients.user_service_client import UserServiceClient
from order_service.config import UserServiceClientSettings
from order_service.errors import TokenRefusedError, UserServiceUnavailableError
from order_service.user_directory import UserRef
from service_kit.log import request_id_var

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

MakeClient = Callable[..., UserServiceClient]
TOKEN = "header.payload.signature"
ADA = UserRef(id=42, name="Ada", email="ada@example.com")
PROBLEM_JSON = {"Content-Type": "application/problem+json"}


async def test_get_user_maps_200_to_a_user_ref_with_id_name_and_email(
    make_client: MakeClient, script: Any
) -> None:
    answers = script(script.ok(42))
    client = make_client(answers)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert answers.requests[0].method == "GET"
    assert answers.requests[0].url.path == "/users/42"
    await client.aclose()


async def test_get_user_returns_none_on_404_without_retrying(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    answers = script(script.status(404))
    client = make_client(answers)
    assert await client.get_user(7, token=TOKEN) is None
    assert len(answers.requests) == 1
    assert clock.sleeps == []


async def test_get_user_returns_none_when_user_service_refuses_the_id_with_422(
    make_client: MakeClient, script: Any
) -> None:
    """An id user-service refuses cannot be a user: unknown, not "unavailable, retry"."""
    answers = script(script.status(422), script.status(500), script.status(422))
    client = make_client(answers, failure_threshold=2)
    assert await client.get_user(2**31, token=TOKEN) is None
    assert len(answers.requests) == 1
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert await client.get_user(2**31, token=TOKEN) is None
    assert client.breaker.state is BreakerState.CLOSED, "a refusal is an answer, not a failure"


NOT_A_USER: dict[str, dict[str, Any]] = {  # 200 bodies, as httpx.Response keywords
    "not-json": {"content": b"<html>not json</html>"},
    "no-id": {"json": {"name": "no id"}},
    "id-not-int": {"json": {"id": "forty-two"}},
    "not-object": {"json": [1, 2]},
    "no-name": {"json": {"id": 42, "email": "ada@example.com"}},
    "no-email": {"json": {"id": 42, "name": "Ada"}},
    "empty-name": {"json": {"id": 42, "name": "", "email": "ada@example.com"}},
}


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        *[
            pytest.param(httpx.Response(code, json={"status": code}), str(code), id=str(code))
            for code in (400, 401, 403, 409, 500)
        ],
        *[
            pytest.param(httpx.Response(200, **body), "malformed", id=name)
            for name, body in NOT_A_USER.items()
        ],
    ],
)
async def test_get_user_reports_an_answer_it_cannot_use_as_unavailable_without_retrying(
    make_client: MakeClient, script: Any, response: httpx.Response, reason: str
) -> None:
    """Another 4xx (our side's fault), a 500, or a body that is not a user: never retried."""
    answers = script(response)
    client = make_client(answers)
    with pytest.raises(UserServiceUnavailableError, match=reason):
        await client.get_user(42, token=TOKEN)
    assert len(answers.requests) == 1


async def test_the_callers_token_is_relayed_as_a_bearer_token(
    make_client: MakeClient, script: Any
) -> None:
    answers = script(script.ok(42))
    client = make_client(answers)
    await client.get_user(42, token=TOKEN)
    assert answers.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_the_request_id_of_the_current_request_is_forwarded(
    make_client: MakeClient, script: Any
) -> None:
    """It travels in the kit's context variable (set by the request middleware), not as an
    argument of every call on the way."""
    answers = script(script.ok())
    client = make_client(answers)
    token = request_id_var.set("abc")
    try:
        await client.get_user(42, token=TOKEN)
    finally:
        request_id_var.reset(token)
    await client.get_user(42, token=TOKEN)
    assert answers.requests[0].headers["X-Request-ID"] == "abc"
    assert answers.requests[0].headers["Accept"] == "application/json"
    assert "X-Request-ID" not in answers.requests[1].headers  # outside a request: none


async def test_a_401_invalid_token_problem_is_token_refused_and_leaves_the_breaker(
    make_client: MakeClient, script: Any
) -> None:
    answers = script(script.problem(401, "/problems/invalid-token"))
    client = make_client(answers, failure_threshold=1)
    for _ in range(3):
        with pytest.raises(TokenRefusedError):
            await client.get_user(42, token=TOKEN)
    assert len(answers.requests) == 3  # not retried, and the breaker never opened
    assert client.breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("code", "headers", "body"),
    [
        (404, PROBLEM_JSON, {"type": "/problems/not-found", "status": 404}),
        (404, {}, {"type": "/problems/user-not-found"}),  # not a problem document
        (404, {}, "<html>Not Found</html>"),
        (401, PROBLEM_JSON, {"type": "/problems/authentication-required", "status": 401}),
    ],
    ids=["router-404", "json-404", "html-404", "other-401"],
)
async def test_a_404_or_401_of_another_type_is_no_verdict_on_the_user(
    make_client: MakeClient, script: Any, code: int, headers: dict[str, str], body: Any
) -> None:
    """A wrong base path or a proxy's page must not be taken for "no such user"."""
    content = {"text": body} if isinstance(body, str) else {"json": body}
    client = make_client(script(httpx.Response(code, headers=headers, **content)))
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)


async def test_fetch_jwks_returns_the_document(make_client: MakeClient, script: Any) -> None:
    document = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "k"}]}
    answers = script(httpx.Response(200, json=document))
    client = make_client(answers)
    assert await client.fetch_jwks() == document
    assert answers.requests[0].url.path == "/.well-known/jwks.json"
    assert "Authorization" not in answers.requests[0].headers


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.Response(503),
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json=[1]),
        httpx.ConnectError("refused"),
    ],
    ids=["503", "not-json", "not-object", "refused"],
)
async def test_fetch_jwks_failures_are_unavailable(
    make_client: MakeClient, script: Any, outcome: httpx.Response | Exception
) -> None:
    client = make_client(script(outcome))
    with pytest.raises(UserServiceUnavailableError):
        await client.fetch_jwks()


async def test_an_attempt_that_outlives_its_budget_is_abandoned_not_cancelled(
    make_client: MakeClient, script: Any
) -> None:
    """Cancelling a request inside httpx's pool can leak its slot for good (encode/httpcore#1093:
    every later lookup then fails with PoolTimeout): the attempt stops waiting at its budget,
    and the request ends by its own timeouts, each cut to that budget."""
    release = asyncio.Event()
    cancelled: list[httpx.Request] = []

    class Stuck(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            try:
                await release.wait()
            except asyncio.CancelledError:
                cancelled.append(request)
                raise
            return script.ok()  # type: ignore[no-any-return]

    client = make_client(script.ok, transport=Stuck(), max_attempts=1, deadline=0.05)
    with pytest.raises(UserServiceUnavailableError, match="deadline"):
        await client.get_user(42, token=TOKEN)
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert cancelled == []
    await client.aclose()


async def test_no_more_requests_reach_httpx_than_its_pool_holds(
    make_client: MakeClient, script: Any
) -> None:
    """The others wait for a slot in the client, where giving up leaves nothing behind, and
    fail like a full pool (PoolTimeout, retried): httpcore's own queue is never used."""
    release = asyncio.Event()
    active = peak = 0

    class Stuck(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await release.wait()
            active -= 1
            return script.ok()  # type: ignore[no-any-return]

    client = make_client(
        script.ok, transport=Stuck(), max_connections=2, max_keepalive=2, max_attempts=1,
        deadline=0.05, connect_timeout=0.01,
    )  # fmt: skip
    lookups = (client.get_user(42, token=TOKEN) for _ in range(5))
    failures = await asyncio.gather(*lookups, return_exceptions=True)
    assert peak == 2
    assert sorted(str(f).removeprefix("user-service lookup failed: ") for f in failures) == [
        "PoolTimeout", "PoolTimeout", "PoolTimeout",
        "attempt exceeded the deadline", "attempt exceeded the deadline",
    ]  # fmt: skip
    release.set()
    await client.aclose()


# --- the transport alone: what it tells the policy ------------------------------------------


def _transport(response: httpx.Response | Exception) -> UserServiceTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    settings = UserServiceClientSettings(url="http://user-service.test")
    return UserServiceTransport(settings, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("outcome", "reason", "hint"),
    [
        (httpx.Response(429, headers={"Retry-After": "3"}), "user-service answered 429", 3.0),
        (httpx.Response(502), "user-service answered 502", None),
        (httpx.ConnectError("refused"), "ConnectError", None),
        (httpx.ReadTimeout("slow"), "ReadTimeout", None),
    ],
    ids=["429", "502", "refused", "read-timeout"],
)
async def test_the_transport_calls_a_gateway_answer_or_a_transport_error_retryable(
    outcome: httpx.Response | Exception, reason: str, hint: float | None
) -> None:
    transport = _transport(outcome)
    with pytest.raises(RetryableError, match=reason) as info:
        await transport.get_user(42, token=TOKEN, budget=1.0)
    assert info.value.retry_after == hint
    await transport.aclose()


async def test_the_transport_calls_another_4xx_no_verdict() -> None:
    transport = _transport(httpx.Response(403, json={"status": 403}))
    with pytest.raises(NoVerdictError, match="403"):
        await transport.get_user(42, token=TOKEN, budget=1.0)
    await transport.aclose()


NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 2 ", 2.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("soon", None),
        ("-1", None),
        ("Mon, 24 Nov 2026 12:00:30", None),  # a date without a zone is garbled
        (None, None),
    ],
    ids=["seconds", "spaces", "date", "past-date", "word", "negative", "no-zone", "absent"],
)
def test_retry_after_reads_seconds_or_an_http_date_counted_from_now(
    value: str | None, seconds: float | None
) -> None:
    headers = {} if value is None else {"Retry-After": value}
    assert retry_after(httpx.Response(503, headers=headers), now=NOW) == seconds
