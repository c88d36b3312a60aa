"""The domain errors of user-service; ``service_kit.problems`` translates them to HTTP.

Each carries its status, slug and title (RFC 9457 problem details)::

    ServiceError                       service_kit.problems
    ├── UserServiceError               a rule of user-service was not met
    │   ├── UserNotFoundError          404 /problems/user-not-found
    │   ├── EmailTakenError            409 /problems/email-taken
    │   ├── InvalidCredentialsError    401 /problems/invalid-credentials (the token endpoint: the
    │   │                                  same answer for a wrong password and an unknown email)
    │   ├── LoginThrottledError        429 /problems/too-many-login-failures + Retry-After
    │   ├── ClientRateLimitedError     429 /problems/too-many-requests + Retry-After (per client
    │   │                                  address, on POST /token and POST /users)
    │   └── PasswordChecksBusyError    503 /problems/password-checks-busy + Retry-After (the
    │                                      hashing queue, or the throttle's table, is full)
    ├── AuthenticationRequiredError    401 /problems/authentication-required  (service_kit.auth)
    ├── TokenRejectedError             401 /problems/invalid-token            (service_kit.auth)
    ├── ForbiddenError                 403 /problems/forbidden                (service_kit.auth)
    └── DatabaseUnavailableError       503 /problems/database-unavailable (service_kit.problems)
"""

from __future__ import annotations

from typing import Any

from service_kit.problems import ServiceError


class UserServiceError(ServiceError):
    """Base of user-service's own errors."""


class UserNotFoundError(UserServiceError):
    status, slug, title = 404, "user-not-found", "User not found"

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"No user with id {user_id}.")


class EmailTakenError(UserServiceError):
    status, slug, title = 409, "email-taken", "Email already registered"
    detail = "A user with this email already exists."


class InvalidCredentialsError(UserServiceError):
    status, slug, title = 401, "invalid-credentials", "Invalid credentials"
    detail = "The email or the password is wrong."

    def challenge(self) -> tuple[str | None, str | None]:
        return None, None

    def extra(self) -> dict[str, Any] | None:
        return {"error": "invalid_grant"}  # RFC 6749 section 5.2, for OAuth2 clients


class LoginThrottledError(UserServiceError):
    status, slug, title = 429, "too-many-login-failures", "Too many failed logins"
    detail = "Too many failed logins for this account; retry after Retry-After."


class ClientRateLimitedError(UserServiceError):
    status, slug, title = 429, "too-many-requests", "Too many requests"
    detail = "Too many requests from this address; retry after Retry-After."


class PasswordChecksBusyError(UserServiceError):
    status, slug, title = 503, "password-checks-busy", "Too many password checks"
    detail = "Too many logins and registrations at once; retry after Retry-After."
    retry_after = 1
