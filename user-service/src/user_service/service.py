"""Business rules over the repository: ``Users`` holds the use cases, built once at startup
(main.py) with their collaborators; routes call its async methods with what the request brings.

Each unit of work opens with ``with sessions.begin() as session:`` (commit on success, rollback
on error) or ``with sessions.read() as session:`` when it only reads (autocommit: no BEGIN/COMMIT
round trips), runs in the thread pool, and returns public models (docs/design.md, "One idiom
each"). The two password paths hash on the hasher's own capacity (``PasswordHasher.run``) between
their units of work, so no database connection is held while a hash runs and a login flood never
holds the threads other requests' database work needs. Who may read whom is decided here too,
from the verified token's principal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from service_kit.auth import ForbiddenError
from service_kit.db import Sessions
from service_kit.tokens import Principal
from user_service import repository
from user_service.errors import (
    ClientRateLimitedError,
    InvalidCredentialsError,
    LoginThrottledError,
    PasswordChecksBusyError,
    UserNotFoundError,
)
from user_service.models import AccessToken, Role, UserCreate, UserPage, UserPublic, normalise_email
from user_service.passwords import PASSWORD_MAX, PasswordHasher
from user_service.ratelimit import ClientRateLimiter
from user_service.signing import KeyRing
from user_service.throttle import LoginThrottle


@dataclass(frozen=True, slots=True)
class Account:
    """What a login checks: the stored hash, and what a token is issued for."""

    user_id: int
    role: str
    password_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """What every access token says besides its subject: who issued it, for whom, how long."""

    issuer: str
    audience: str
    ttl: int


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Users:
    """The use cases of users and their identity, built once at startup (main.py): the session
    factory, the password hasher, the login throttle, the per-client limiter of the password
    endpoints, the signing keys and the token policy. Routes get it through
    ``api.deps.UsersDep``; tests swap a part with ``dataclasses.replace``."""

    sessions: Sessions
    hasher: PasswordHasher
    throttle: LoginThrottle
    limiter: ClientRateLimiter
    keyring: KeyRing
    tokens: TokenPolicy

    def admit(self, client: str | None) -> None:
        """Spend one request of ``client``'s budget (its address); ``ClientRateLimitedError``
        (429 + Retry-After) when it is spent."""
        if (retry_after := self.limiter.take(client)) is not None:
            raise ClientRateLimitedError(retry_after=retry_after)

    async def register(self, *, data: UserCreate) -> UserPublic:
        """Store a new user with the Argon2id hash of its password; ``EmailTakenError`` when the
        email is registered (race-safe). The hash comes first, so a taken email costs a caller
        as much as a new one."""
        password_hash = await self.hasher.run(self.hasher.hash, data.password)
        return await run_in_threadpool(self.store_user, data=data, password_hash=password_hash)

    async def issue_token(self, *, email: str, password: str) -> AccessToken:
        """An access token for the user whose email and password these are; an admin's carries
        the admin role."""
        account = await self.authenticate(email=email, password=password)
        issued = self.keyring.issue(
            subject=str(account.user_id),
            roles=[account.role] if account.role == Role.ADMIN.value else [],
            issuer=self.tokens.issuer,
            audience=self.tokens.audience,
            ttl=self.tokens.ttl,
        )
        return AccessToken(access_token=issued.token, expires_in=issued.expires_in)

    async def authenticate(self, *, email: str, password: str) -> Account:
        """The account whose email and password these are, else ``InvalidCredentialsError``.

        An unknown email costs the same Argon2 time as a wrong password and gets the same error;
        a name that failed too often gets ``LoginThrottledError`` before any check. A name that
        cannot be an email, or a password longer than any password, cannot be right: 401 at once,
        with no lookup, hash or throttle entry. A correct password whose hash used older
        parameters is rehashed and stored.
        """
        try:
            name = normalise_email(email)
        except ValueError:
            raise InvalidCredentialsError() from None
        if (refusal := self.throttle.check(name)) is not None:
            if refusal.locked:
                raise LoginThrottledError(retry_after=refusal.retry_after)
            raise PasswordChecksBusyError(retry_after=refusal.retry_after)
        if len(password) > PASSWORD_MAX:
            raise InvalidCredentialsError()
        account = await run_in_threadpool(self.find_account, email=name)
        if account is None:  # no such user, or one made before passwords existed
            await self.hasher.run(self.hasher.verify_unknown, password)
            self.throttle.failure(name)
            raise InvalidCredentialsError()
        verdict = await self.hasher.run(self.hasher.verify, password, account.password_hash)
        if not verdict.valid:
            self.throttle.failure(name)
            raise InvalidCredentialsError()
        if verdict.new_hash is not None:
            await run_in_threadpool(
                self.store_password_hash, user_id=account.user_id, password_hash=verdict.new_hash
            )
        self.throttle.success(name)
        return account

    async def get_user(self, *, principal: Principal, user_id: int) -> UserPublic:
        """A user reads their own record; an admin reads any. Checked before any lookup, so a
        403 says nothing about whether the user exists."""
        if principal.user_id != user_id and Role.ADMIN.value not in principal.roles:
            raise ForbiddenError("A token may read only its own user.")
        return await run_in_threadpool(self.read_user, user_id=user_id)

    async def list_users(self, *, principal: Principal, limit: int, offset: int) -> UserPage:
        if Role.ADMIN.value not in principal.roles:
            raise ForbiddenError("Only an admin may list users.")
        return await run_in_threadpool(self.read_page, limit=limit, offset=offset)

    def store_user(self, *, data: UserCreate, password_hash: str) -> UserPublic:
        with self.sessions.begin() as session:
            row = repository.add_user(
                session=session, name=data.name, email=data.email, password_hash=password_hash
            )
        return UserPublic.model_validate(row)

    def find_account(self, *, email: str) -> Account | None:
        with self.sessions.read() as session:
            row = repository.get_account(session=session, email=email)
        if row is None or row["password_hash"] is None:
            return None
        return Account(user_id=row["id"], role=row["role"], password_hash=row["password_hash"])

    def store_password_hash(self, *, user_id: int, password_hash: str) -> None:
        with self.sessions.begin() as session:
            repository.set_password_hash(
                session=session, user_id=user_id, password_hash=password_hash
            )

    def read_user(self, *, user_id: int) -> UserPublic:
        with self.sessions.read() as session:
            row = repository.get_user(session=session, user_id=user_id)
        if row is None:
            raise UserNotFoundError(user_id)
        return UserPublic.model_validate(row)

    def read_page(self, *, limit: int, offset: int) -> UserPage:
        with self.sessions.read() as session:
            rows, total = repository.list_users(session=session, limit=limit, offset=offset)
        return UserPage(
            items=[UserPublic.model_validate(row) for row in rows],
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
