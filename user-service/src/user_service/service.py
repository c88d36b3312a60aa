"""Business rules over the repository: each function is one unit of work, and returns public
models.

Every function takes the session factory and opens its unit of work with
``with sessions.begin() as session:`` (commit on success, rollback on error, session closed), or
``with sessions.read() as session:`` when it only reads (autocommit: no BEGIN/COMMIT round
trips), so a route never touches a session or a transaction (docs/design.md, "One idiom each").
Argon2 runs outside any transaction: no database connection is held for the tens of milliseconds
a hash takes.
Who may read whom is decided here too (``authorize_read``), from the verified token's principal.
"""

from __future__ import annotations

from dataclasses import dataclass

from service_kit.auth import ForbiddenError
from service_kit.db import Sessions
from service_kit.tokens import Principal
from user_service import repository
from user_service.errors import (
    REALM,
    InvalidCredentialsError,
    LoginThrottledError,
    UserNotFoundError,
)
from user_service.models import Role, UserCreate, UserPage, UserPublic, normalise_email
from user_service.passwords import PASSWORD_MAX, PasswordHasher
from user_service.throttle import LoginThrottle


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Who logged in: what a token is issued for."""

    user_id: int
    role: str


def create_user(*, sessions: Sessions, hasher: PasswordHasher, data: UserCreate) -> UserPublic:
    """Store a new user with the Argon2id hash of its password; ``EmailTakenError`` when the
    email is registered (race-safe)."""
    password_hash = hasher.hash(data.password)
    with sessions.begin() as session:
        user = repository.create_user(session=session, data=data, password_hash=password_hash)
        return UserPublic.model_validate(user)


def authenticate(
    *,
    sessions: Sessions,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    email: str,
    password: str,
) -> Authenticated:
    """The user whose email and password these are, else ``InvalidCredentialsError``.

    An unknown email costs the same Argon2 time as a wrong password and gets the same error; a
    name that failed too often gets ``LoginThrottledError`` before any check. A correct password
    whose hash used older parameters is rehashed and stored.
    """
    try:
        name = normalise_email(email)
    except ValueError:  # no account can have it: no lookup, no throttle entry, no hash
        raise InvalidCredentialsError() from None
    if (retry_after := throttle.retry_after(name)) is not None:
        raise LoginThrottledError(retry_after)
    if len(password) > PASSWORD_MAX:
        throttle.failure(name)
        raise InvalidCredentialsError()
    with sessions.read() as session:  # the factory keeps attributes loaded after the unit
        user = repository.get_user_by_email(session=session, email=name)
    if user is None or user.id is None or user.password_hash is None:
        hasher.verify_unknown(password)  # no such user, or one made before passwords existed
        throttle.failure(name)
        raise InvalidCredentialsError()
    user_id, role = user.id, user.role
    verdict = hasher.verify(password, user.password_hash)
    if not verdict.valid:
        throttle.failure(name)
        raise InvalidCredentialsError()
    if verdict.new_hash is not None:
        with sessions.begin() as session:
            repository.set_password_hash(
                session=session, user_id=user_id, password_hash=verdict.new_hash
            )
    throttle.success(name)
    return Authenticated(user_id=user_id, role=role)


def authorize_read(principal: Principal, user_id: int) -> None:
    """A user reads their own record; an admin reads any. Checked before any lookup, so a 403
    says nothing about whether the user exists."""
    if principal.user_id != user_id and Role.ADMIN.value not in principal.roles:
        raise ForbiddenError(REALM, "A token may read only its own user.")


def authorize_list(principal: Principal) -> None:
    if Role.ADMIN.value not in principal.roles:
        raise ForbiddenError(REALM, "Only an admin may list users.")


def get_user(*, sessions: Sessions, user_id: int) -> UserPublic:
    with sessions.read() as session:
        row = repository.get_user(session=session, user_id=user_id)
    if row is None:
        raise UserNotFoundError(user_id)
    return UserPublic.model_validate(row)


def list_users(*, sessions: Sessions, limit: int, offset: int) -> UserPage:
    with sessions.read() as session:
        items, total = repository.list_users(session=session, limit=limit, offset=offset)
        return UserPage(
            items=[UserPublic.model_validate(user) for user in items],
            total=total,
            limit=limit,
            offset=offset,
        )


def set_role(*, sessions: Sessions, email: str, role: Role) -> bool:
    """Grant or revoke admin (the CLI); False when no user has this email, ``ValueError`` when it
    is not an email address."""
    normalised = normalise_email(email)
    with sessions.begin() as session:
        return repository.set_role(session=session, email=normalised, role=role.value)
