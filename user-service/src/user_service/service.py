"""Business rules over the repository: owns the transaction, raises domain errors.

Routes call these; so can tests, the CLI and Pact provider states, with any ``Session``.
Who may read whom is decided here too (``authorize_read``), from the verified token's principal.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session

from service_kit.auth import ForbiddenError
from service_kit.tokens import Principal
from user_service import repository
from user_service.errors import (
    REALM,
    InvalidCredentialsError,
    LoginThrottledError,
    UserNotFoundError,
)
from user_service.models import Role, User, UserCreate, UserPage, UserPublic
from user_service.passwords import PASSWORD_MAX, PasswordHasher
from user_service.throttle import LoginThrottle

LOGIN_NAME_MAX = 320


def create_user(
    *,
    session: Session,
    data: UserCreate,
    hasher: PasswordHasher,
    user_id: int | None = None,
) -> User:
    """Store a new user with the Argon2id hash of its password; ``EmailTakenError`` when the
    email is registered (race-safe)."""
    password_hash = hasher.hash(data.password)
    user = repository.create_user(
        session=session, data=data, password_hash=password_hash, user_id=user_id
    )
    session.commit()
    return user


def authenticate(
    *,
    session: Session,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    email: str,
    password: str,
) -> User:
    """The user whose email and password these are, else ``InvalidCredentialsError``.

    An unknown email costs the same Argon2 time as a wrong password and gets the same error; a
    name that failed too often gets ``LoginThrottledError`` before any check. A correct password
    whose hash used older parameters is rehashed and stored.
    """
    name = email.strip().lower()
    if (retry_after := throttle.retry_after(name)) is not None:
        raise LoginThrottledError(retry_after)
    if len(name) > LOGIN_NAME_MAX or len(password) > PASSWORD_MAX:
        throttle.failure(name)
        raise InvalidCredentialsError()
    user = repository.get_user_by_email(session=session, email=name)
    if user is None or user.password_hash is None:
        hasher.verify_unknown(password)
        throttle.failure(name)
        raise InvalidCredentialsError()
    verdict = hasher.verify(password, user.password_hash)
    if not verdict.valid:
        throttle.failure(name)
        raise InvalidCredentialsError()
    if verdict.new_hash is not None:
        assert user.id is not None
        repository.set_password_hash(
            session=session, user_id=user.id, password_hash=verdict.new_hash
        )
        session.commit()
    throttle.success(name)
    return user


def authorize_read(principal: Principal, user_id: int) -> None:
    """A user reads their own record; an admin reads any. Checked before any lookup, so a 403
    says nothing about whether the user exists."""
    if principal.user_id != user_id and Role.ADMIN.value not in principal.roles:
        raise ForbiddenError(REALM, "A token may read only its own user.")


def authorize_list(principal: Principal) -> None:
    if Role.ADMIN.value not in principal.roles:
        raise ForbiddenError(REALM, "Only an admin may list users.")


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


def set_role(*, session: Session, email: str, role: Role) -> bool:
    """Grant or revoke admin (the CLI); False when no user has this email."""
    changed = repository.set_role(session=session, email=email.strip().lower(), role=role.value)
    session.commit()
    return changed


def delete_users(*, session: Session, user_ids: Collection[int] | None = None) -> int:
    """Remove the given users (all when ``user_ids`` is None); for tests and provider states."""
    deleted = repository.delete_users(session=session, user_ids=user_ids)
    session.commit()
    return deleted
