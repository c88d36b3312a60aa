"""The only module that runs SQL: the users table. Keyword-only, typed, no business rules.

Callers own the transaction (``sessions.begin()`` to write, ``sessions.read()`` to read); these
functions never commit. Every statement is Core, built once at import with bind parameters, as in
order-service: SQLAlchemy neither builds nor compiles it again per request, and rows are read
without the ORM's identity map. A unique-email violation surfaces here as ``EmailTakenError``.
The password hash leaves this module only on the login path (``get_account``); every other read
selects the public columns alone.
"""

from __future__ import annotations

from sqlalchemy import RowMapping, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from service_kit.db import unique_violation
from service_kit.timestamps import utc_now
from user_service.errors import EmailTakenError
from user_service.models import User, UserPublic

EMAIL_CONSTRAINT = "uq_users_email"

_users = User.__table__  # type: ignore[attr-defined]
_PUBLIC = [_users.c[name] for name in UserPublic.model_fields]
_INSERT = insert(_users).returning(*_PUBLIC)
_GET_USER = select(*_PUBLIC).where(_users.c.id == bindparam("user_id"))
_GET_ACCOUNT = select(_users.c.id, _users.c.role, _users.c.password_hash).where(
    _users.c.email == bindparam("email")
)
_LIST = select(*_PUBLIC).order_by(_users.c.id).limit(bindparam("limit")).offset(bindparam("offset"))
_COUNT = select(func.count()).select_from(_users)
# an UPDATE's bind parameters may not share a column's name
_SET_HASH = (
    update(_users)
    .where(_users.c.id == bindparam("user_id"))
    .values(password_hash=bindparam("new_hash"))
)
_SET_ROLE = (
    update(_users).where(_users.c.email == bindparam("of_email")).values(role=bindparam("new_role"))
)


def add_user(*, session: Session, name: str, email: str, password_hash: str) -> RowMapping:
    """``INSERT ... RETURNING`` the public columns; ``EmailTakenError`` when the email is taken
    (the unique constraint decides a race)."""
    values = {"name": name, "email": email, "password_hash": password_hash, "created_at": utc_now()}
    try:
        return session.execute(_INSERT, values).one()._mapping
    except IntegrityError as exc:
        if unique_violation(exc, EMAIL_CONSTRAINT):
            raise EmailTakenError() from exc
        raise


def get_user(*, session: Session, user_id: int) -> RowMapping | None:
    row = session.execute(_GET_USER, {"user_id": user_id}).one_or_none()
    return None if row is None else row._mapping


def get_account(*, session: Session, email: str) -> RowMapping | None:
    """``id``, ``role`` and ``password_hash`` of the user with this email (the login path)."""
    row = session.execute(_GET_ACCOUNT, {"email": email}).one_or_none()
    return None if row is None else row._mapping


def list_users(*, session: Session, limit: int, offset: int) -> tuple[list[RowMapping], int]:
    rows = session.execute(_LIST, {"limit": limit, "offset": offset})
    items = [row._mapping for row in rows]
    return items, int(session.execute(_COUNT).scalar_one())


def set_password_hash(*, session: Session, user_id: int, password_hash: str) -> None:
    session.execute(_SET_HASH, {"user_id": user_id, "new_hash": password_hash})


def set_role(*, session: Session, email: str, role: str) -> bool:
    """Give the user with this email ``role``; False when no user has the email."""
    result = session.execute(_SET_ROLE, {"of_email": email, "new_role": role})
    return bool(getattr(result, "rowcount", 0))
