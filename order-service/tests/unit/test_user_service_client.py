"""The user-service client against httpx.MockTransport: retries, deadline, breaker, mapping.

Nothing sleeps for real: the client's sleep and clock are the fake clock's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from order_service.clients.breaker import BreakerState
from order_service.clients.user_service_client import UserServiceClient
from order_service.errors import (
    CircuitOpenError,
    TokenRefusedError,
    UserServiceUnavailableError,
)
from order_service.user_directory import UserRef

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

MakeClient = Callable[..., UserServiceClient]
TOKEN = "header.payload.signature"
ADA = UserRef(id=42, name="Ada", email="ada@example.com")
PROBLEM_JSON = {"Content-Type": "application/problem+json"}


class Script:
    """A handler that answers from a list of responses/exceptions, counting requests."""

    def __init__(
        self, *outcomes: httpx.Response | Exception | Callable[[httpx.Request], Any]
    ) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, httpx.Response):
            return outcome
        result = outcome(request)
        assert isinstance(result, httpx.Response)
        return result


def ok(user_id: int = 42) -> httpx.Response:
    return httpx.Response(
        200, json={"id": user_id, "name": "Ada", "email": "ada@example.com", "created_at": "x"}
    )


def status(code: int, headers: dict[str, str] | None = None) -> httpx.Response:
    if code == 404:  # what user-service answers for a missing user (the contract's problem)
        return problem(404, "/problems/user-not-found")
    if code == 422:  # what user-service answers for an id it cannot hold
        return problem(422, "/problems/validation")
    return httpx.Response(code, headers=headers, json={"status": code})


def problem(code: int, type_: str) -> httpx.Response:
    return httpx.Response(code, headers=PROBLEM_JSON, json={"type": type_, "status": code})


async def test_get_user_maps_200_to_a_user_ref_with_id_name_and_email(
    make_client: MakeClient,
) -> None:
    script = Script(ok(42))
    client = make_client(script)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert script.requests[0].method == "GET"
    assert script.requests[0].url.path == "/users/42"
    await client.aclose()


async def test_get_user_returns_none_on_404_without_retrying(
    make_client: MakeClient, clock: Any
) -> None:
    script = Script(status(404))
    client = make_client(script)
    assert await client.get_user(7, token=TOKEN) is None
    assert len(script.requests) == 1
    assert clock.sleeps == []


async def test_get_user_retries_a_503_then_succeeds(make_client: MakeClient, clock: Any) -> None:
    script = Script(status(503), ok())
    client = make_client(script)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert len(script.requests) == 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize("code", [502, 503, 504])
async def test_get_user_retries_gateway_errors_until_attempts_are_exhausted(
    make_client: MakeClient, clock: Any, code: int
) -> None:
    script = Script(status(code))
    client = make_client(script, max_attempts=3)
    with pytest.raises(UserServiceUnavailableError, match=str(code)):
        await client.get_user(42, token=TOKEN)
    assert len(script.requests) == 3
    assert len(clock.sleeps) == 2


async def test_get_user_retries_connection_errors(make_client: MakeClient) -> None:
    script = Script(httpx.ConnectError("refused"), ok())
    client = make_client(script)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert len(script.requests) == 2


async def test_get_user_returns_none_when_user_service_refuses_the_id_with_422(
    make_client: MakeClient,
) -> None:
    """An id user-service refuses cannot be a user: unknown, not "unavailable, retry"."""
    script = Script(status(422), status(500), status(422))
    client = make_client(script, failure_threshold=2)
    assert await client.get_user(2**31, token=TOKEN) is None
    assert len(script.requests) == 1
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert await client.get_user(2**31, token=TOKEN) is None
    assert client.breaker.state is BreakerState.CLOSED, "a refusal is an answer, not a failure"


@pytest.mark.parametrize("code", [400, 401, 403, 409])
async def test_get_user_never_retries_other_4xx_and_reports_unavailable(
    make_client: MakeClient, code: int
) -> None:
    script = Script(status(code))
    client = make_client(script)
    with pytest.raises(UserServiceUnavailableError, match=str(code)):
        await client.get_user(42, token=TOKEN)
    assert len(script.requests) == 1


async def test_get_user_does_not_retry_a_500_but_reports_unavailable(
    make_client: MakeClient,
) -> None:
    script = Script(status(500))
    client = make_client(script)
    with pytest.raises(UserServiceUnavailableError, match="500"):
        await client.get_user(42, token=TOKEN)
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"<html>not json</html>"),
        httpx.Response(200, json={"name": "no id"}),
        httpx.Response(200, json={"id": "forty-two"}),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"id": 42, "email": "ada@example.com"}),
        httpx.Response(200, json={"id": 42, "name": "Ada"}),
        httpx.Response(200, json={"id": 42, "name": "", "email": "ada@example.com"}),
    ],
    ids=["not-json", "no-id", "id-not-int", "not-object", "no-name", "no-email", "empty-name"],
)
async def test_get_user_reports_a_malformed_body_as_unavailable_without_retrying(
    make_client: MakeClient, response: httpx.Response
) -> None:
    script = Script(response)
    client = make_client(script)
    with pytest.raises(UserServiceUnavailableError, match="malformed"):
        await client.get_user(42, token=TOKEN)
    assert len(script.requests) == 1


async def test_timeouts_exhaust_the_attempts_within_the_deadline(
    make_client: MakeClient, clock: Any
) -> None:
    start = clock.now

    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(request.extensions["timeout"]["read"])  # each attempt burns its timeout
        raise httpx.ReadTimeout("slow")

    script = Script(slow)
    client = make_client(script, max_attempts=3, deadline=4.0, read_timeout=0.5)
    with pytest.raises(UserServiceUnavailableError, match="ReadTimeout"):
        await client.get_user(42, token=TOKEN)
    assert len(script.requests) == 3
    assert clock.now - start <= 4.0 + 1e-9


async def test_the_deadline_stops_retries_before_the_attempt_limit(
    make_client: MakeClient, clock: Any
) -> None:
    start = clock.now

    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(min(1.0, request.extensions["timeout"]["read"]))
        raise httpx.ReadTimeout("slow")

    script = Script(slow)
    client = make_client(
        script, max_attempts=50, deadline=2.5, read_timeout=1.0, backoff_initial=0.1
    )
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert 2 <= len(script.requests) < 50
    assert clock.now - start <= 2.5 + 1e-9


async def test_each_attempt_timeout_is_capped_by_the_remaining_deadline(
    make_client: MakeClient,
) -> None:
    script = Script(ok())
    client = make_client(script, deadline=1.0, read_timeout=2.0, connect_timeout=3.0)
    await client.get_user(42, token=TOKEN)
    timeout = script.requests[0].extensions["timeout"]
    assert timeout["read"] <= 1.0
    assert timeout["connect"] <= 1.0


async def test_backoff_is_jittered_exponential_and_bounded(
    make_client: MakeClient, clock: Any
) -> None:
    script = Script(status(503))
    client = make_client(
        script,
        max_attempts=8,
        deadline=100.0,
        backoff_initial=0.1,
        backoff_max=0.4,
        failure_threshold=100,
    )
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert len(clock.sleeps) == 7
    caps = [min(0.4, 0.1 * 2**i) for i in range(7)]
    assert all(0 <= s <= cap for s, cap in zip(clock.sleeps, caps, strict=True))


async def test_a_429_retry_after_is_honoured(make_client: MakeClient, clock: Any) -> None:
    script = Script(status(429, {"Retry-After": "1"}), ok())
    client = make_client(script, retry_after_max=2.0)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert clock.sleeps == [1.0]


async def test_a_503_retry_after_is_honoured_too(make_client: MakeClient, clock: Any) -> None:
    script = Script(status(503, {"Retry-After": "2"}), ok())
    client = make_client(script, retry_after_max=2.0)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert clock.sleeps == [2.0]


async def test_a_retry_after_beyond_the_bound_fails_at_once_with_that_hint(
    make_client: MakeClient, clock: Any
) -> None:
    script = Script(status(429, {"Retry-After": "30"}), ok())
    client = make_client(script, retry_after_max=2.0)
    with pytest.raises(UserServiceUnavailableError) as info:
        await client.get_user(42, token=TOKEN)
    assert info.value.retry_after == 30.0
    assert len(script.requests) == 1
    assert clock.sleeps == []


async def test_a_retry_after_that_would_pass_the_deadline_is_not_waited_for(
    make_client: MakeClient, clock: Any
) -> None:
    script = Script(status(429, {"Retry-After": "2"}), ok())
    client = make_client(script, retry_after_max=2.0, deadline=1.5)
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert clock.sleeps == []


async def test_an_http_date_retry_after_is_measured_on_the_injected_wall_clock(
    make_client: MakeClient, clock: Any
) -> None:
    when = format_datetime(clock.wall() + timedelta(seconds=2), usegmt=True)
    script = Script(status(503, {"Retry-After": when}), ok())
    client = make_client(script, retry_after_max=2.0)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert clock.sleeps == [2.0]


async def test_an_http_date_retry_after_in_the_past_means_retry_now(
    make_client: MakeClient, clock: Any
) -> None:
    when = format_datetime(clock.wall() - timedelta(seconds=30), usegmt=True)
    script = Script(status(429, {"Retry-After": when}), ok())
    client = make_client(script)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert clock.sleeps == [0.0]


async def test_an_http_date_retry_after_beyond_the_bound_fails_with_that_hint(
    make_client: MakeClient, clock: Any
) -> None:
    when = format_datetime(clock.wall() + timedelta(seconds=30), usegmt=True)
    script = Script(status(503, {"Retry-After": when}), ok())
    client = make_client(script, retry_after_max=2.0)
    with pytest.raises(UserServiceUnavailableError) as info:
        await client.get_user(42, token=TOKEN)
    assert info.value.retry_after == 30.0
    assert clock.sleeps == []


async def test_an_unparseable_retry_after_falls_back_to_backoff(
    make_client: MakeClient, clock: Any
) -> None:
    script = Script(status(429, {"Retry-After": "soon"}), ok())
    client = make_client(script, backoff_max=1.0)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert 0 <= clock.sleeps[0] <= 1.0


async def test_the_request_id_is_forwarded(make_client: MakeClient) -> None:
    script = Script(ok())
    client = make_client(script)
    await client.get_user(42, token=TOKEN, request_id="abc")
    assert script.requests[0].headers["X-Request-ID"] == "abc"
    assert script.requests[0].headers["Accept"] == "application/json"


async def test_the_breaker_opens_and_then_fails_fast_without_a_request(
    make_client: MakeClient, clock: Any
) -> None:
    script = Script(httpx.ConnectError("refused"))
    client = make_client(script, max_attempts=2, failure_threshold=2, reset_timeout=5.0)
    for _ in range(2):
        with pytest.raises(UserServiceUnavailableError):
            await client.get_user(42, token=TOKEN)
    assert client.breaker.state is BreakerState.OPEN
    sent = len(script.requests)
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError) as info:
        await client.get_user(42, token=TOKEN)
    assert len(script.requests) == sent
    assert info.value.retry_after == pytest.approx(4.0, abs=0.5)


async def test_the_breaker_half_opens_with_one_probe_and_closes_on_success(
    make_client: MakeClient, clock: Any
) -> None:
    script = Script(status(500), status(500), ok())
    client = make_client(script, failure_threshold=2, reset_timeout=5.0)
    for _ in range(2):
        with pytest.raises(UserServiceUnavailableError):
            await client.get_user(42, token=TOKEN)
    clock.advance(5.0)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert client.breaker.state is BreakerState.CLOSED
    assert len(script.requests) == 3


async def test_only_one_probe_is_in_flight_while_half_open(
    make_client: MakeClient, clock: Any
) -> None:
    release = asyncio.Event()
    calls = 0

    class Gate(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal calls
            calls += 1
            if calls <= 2:
                return status(500)
            await release.wait()
            return ok()

    client = make_client(lambda r: ok(), transport=Gate(), failure_threshold=2)
    for _ in range(2):
        with pytest.raises(UserServiceUnavailableError):
            await client.get_user(42, token=TOKEN)
    clock.advance(5.0)
    probe = asyncio.create_task(client.get_user(42, token=TOKEN))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await client.get_user(42, token=TOKEN)
    release.set()
    assert await probe == ADA
    assert calls == 3
    assert client.breaker.state is BreakerState.CLOSED


async def test_the_half_open_probe_is_a_single_request_however_it_fails(
    make_client: MakeClient, clock: Any
) -> None:
    """A recovering user-service gets one request from the probe, not a retried lookup."""
    script = Script(httpx.ConnectError("refused"))
    client = make_client(script, max_attempts=4, failure_threshold=1, reset_timeout=5.0)
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert len(script.requests) == 4
    clock.advance(5.0)
    clock.sleeps.clear()
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert len(script.requests) == 5, "the probe was retried"
    assert clock.sleeps == []
    assert client.breaker.state is BreakerState.OPEN


async def test_a_failed_probe_reopens_the_breaker(make_client: MakeClient, clock: Any) -> None:
    script = Script(status(500))
    client = make_client(script, failure_threshold=1, reset_timeout=5.0)
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    clock.advance(5.0)
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert client.breaker.state is BreakerState.OPEN
    assert len(script.requests) == 2


async def test_a_404_counts_as_success_for_the_breaker(make_client: MakeClient) -> None:
    script = Script(status(500), status(404), status(500))
    client = make_client(script, failure_threshold=2)
    for expected in (UserServiceUnavailableError, None, UserServiceUnavailableError):
        if expected is None:
            assert await client.get_user(42, token=TOKEN) is None
        else:
            with pytest.raises(expected):
                await client.get_user(42, token=TOKEN)
    assert client.breaker.state is BreakerState.CLOSED


async def test_a_4xx_does_not_count_against_the_breaker(make_client: MakeClient) -> None:
    script = Script(status(400))
    client = make_client(script, failure_threshold=1)
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert client.breaker.state is BreakerState.CLOSED


async def test_the_client_is_usable_with_only_a_base_url() -> None:
    """The Pact consumer tests build it like this against the mock server."""
    client = UserServiceClient(base_url="http://127.0.0.1:9")
    assert client.breaker.state is BreakerState.CLOSED
    await client.aclose()


async def test_from_settings_builds_a_client_from_the_configuration() -> None:
    from order_service.config import Settings

    settings = Settings(
        user_service_url="http://users.internal:8000",
        user_service_max_attempts=4,
        breaker_failure_threshold=7,
        breaker_reset_timeout=9.0,
    )
    client = UserServiceClient.from_settings(settings)
    assert client.base_url == "http://users.internal:8000"
    assert client.max_attempts == 4
    assert client.breaker.failure_threshold == 7
    assert client.breaker.reset_timeout == 9.0
    await client.aclose()


async def test_the_failure_that_opens_the_breaker_hints_its_full_cool_down(
    make_client: MakeClient,
) -> None:
    script = Script(status(500))
    client = make_client(script, failure_threshold=2, reset_timeout=5.0)
    with pytest.raises(UserServiceUnavailableError) as first:
        await client.get_user(42, token=TOKEN)
    assert first.value.retry_after == 1.0
    with pytest.raises(UserServiceUnavailableError) as opening:
        await client.get_user(42, token=TOKEN)
    assert opening.value.retry_after == pytest.approx(5.0)


async def test_the_callers_token_is_relayed_as_a_bearer_token(make_client: MakeClient) -> None:
    script = Script(ok(42))
    client = make_client(script)
    await client.get_user(42, token=TOKEN)
    assert script.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_401_invalid_token_problem_is_token_refused_and_leaves_the_breaker(
    make_client: MakeClient,
) -> None:
    script = Script(problem(401, "/problems/invalid-token"))
    client = make_client(script, failure_threshold=1)
    for _ in range(3):
        with pytest.raises(TokenRefusedError):
            await client.get_user(42, token=TOKEN)
    assert len(script.requests) == 3  # not retried, and the breaker never opened
    assert client.breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    "response",
    [
        problem(404, "/problems/not-found"),
        httpx.Response(404, json={"type": "/problems/user-not-found"}),  # not a problem document
        httpx.Response(404, text="<html>Not Found</html>"),
        problem(401, "/problems/authentication-required"),
    ],
    ids=["router-404", "json-404", "html-404", "other-401"],
)
async def test_a_404_or_401_of_another_type_is_no_verdict_on_the_user(
    make_client: MakeClient, response: httpx.Response
) -> None:
    """A wrong base path or a proxy's page must not be taken for "no such user"."""
    client = make_client(Script(response))
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)


async def test_fetch_jwks_returns_the_document(make_client: MakeClient) -> None:
    document = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "k"}]}
    script = Script(httpx.Response(200, json=document))
    client = make_client(script)
    assert await client.fetch_jwks() == document
    assert script.requests[0].url.path == "/.well-known/jwks.json"
    assert "Authorization" not in script.requests[0].headers


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
    make_client: MakeClient, outcome: httpx.Response | Exception
) -> None:
    client = make_client(Script(outcome))
    with pytest.raises(UserServiceUnavailableError):
        await client.fetch_jwks()
