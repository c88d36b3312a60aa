"""Business rules over the repository: each function is one unit of work, and returns public
models.

Every function takes the session factory and opens its unit of work with
``with sessions.begin() as session:`` (commit on success, rollback on error, session closed), so
a route never touches a session or a transaction (docs/design.md, "One idiom each").
"""

from __future__ import annotations

from service_kit.db import Sessions
from user_service import repository
from user_service.errors import UserNotFoundError
from user_service.models import UserCreate, UserPage, UserPublic


def create_user(*, sessions: Sessions, data: UserCreate) -> UserPublic:
    """Store a new user; ``EmailTakenError`` when the email is registered (race-safe)."""
    with sessions.begin() as session:
        user = repository.create_user(session=session, data=data)
        return UserPublic.model_validate(user)


def get_user(*, sessions: Sessions, user_id: int) -> UserPublic:
    with sessions.begin() as session:
        row = repository.get_user(session=session, user_id=user_id)
    if row is None:
        raise UserNotFoundError(user_id)
    return UserPublic.model_validate(row)


def list_users(*, sessions: Sessions, limit: int, offset: int) -> UserPage:
    with sessions.begin() as session:
        items, total = repository.list_users(session=session, limit=limit, offset=offset)
        return UserPage(
            items=[UserPublic.model_validate(user) for user in items],
            total=total,
            limit=limit,
            offset=offset,
        )
