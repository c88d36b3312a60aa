"""Business rules over the repository: owns the transaction, raises domain errors.

Routes call these; so can tests and Pact provider states, with any ``Session``.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session

from user_service import repository
from user_service.errors import UserNotFoundError
from user_service.models import User, UserCreate, UserPage, UserPublic


def create_user(*, session: Session, data: UserCreate, user_id: int | None = None) -> User:
    """Store a new user; ``EmailTakenError`` when the email is registered (race-safe)."""
    user = repository.create_user(session=session, data=data, user_id=user_id)
    session.commit()
    return user


def get_user(*, session: Session, user_id: int) -> UserPublic:
    user = repository.get_user(session=session, user_id=user_id)
    if user is None:
        raise UserNotFoundError(user_id)
    return user


def list_users(*, session: Session, limit: int, offset: int) -> UserPage:
    items, total = repository.list_users(session=session, limit=limit, offset=offset)
    return UserPage(
        items=[UserPublic.model_validate(user) for user in items],
        total=total,
        limit=limit,
        offset=offset,
    )


def delete_users(*, session: Session, user_ids: Collection[int] | None = None) -> int:
    """Remove the given users (all when ``user_ids`` is None); for tests and provider states."""
    deleted = repository.delete_users(session=session, user_ids=user_ids)
    session.commit()
    return deleted
