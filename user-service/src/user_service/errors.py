"""The domain errors of user-service; ``service_kit.problems`` translates them to HTTP.

Each carries its status, slug and title (RFC 9457 problem details)::

    ServiceError                  service_kit.problems
    ├── UserServiceError          a rule of user-service was not met
    │   ├── UserNotFoundError     404 /problems/user-not-found
    │   └── EmailTakenError       409 /problems/email-taken
    └── DatabaseUnavailableError  503 /problems/database-unavailable (service_kit.problems)
"""

from __future__ import annotations

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

    def __init__(self) -> None:
        super().__init__("A user with this email already exists.")
