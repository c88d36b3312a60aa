"""Data access: the only module that runs SQL. Keyword-only, typed, no business rules.

It flushes and never commits: the caller (``service``) owns the transaction. A unique-email
violation surfaces here as ``EmailTakenError`` because only this module knows how each database
reports it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from user_service.errors import EmailTakenError
from user_service.models import User, UserCreate

EMAIL_CONSTRAINT = "uq_users_email"

# The hot read, built once: a Core select skips the ORM's identity map and instance loading,
# and a prebuilt statement is compiled once (cached).
_users = User.__table__  # type: ignore[attr-defined]
_GET_USER = select(*_users.c).where(_users.c.id == bindparam("user_id"))


def create_user(*, session: Session, data: UserCreate) -> User:
    user = User(name=data.name, email=data.email)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        if _is_email_violation(exc):
            raise EmailTakenError() from exc
        raise
    return user


def get_user(*, session: Session, user_id: int) -> RowMapping | None:
    row = session.execute(_GET_USER, {"user_id": user_id}).one_or_none()
    return None if row is None else row._mapping


def list_users(*, session: Session, limit: int, offset: int) -> tuple[Sequence[User], int]:
    items = session.exec(select(User).order_by(col(User.id)).limit(limit).offset(offset)).all()
    total = session.exec(select(func.count()).select_from(User)).one()
    return items, total


def _is_email_violation(exc: IntegrityError) -> bool:
    diag = getattr(exc.orig, "diag", None)  # psycopg2
    if diag is not None:
        return getattr(diag, "constraint_name", None) == EMAIL_CONSTRAINT
    return "UNIQUE constraint failed: users.email" in str(exc.orig)  # sqlite3
