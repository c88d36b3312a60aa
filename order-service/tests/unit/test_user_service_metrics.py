"""The user-service client's metrics: lookup outcomes and the breaker state (MockTransport)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from order_service.clients.user_service_client import UserServiceClient
from order_service.errors import CircuitOpenError, UserServiceUnavailableError
from service_kit.metrics import REGISTRY

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

MakeClient = Callable[..., UserServiceClient]


def lookups(outcome: str) -> float:
    value = REGISTRY.get_sample_value("user_service_lookups_total", {"outcome": outcome})
    assert value is not None, f"no series for outcome={outcome}"
    return value


def breaker_state() -> float | None:
    return REGISTRY.get_sample_value("user_service_breaker_state")


def answer(code: int, body: Any = None) -> Callable[[httpx.Request], httpx.Response]:
    if code == 404:
        return lambda request: httpx.Response(
            404,
            json={"type": "/problems/user-not-found"},
            headers={"Content-Type": "application/problem+json"},
        )
    user = {"id": 42, "name": "Ada", "email": "ada@example.com"}
    return lambda request: httpx.Response(code, json=body if body is not None else user)


def test_every_outcome_series_exists_before_any_lookup_so_rates_start_at_zero() -> None:
    for outcome in ("found", "not_found", "unavailable", "circuit_open"):
        assert lookups(outcome) >= 0


async def test_found_and_not_found_lookups_are_counted(make_client: MakeClient) -> None:
    found, not_found = lookups("found"), lookups("not_found")
    client = make_client(lambda r: answer(200 if r.url.path == "/users/42" else 404)(r))
    await client.get_user(42, token="t")
    await client.get_user(7, token="t")
    assert lookups("found") == found + 1
    assert lookups("not_found") == not_found + 1
    await client.aclose()


async def test_failed_and_fail_fast_lookups_are_counted_and_the_gauge_follows_the_breaker(
    make_client: MakeClient, clock: Any
) -> None:
    unavailable, circuit_open = lookups("unavailable"), lookups("circuit_open")
    healthy = [False]

    def handler(request: httpx.Request) -> httpx.Response:
        return answer(200 if healthy[0] else 500)(request)

    client = make_client(handler, failure_threshold=2, reset_timeout=5.0)
    assert breaker_state() == 0  # a new client starts closed
    for _ in range(2):
        with pytest.raises(UserServiceUnavailableError):
            await client.get_user(42, token="t")
    assert lookups("unavailable") == unavailable + 2
    assert breaker_state() == 1  # open

    with pytest.raises(CircuitOpenError):
        await client.get_user(42, token="t")
    assert lookups("circuit_open") == circuit_open + 1

    clock.now += 5.0
    healthy[0] = True
    await client.get_user(42, token="t")  # the half-open probe succeeds
    assert breaker_state() == 0
    await client.aclose()


async def test_the_gauge_reads_half_open_while_the_probe_is_in_flight(
    make_client: MakeClient, clock: Any
) -> None:
    states: list[float | None] = []
    failing = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        if failing[0]:
            return answer(500)(request)
        states.append(breaker_state())
        return answer(200)(request)

    client = make_client(handler, failure_threshold=1, reset_timeout=5.0)
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(42, token="t")
    clock.now += 5.0
    failing[0] = False
    await client.get_user(42, token="t")
    assert states == [2]
    await client.aclose()
