"""Password hashing: Argon2id through pwdlib, with bounded memory and constant-time misses.

Parameters (``Argon2Params``, settings ``USER_SERVICE_ARGON2_*``) default to OWASP's first
Argon2id recommendation (19 MiB, 2 passes, 1 lane) rather than argon2-cffi's larger default,
because a pod has 256 MiB and one CPU: a burst of logins costs at most ``max_concurrent x 19 MiB``.

Hashing has capacity of its own (``run``): an anyio ``CapacityLimiter`` of ``max_concurrent``
tokens, so hashes take worker threads without taking the default limiter's tokens that every
other request's database work waits for; a login flood queues here, not in front of reads. At
most ``max_waiting`` wait; the next one is refused at once (``PasswordChecksBusyError``, 503 +
``Retry-After``) rather than queued for seconds. The queue is counted on the event loop.

A stored hash records its parameters; ``verify`` reports a hash made with other ones so the
caller stores the rehash (the upgrade happens on the user's next successful login).

``verify_unknown`` spends the same time as a real check on a fixed dummy hash, so a login for an
email nobody registered takes as long as a wrong password (no account enumeration by timing).

That memory bound holds only if each hash's memory goes back to the system when the hash is
done. glibc's malloc keeps it otherwise: after the first large block is freed it raises its mmap
threshold and serves the next ones from per-thread arenas, which it keeps, and hashes run on
many threads. Creating a ``PasswordHasher`` therefore pins glibc's mmap threshold at 1 MiB
(``mallopt``; a no-op with another C library), so every hash maps its memory and unmaps it after.
The price is page faults on fresh memory for each hash, paid gladly for a worker that stays near
its size at start (docs/performance.md, "Measured choices").
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from user_service.errors import PasswordChecksBusyError

PASSWORD_MIN = 8
PASSWORD_MAX = 128  # characters; Argon2 has no 72-byte cut-off like bcrypt, this bounds the work


@dataclass(frozen=True, slots=True)
class Argon2Params:
    time_cost: int = 2
    memory_cost: int = 19 * 1024  # KiB
    parallelism: int = 1


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    new_hash: str | None  # set when the password was right but its hash used old parameters


M_MMAP_THRESHOLD = -3  # glibc's malloc.h
LARGE_BLOCK = 1024 * 1024  # bytes: from here on, malloc maps and unmaps
T = TypeVar("T")


def return_large_blocks_to_the_system() -> bool:
    """Pin glibc's mmap threshold (see the module docstring); False where libc is not glibc."""
    name = ctypes.util.find_library("c")
    if not name or not name.startswith("libc.so"):
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK))


class PasswordHasher:
    """``hash``/``verify``/``verify_unknown`` are the CPU work (any thread); the service sends
    them through ``run``."""

    def __init__(
        self, params: Argon2Params | None = None, *, max_concurrent: int = 2, max_waiting: int = 32
    ) -> None:
        return_large_blocks_to_the_system()
        self.params = params or Argon2Params()
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=self.params.time_cost,
                    memory_cost=self.params.memory_cost,
                    parallelism=self.params.parallelism,
                ),
            )
        )
        self.max_concurrent = max_concurrent
        self.max_admitted = max_concurrent + max_waiting
        self._limiter = anyio.CapacityLimiter(max_concurrent)
        self._admitted = 0  # running + waiting; changed on the event loop only
        self._dummy = self._hash.hash("a password nobody has: spends the time of a real check")

    async def run(self, work: Callable[..., T], *args: str) -> T:
        """``work(*args)`` on a worker thread under this hasher's own limiter; at once
        ``PasswordChecksBusyError`` when ``max_waiting`` are already waiting."""
        if self._admitted >= self.max_admitted:
            raise PasswordChecksBusyError()
        self._admitted += 1
        try:
            return await anyio.to_thread.run_sync(work, *args, limiter=self._limiter)
        finally:
            self._admitted -= 1

    def hash(self, password: str) -> str:
        return self._hash.hash(password)

    def verify(self, password: str, stored: str) -> Verdict:
        valid, updated = self._hash.verify_and_update(password, stored)
        return Verdict(valid=valid, new_hash=updated if valid else None)

    def verify_unknown(self, password: str) -> None:
        """A check against the dummy hash: as slow as ``verify``, always false."""
        self._hash.verify(password, self._dummy)
