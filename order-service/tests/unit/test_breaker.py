"""The circuit breaker: on its own (states, cool-down, the single half-open probe), then around
the client's lookups (httpx.MockTransport, the fake clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from order_service.clients.breaker import BreakerState, CircuitBreaker
from order_service.clients.user_service_client import UserServiceClient
from order_service.errors import CircuitOpenError, UserServiceUnavailableError
from order_service.user_directory import UserRef

pytestmark = pytest.mark.unit

MakeClient = Callable[..., UserServiceClient]
TOKEN = "header.payload.signature"
ADA = UserRef(id=42, name="Ada", email="ada@example.com")


def _breaker(clock: Any, threshold: int = 3, reset: float = 5.0) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=threshold, reset_timeout=reset, clock=clock)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.acquire().failure()


def test_breaker_stays_closed_below_threshold(clock: Any) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    breaker.acquire().success()


def test_breaker_opens_after_threshold_consecutive_failures(clock: Any) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 3)
    assert breaker.state is BreakerState.OPEN
    clock.advance(2.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.retry_after == pytest.approx(3.0)


def test_success_resets_the_consecutive_failure_count(clock: Any) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 2)
    breaker.acquire().success()
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED


def test_breaker_lets_one_probe_through_after_cool_down_and_closes_on_success(
    clock: Any,
) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 3)
    clock.advance(5.0)
    probe = breaker.acquire()
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError):
        breaker.acquire()  # a second caller while the probe is in flight fails fast
    probe.success()
    assert breaker.state is BreakerState.CLOSED
    breaker.acquire().success()


def test_failed_probe_reopens_the_breaker_for_a_full_cool_down(clock: Any) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 3)
    clock.advance(6.0)
    breaker.acquire().failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.retry_after == pytest.approx(5.0)


def test_abandoned_probe_frees_the_slot_for_the_next_caller(clock: Any) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 3)
    clock.advance(5.0)
    breaker.acquire().release()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.acquire().success()
    assert breaker.state is BreakerState.CLOSED


def test_late_results_of_calls_started_before_opening_do_not_change_an_open_breaker(
    clock: Any,
) -> None:
    breaker = _breaker(clock)
    slow = breaker.acquire()
    _fail(breaker, 3)
    slow.success()
    assert breaker.state is BreakerState.OPEN


def test_breaker_rejects_nonsense_settings(clock: Any) -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0, reset_timeout=1.0, clock=clock)
    with pytest.raises(ValueError, match="reset_timeout"):
        CircuitBreaker(failure_threshold=1, reset_timeout=0.0, clock=clock)


# --- around the client's lookups ----------------------------------------------------------


@pytest.mark.anyio
async def test_the_breaker_opens_and_then_fails_fast_without_a_request(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    answers = script(httpx.ConnectError("refused"))
    client = make_client(answers, max_attempts=2, failure_threshold=2, reset_timeout=5.0)
    for _ in range(2):
        with pytest.raises(UserServiceUnavailableError):
            await client.get_user(42, token=TOKEN)
    assert client.breaker.state is BreakerState.OPEN
    sent = len(answers.requests)
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError) as info:
        await client.get_user(42, token=TOKEN)
    assert len(answers.requests) == sent
    assert info.value.retry_after == pytest.approx(4.0, abs=0.5)


@pytest.mark.anyio
async def test_the_breaker_half_opens_with_one_probe_and_closes_on_success(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    answers = script(script.status(500), script.status(500), script.ok())
    client = make_client(answers, failure_threshold=2, reset_timeout=5.0)
    for _ in range(2):
        with pytest.raises(UserServiceUnavailableError):
            await client.get_user(42, token=TOKEN)
    clock.advance(5.0)
    assert await client.get_user(42, token=TOKEN) == ADA
    assert client.breaker.state is BreakerState.CLOSED
    assert len(answers.requests) == 3


@pytest.mark.anyio
async def test_only_one_probe_is_in_flight_while_half_open(
    make_client: MakeClient, script: Any, clock: Any
) -> None:
    release = asyncio.Event()
    calls = 0

    class Gate(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal calls
            calls += 1
            if calls <= 2:
                return script.status(500)  # type: ignore[no-any-return]
            await release.wait()
            return script.ok()  # type: ignore[no-any-return]

    client = make_client(script.ok, transport=Gate(), failure_threshold=2)
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


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "first_lookup_requests"),
    [(httpx.ConnectError("refused"), 4), (500, 1)],  # retried to max_attempts; not retried
    ids=["connect-error", "500"],
)
async def test_the_half_open_probe_is_a_single_request_however_it_fails_and_reopens(
    make_client: MakeClient, script: Any, clock: Any, failure: Any, first_lookup_requests: int
) -> None:
    """A recovering user-service gets one request from the probe, not a retried lookup."""
    answers = script(script.status(failure) if isinstance(failure, int) else failure)
    client = make_client(answers, max_attempts=4, failure_threshold=1, reset_timeout=5.0)
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert len(answers.requests) == first_lookup_requests
    clock.advance(5.0)
    clock.sleeps.clear()
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert len(answers.requests) == first_lookup_requests + 1, "the probe was retried"
    assert clock.sleeps == []
    assert client.breaker.state is BreakerState.OPEN


@pytest.mark.anyio
async def test_a_404_counts_as_success_for_the_breaker(
    make_client: MakeClient, script: Any
) -> None:
    answers = script(script.status(500), script.status(404), script.status(500))
    client = make_client(answers, failure_threshold=2)
    for expected in (UserServiceUnavailableError, None, UserServiceUnavailableError):
        if expected is None:
            assert await client.get_user(42, token=TOKEN) is None
        else:
            with pytest.raises(expected):
                await client.get_user(42, token=TOKEN)
    assert client.breaker.state is BreakerState.CLOSED


@pytest.mark.anyio
async def test_a_4xx_does_not_count_against_the_breaker(
    make_client: MakeClient, script: Any
) -> None:
    client = make_client(script(script.status(400)), failure_threshold=1)
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token=TOKEN)
    assert client.breaker.state is BreakerState.CLOSED


@pytest.mark.anyio
async def test_the_failure_that_opens_the_breaker_hints_its_full_cool_down(
    make_client: MakeClient, script: Any
) -> None:
    client = make_client(script(script.status(500)), failure_threshold=2, reset_timeout=5.0)
    with pytest.raises(UserServiceUnavailableError) as first:
        await client.get_user(42, token=TOKEN)
    assert first.value.retry_after == 1.0
    with pytest.raises(UserServiceUnavailableError) as opening:
        await client.get_user(42, token=TOKEN)
    assert opening.value.retry_after == pytest.approx(5.0)
