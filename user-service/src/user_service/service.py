"""Business rules over the repository: each function is one unit of work, and returns public
models.

Every function takes the session factory and opens its unit of work with
``with sessions.begin() as session:`` (commit on success, rollback on error, session closed), or
``with sessions.read() as session:`` when it only reads (autocommit: no BEGIN/COMMIT round
trips), so a route never touches a session or a transaction (docs/design.md, "One idiom each").
The two password paths (``create_user``, ``authenticate``) are async: each unit of database work
goes to the thread pool, each hash to the hasher's own capacity (``PasswordHasher.run``), so no
database connection is held while a hash runs and a login flood never holds the threads other
requests' database work needs.
Who may read whom is decided here too (``authorize_read``), from the verified token's principal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from service_kit.auth import ForbiddenError
from service_kit.db import Sessions
from service_kit.tokens import Principal
from user_service import repository
from user_service.errors import (
    REALM,
    InvalidCredentialsError,
    LoginThrottledError,
    PasswordChecksBusyError,
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


@dataclass(frozen=True, slots=True)
class Account:
    """What a login checks: the stored hash, and what a token is issued for."""

    user_id: int
    role: str
    password_hash: str = field(repr=False)


async def create_user(
    *, sessions: Sessions, hasher: PasswordHasher, data: UserCreate
) -> UserPublic:
    """Store a new user with the Argon2id hash of its password; ``EmailTakenError`` when the
    email is registered (race-safe). The hash comes first, so a taken email costs a caller as
    much as a new one."""
    password_hash = await hasher.run(hasher.hash, data.password)
    return await run_in_threadpool(
        store_user, sessions=sessions, data=data, password_hash=password_hash
    )


def store_user(*, sessions: Sessions, data: UserCreate, password_hash: str) -> UserPublic:
    with sessions.begin() as session:
        user = repository.create_user(session=session, data=data, password_hash=password_hash)
        return UserPublic.model_validate(user)


async def authenticate(
    *,
    sessions: Sessions,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    email: str,
    password: str,
) -> Authenticated:
    """The user whose email and password these are, else ``InvalidCredentialsError``.

    An unknown email costs the same Argon2 time as a wrong password and gets the same error; a
    name that failed too often gets ``LoginThrottledError`` before any check. A name that cannot
    be an email, or a password longer than any password, cannot be right: 401 at once, with no
    lookup, hash or throttle entry. A correct password whose hash used older parameters is
    rehashed and stored.
    """
    try:
        name = normalise_email(email)
    except ValueError:
        raise InvalidCredentialsError() from None
    if (refusal := throttle.check(name)) is not None:
        if refusal.locked:
            raise LoginThrottledError(refusal.retry_after)
        raise PasswordChecksBusyError(refusal.retry_after)
    if len(password) > PASSWORD_MAX:
        raise InvalidCredentialsError()
    account = await run_in_threadpool(find_account, sessions=sessions, email=name)
    if account is None:  # no such user, or one made before passwords existed
        await hasher.run(hasher.verify_unknown, password)
        throttle.failure(name)
        raise InvalidCredentialsError()
    verdict = await hasher.run(hasher.verify, password, account.password_hash)
    if not verdict.valid:
        throttle.failure(name)
        raise InvalidCredentialsError()
    if verdict.new_hash is not None:
        await run_in_threadpool(
            store_password_hash,
            sessions=sessions,
            user_id=account.user_id,
            password_hash=verdict.new_hash,
        )
    throttle.success(name)
    return Authenticated(user_id=account.user_id, role=account.role)


def find_account(*, sessions: Sessions, email: str) -> Account | None:
    with sessions.read() as session:
        user = repository.get_user_by_email(session=session, email=email)
        if user is None or user.id is None or user.password_hash is None:
            return None
        return Account(user_id=user.id, role=user.role, password_hash=user.password_hash)


def store_password_hash(*, sessions: Sessions, user_id: int, password_hash: str) -> None:
    with sessions.begin() as session:
        repository.set_password_hash(session=session, user_id=user_id, password_hash=password_hash)


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
