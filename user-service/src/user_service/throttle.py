"""Login throttling: repeated failures for one account name are refused for a while (429).

Keyed by the email as typed (normalised), whether or not an account has it, so a throttled
unknown email looks exactly like a throttled real one. After ``max_failures`` consecutive failures
the name is locked for ``lockout`` seconds, doubling with each further failed round up to
``max_lockout``; a success clears it. While locked, no password is checked at all (the answer is
429 + ``Retry-After``), which also keeps a guessing run from costing us Argon2 time.

State lives in the process (``max_entries`` names at most, the oldest dropped first). With several
replicas or workers each keeps its own count, so a guesser gets ``max_failures`` per process per
lockout: still a few guesses a minute, not thousands.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    failures: int = 0
    rounds: int = 0
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(
        self,
        *,
        max_failures: int = 5,
        lockout: float = 60.0,
        max_lockout: float = 900.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.lockout = lockout
        self.max_lockout = max_lockout
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, name: str) -> int | None:
        """Seconds until ``name`` may try again, or None when it may try now."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return None
            left = entry.locked_until - self._clock()
            return math.ceil(left) if left > 0 else None

    def failure(self, name: str) -> None:
        with self._lock:
            entry = self._entries.pop(name, None) or _Entry()
            self._entries[name] = entry  # most recent last
            entry.failures += 1
            if entry.failures >= self.max_failures:
                seconds = min(self.lockout * 2**entry.rounds, self.max_lockout)
                entry.locked_until = self._clock() + seconds
                entry.failures = 0
                entry.rounds += 1
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def success(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)
