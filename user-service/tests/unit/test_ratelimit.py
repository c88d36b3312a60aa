"""The per-client token bucket: rate, burst, addresses, and a bounded table."""

from __future__ import annotations

import pytest

from devtools.clock import FakeClock
from user_service.ratelimit import ClientRateLimiter, client_key

pytestmark = pytest.mark.unit


def test_a_client_gets_its_burst_then_the_rate_with_retry_after(clock: FakeClock) -> None:
    limiter = ClientRateLimiter(rate=0.5, burst=3, max_clients=10, clock=clock)
    assert [limiter.take("10.0.0.1") for _ in range(3)] == [None, None, None]
    assert limiter.take("10.0.0.1") == 2
    assert limiter.take("10.0.0.2") is None  # another client is not affected
    clock.now += 2
    assert limiter.take("10.0.0.1") is None
    assert limiter.take("10.0.0.1") == 2


def test_ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:10.0.0.1") == client_key("10.0.0.1")
    assert client_key("testclient") == client_key(None) == b""


def test_the_table_stays_bounded_under_a_flood_of_addresses(clock: FakeClock) -> None:
    limiter = ClientRateLimiter(rate=1, burst=2, max_clients=100, clock=clock)
    for i in range(10_000):
        limiter.take(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(limiter) == 100


def test_a_bucket_full_again_is_forgotten_before_a_busy_one(clock: FakeClock) -> None:
    limiter = ClientRateLimiter(rate=1, burst=2, max_clients=2, clock=clock)
    limiter.take("10.0.0.1")
    clock.now += 5  # 10.0.0.1 is full again
    limiter.take("10.0.0.2")
    limiter.take("10.0.0.2")
    limiter.take("10.0.0.3")  # room made by forgetting 10.0.0.1, not 10.0.0.2
    assert limiter.take("10.0.0.2") == 1
