"""Login throttling: repeated failures for one account name are refused for a while (429).

Keyed by the normalised email, whether or not an account has it, so a throttled unknown email
looks exactly like a throttled real one. After ``max_failures`` failures the name is locked for
``lockout`` seconds, doubling with each further failed round up to ``max_lockout``; a success
clears it. While locked, no password is checked at all (429 + ``Retry-After``), which also keeps
a guessing run from costing Argon2 time.

The table is keyed by caller-chosen data, so it is bounded in entries and in bytes, and nothing
an attacker does can take a name out of it early:

- a key is a keyed 16-byte BLAKE2b digest of the name (a per-process secret key: collisions
  cannot be aimed), whatever the name's size; names that are not addresses never get here;
- a name is forgotten ``2 x max_lockout`` after its last failure: through the longest lock, and
  as long again for the doubling. Time is the only way out: no entry is ever evicted to make room;
- when the table holds ``max_entries`` live names, a name it does not track is refused before its
  password is checked (``check`` says how long until the oldest entry expires) instead of being
  checked untracked: guessing never becomes unthrottled. An entry costs one failed Argon2 check,
  so filling the table takes ``max_entries`` failures within the window, more than the hash
  capacity of the default settings allows (docs/identity.md, "Limits").

State lives in the process. With several replicas or workers each keeps its own count, so a
guesser gets ``max_failures`` per process per lockout: still a few guesses a minute.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DIGEST_BYTES = 16


class _Entry:
    __slots__ = ("failures", "last_failure", "locked_until", "rounds")

    def __init__(self) -> None:
        self.failures = 0
        self.rounds = 0
        self.locked_until = 0.0
        self.last_failure = 0.0


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a name may not try now: ``locked`` (this name), else the table is full."""

    retry_after: int
    locked: bool


class LoginThrottle:
    def __init__(
        self,
        *,
        max_failures: int = 5,
        lockout: float = 60.0,
        max_lockout: float = 900.0,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.lockout = lockout
        self.max_lockout = max(max_lockout, lockout)
        self.max_entries = max_entries
        self.remember = 2 * self.max_lockout
        self._clock = clock
        self._secret = os.urandom(16)
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()  # by last failure, oldest first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, name: str) -> Refusal | None:
        """None when ``name`` may try now; else how long to wait and why."""
        key = self._key(name)
        with self._lock:
            now = self._clock()
            self._forget_expired(now)
            entry = self._entries.get(key)
            if entry is not None:
                left = entry.locked_until - now
                return Refusal(math.ceil(left), locked=True) if left > 0 else None
            if len(self._entries) < self.max_entries:
                return None
            oldest = next(iter(self._entries.values()))
            return Refusal(math.ceil(oldest.last_failure + self.remember - now), locked=False)

    def retry_after(self, name: str) -> int | None:
        """Seconds until ``name`` may try again, or None when it may try now."""
        refusal = self.check(name)
        return None if refusal is None else refusal.retry_after

    def failure(self, name: str) -> None:
        """Count a failure. Only a name ``check`` let through comes here, so the table exceeds
        ``max_entries`` by at most the attempts in flight."""
        key = self._key(name)
        with self._lock:
            now = self._clock()
            entry = self._entries.pop(key, None) or _Entry()
            self._entries[key] = entry  # most recent failure last
            entry.last_failure = now
            entry.failures += 1
            if entry.failures >= self.max_failures:
                seconds = min(self.lockout * 2**entry.rounds, self.max_lockout)
                entry.locked_until = now + seconds
                entry.failures = 0
                entry.rounds += 1

    def success(self, name: str) -> None:
        key = self._key(name)
        with self._lock:
            self._entries.pop(key, None)

    def _key(self, name: str) -> bytes:
        data = name.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=DIGEST_BYTES, key=self._secret).digest()

    def _forget_expired(self, now: float) -> None:
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if oldest.last_failure + self.remember > now:
                return
            entries.popitem(last=False)
