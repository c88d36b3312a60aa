"""What order-service knows about users: a reference, and the directory that vouches for them.

The domain (service.py) depends only on this Protocol; clients/user_service_client.py implements it
over HTTP, and tests implement it in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UserRef:
    """The consumer-side view of a user: only the fields order-service uses (the name and
    email are snapshotted on each order, for its receipt)."""

    id: int
    name: str
    email: str


class UserDirectory(Protocol):
    async def get_user(self, user_id: int, *, token: str) -> UserRef | None:
        """The user, or None when the directory knows no such user; asked with the caller's
        own bearer token (the directory lets a user read only their own record). The current
        request's id and trace travel in their context variables, not as arguments.

        Raises TokenRefusedError when the directory refuses the token, and
        UserServiceUnavailableError when it cannot answer.
        """
        ...
