"""The user-service client's policy (clients/policy.py): retries, the deadline, Retry-After and
the circuit breaker, through the client against httpx.MockTransport, and on the policy alone.

Nothing sleeps for real: the client's clock (its sleep, monotonic and wall time) is the fake one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from order_service.clients.breaker import BreakerState, CircuitBreaker
from order_service.clients.policy import Decision, LookupPolicy
from order_service.clients.transport import RetryableError
from order_service.clients.user_service_client import UserServiceClient
from order_service.config import Settings, UserServiceClientSettings
from order_service.errors import UserServiceUnavailableError
from order_service.user_directory import UserRef

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

MakeClient = Callable[..., UserServiceClient]
TOKEN = "header.payload.signature"
ADA = UserRef(id=42, name="Ada", email="ada@example.com")


async def test_get_user_retries_a_503_then_succeeds(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    answers = script(script.status(503), script.ok())
    client = make_client(answers)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert len(answers.requests) == 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize("code", [502, 503, 504])
async def test_get_user_retries_gateway_errors_until_attempts_are_exhausted(
    make_client: MakeClient, script: Any, clock: Any, code: int
) -> None:
    answers = script(script.status(code))
    client = make_client(answers, max_attempts=3)
    with pytest.raises(UserServiceUnavailableError, match=str(code)):
        await client.get_user(42, token=TOKEN)
    assert len(answers.requests) == 3
    assert len(clock.sleeps) == 2


async def test_get_user_retries_connection_errors(make_client: MakeClient, script: Any) -> None:
    answers = script(httpx.ConnectError("refused"), script.ok())
    client = make_client(answers)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert len(answers.requests) == 2


async def test_timeouts_exhaust_the_attempts_within_the_deadline(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    start = clock.now

    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(request.extensions["timeout"]["read"])  # each attempt burns its timeout
        raise httpx.ReadTimeout("slow")

    answers = script(slow)
    client = make_client(answers, max_attempts=3, deadline=4.0, read_timeout=0.5)
    with pytest.raises(UserServiceUnavailableError, match="ReadTimeout"):
        await client.get_user(42, token=TOKEN)
    assert len(answers.requests) == 3
    assert clock.now - start <= 4.0 + 1e-9


async def test_the_deadline_stops_retries_before_the_attempt_limit(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    start = clock.now

    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(min(1.0, request.extensions["timeout"]["read"]))
        raise httpx.ReadTimeout("slow")

    answers = script(slow)
    client = make_client(
        answers, max_attempts=10, deadline=2.5, read_timeout=1.0, backoff_initial=0.1
    )
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert 2 <= len(answers.requests) < 10
    assert clock.now - start <= 2.5 + 1e-9


async def test_each_attempt_timeout_is_capped_by_the_remaining_deadline(
    make_client: MakeClient, script: Any
) -> None:
    answers = script(script.ok())
    client = make_client(answers, deadline=1.0, read_timeout=2.0, connect_timeout=3.0)
    await client.get_user(42, token=TOKEN)
    timeout = answers.requests[0].extensions["timeout"]
    assert timeout["read"] <= 1.0
    assert timeout["connect"] <= 1.0


async def test_backoff_is_jittered_exponential_and_bounded(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    answers = script(script.status(503))
    client = make_client(
        answers,
        max_attempts=8,
        deadline=60.0,
        backoff_initial=0.1,
        backoff_max=0.4,
        failure_threshold=100,
    )
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert len(clock.sleeps) == 7
    caps = [min(0.4, 0.1 * 2**i) for i in range(7)]
    assert all(0 <= s <= cap for s, cap in zip(clock.sleeps, caps, strict=True))


@pytest.mark.parametrize(("code", "seconds"), [(429, "1"), (503, "2")])
async def test_a_retry_after_on_429_or_503_is_honoured(
    make_client: MakeClient, script: Any, clock: Any, code: int, seconds: str
) -> None:
    answers = script(script.status(code, {"Retry-After": seconds}), script.ok())
    client = make_client(answers, retry_after_max=2.0)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert clock.sleeps == [float(seconds)]


async def test_a_retry_after_beyond_the_bound_fails_at_once_with_that_hint(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    answers = script(script.status(429, {"Retry-After": "30"}), script.ok())
    client = make_client(answers, retry_after_max=2.0)
    with pytest.raises(UserServiceUnavailableError) as info:
        await client.get_user(42, token=TOKEN)
    assert info.value.retry_after == 30.0
    assert len(answers.requests) == 1
    assert clock.sleeps == []


async def test_a_retry_after_that_would_pass_the_deadline_is_not_waited_for(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    answers = script(script.status(429, {"Retry-After": "2"}), script.ok())
    client = make_client(answers, retry_after_max=2.0, deadline=1.5)
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert clock.sleeps == []


@pytest.mark.parametrize(("code", "offset", "waited"), [(503, 2, 2.0), (429, -30, 0.0)])
async def test_an_http_date_retry_after_is_measured_on_the_injected_wall_clock(
    make_client: MakeClient, script: Any, clock: Any, code: int, offset: int, waited: float
) -> None:
    """A date in the past means: retry now."""
    when = format_datetime(clock.wall() + timedelta(seconds=offset), usegmt=True)
    answers = script(script.status(code, {"Retry-After": when}), script.ok())
    client = make_client(answers, retry_after_max=2.0)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert clock.sleeps == [waited]


async def test_an_http_date_retry_after_beyond_the_bound_fails_with_that_hint(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    when = format_datetime(clock.wall() + timedelta(seconds=30), usegmt=True)
    answers = script(script.status(503, {"Retry-After": when}), script.ok())
    client = make_client(answers, retry_after_max=2.0)
    with pytest.raises(UserServiceUnavailableError) as info:
        await client.get_user(42, token=TOKEN)
    assert info.value.retry_after == 30.0
    assert clock.sleeps == []


async def test_an_unparseable_retry_after_falls_back_to_backoff(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    answers = script(script.status(429, {"Retry-After": "soon"}), script.ok())
    client = make_client(answers, backoff_max=1.0)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert 0 <= clock.sleeps[0] <= 1.0


async def test_the_client_is_usable_with_its_settings_alone() -> None:
    """The Pact consumer tests build it like this against the mock server."""
    client = UserServiceClient(UserServiceClientSettings(url="http://127.0.0.1:9"))
    assert client.breaker.state is BreakerState.CLOSED
    await client.aclose()


async def test_from_settings_builds_a_client_from_the_configuration() -> None:
    settings = Settings(
        user_service=UserServiceClientSettings(url="http://users.internal:8000", max_attempts=4),
        breaker={"failure_threshold": 7, "reset_timeout": 9.0},
    )
    client = UserServiceClient.from_settings(settings)
    assert client.settings.url == "http://users.internal:8000"
    assert client.settings.max_attempts == 4
    assert client.breaker.failure_threshold == 7
    assert client.breaker.reset_timeout == 9.0
    await client.aclose()


# --- the policy alone, with no HTTP at all ---------------------------------------------------


class Recorder:
    """An Observer that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def decided(self, decision: Decision) -> None:
        self.events.append(("decided", decision))

    def attempt(self, number: int) -> None:
        self.events.append(("attempt", number))

    def retrying(self, *, attempt: int, reason: str, wait: float) -> None:
        self.events.append(("retrying", (attempt, reason, wait)))


def _policy(clock: Any, **settings: Any) -> LookupPolicy:
    breaker = CircuitBreaker(clock=clock)
    return LookupPolicy(UserServiceClientSettings(**settings), breaker, clock)


async def test_the_policy_never_retries_what_the_attempt_did_not_call_retryable(
    clock: Any,
) -> None:
    calls = 0

    async def attempt(budget: float) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("our bug")

    policy = _policy(clock)
    with pytest.raises(ValueError, match="our bug"):
        await policy.run(attempt, Recorder())
    assert calls == 1
    assert clock.sleeps == []


async def test_the_policy_reports_its_decision_each_attempt_and_each_retry(clock: Any) -> None:
    answers: list[Exception | str] = [RetryableError("user-service answered 503", retry_after=1)]
    answers.append("found")
    budgets: list[float] = []

    async def attempt(budget: float) -> str:
        budgets.append(budget)
        outcome = answers.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    recorder = Recorder()
    assert await _policy(clock, deadline=4.0).run(attempt, recorder) == "found"
    assert budgets == [4.0, 3.0]  # what the deadline leaves, after the 1 s Retry-After
    assert recorder.events == [
        ("decided", "allow"),
        ("attempt", 1),
        ("retrying", (1, "user-service answered 503", 1.0)),
        ("attempt", 2),
    ]
