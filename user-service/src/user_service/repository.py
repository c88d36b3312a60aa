"""Data access: the only module that runs SQL. Keyword-only, typed, no business rules.

It flushes and never commits: the caller (``service``) owns the transaction. A unique-email
violation surfaces here as ``EmailTakenError`` because only this module knows how each database
reports it. The password hash leaves this module only on the login path (``get_user_by_email``);
the read path selects the public columns alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, bindparam, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from service_kit.db import unique_violation
from user_service.errors import EmailTakenError
from user_service.models import User, UserCreate, UserPublic

EMAIL_CONSTRAINT = "uq_users_email"

# The hot read, built once: a Core select skips the ORM's identity map and instance loading,
# and a prebuilt statement is compiled once (cached). Only the public columns.
_users = User.__table__  # type: ignore[attr-defined]
_PUBLIC_COLUMNS = [_users.c[name] for name in UserPublic.model_fields]
_GET_USER = select(*_PUBLIC_COLUMNS).where(_users.c.id == bindparam("user_id"))


def create_user(*, session: Session, data: UserCreate, password_hash: str) -> User:
    user = User(name=data.name, email=data.email, password_hash=password_hash)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        if unique_violation(exc, EMAIL_CONSTRAINT):
            raise EmailTakenError() from exc
        raise
    return user


def get_user(*, session: Session, user_id: int) -> RowMapping | None:
    row = session.execute(_GET_USER, {"user_id": user_id}).one_or_none()
    return None if row is None else row._mapping


def get_user_by_email(*, session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email)).first()


def set_password_hash(*, session: Session, user_id: int, password_hash: str) -> None:
    session.execute(update(User).where(col(User.id) == user_id).values(password_hash=password_hash))


def set_role(*, session: Session, email: str, role: str) -> bool:
    """Give the user with this email ``role``; False when no user has the email."""
    result = session.execute(update(User).where(col(User.email) == email).values(role=role))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_users(*, session: Session, limit: int, offset: int) -> tuple[Sequence[User], int]:
    items = session.exec(select(User).order_by(col(User.id)).limit(limit).offset(offset)).all()
    total = session.exec(select(func.count()).select_from(User)).one()
    return items, total
