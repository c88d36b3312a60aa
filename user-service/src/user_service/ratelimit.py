"""Per-client rate limit of the public password endpoints (``POST /token``, ``POST /users``).

A token bucket per client address: ``rate`` requests a second sustained, ``burst`` at once; over
it the answer is 429 + ``Retry-After``. The address is the ASGI ``client`` (the peer, or the
``X-Forwarded-For`` hop uvicorn honours from ``TRUSTED_PROXIES`` only); IPv6 addresses count by
their /64, the block one host is usually given. Behind a proxy that is not trusted every caller
shares the proxy's bucket (docs/identity.md).

Hand-written rather than the ``limits`` package: its in-memory storage keeps one key per caller
until the key's window expires, with no bound on how many, and the table here is keyed by
caller-chosen data. This one holds ``max_clients`` buckets: a bucket idle long enough to be full
again is forgotten first (no change in behaviour); when all are in use, the least recently used
is dropped, which hands that client a fresh burst. That is the price of a bound: an attacker with
more addresses than the table already has that many buckets' budget, and the hashing capacity
(``passwords``) bounds what all clients together can cost.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


def client_key(host: str | None) -> bytes:
    """The bucket key of an address: IPv4 as is, IPv6 by its /64; anything else shares one."""
    if not host:
        return b""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return b""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped.packed
        return address.packed[:8]
    return address.packed


class ClientRateLimiter:
    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_clients: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._refill_seconds = burst / rate
        self._clock = clock
        self._buckets: OrderedDict[bytes, _Bucket] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, host: str | None) -> int | None:
        """Spend one request of ``host``'s budget: None when allowed, else seconds to wait."""
        key = client_key(host)
        with self._lock:
            now = self._clock()
            bucket = self._buckets.pop(key, None)
            if bucket is None:
                self._make_room(now)
                bucket = _Bucket(float(self.burst), now)
            else:
                bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
                bucket.stamp = now
            self._buckets[key] = bucket
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return math.ceil((1 - bucket.tokens) / self.rate)

    def _make_room(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if now - oldest.stamp < self._refill_seconds:
                break
            buckets.popitem(last=False)  # full again: the same as a client never seen
        while len(buckets) >= self.max_clients:
            buckets.popitem(last=False)
