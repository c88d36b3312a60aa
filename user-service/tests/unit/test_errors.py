"""user-service's domain errors carry their HTTP translation (the kit renders them; no I/O)."""

import pytest

from service_kit.problems import ServiceError
from user_service.errors import (
    ClientRateLimitedError,
    EmailTakenError,
    LoginThrottledError,
    PasswordChecksBusyError,
    UserNotFoundError,
    UserServiceError,
)


@pytest.mark.parametrize(
    ("error", "status", "slug", "detail"),
    [
        (UserNotFoundError(7), 404, "user-not-found", "No user with id 7."),
        (EmailTakenError(), 409, "email-taken", "A user with this email already exists."),
    ],
)
def test_domain_errors_carry_their_http_translation(
    error: UserServiceError, status: int, slug: str, detail: str
) -> None:
    assert (error.status, error.slug, error.detail) == (status, slug, detail)
    assert isinstance(error, ServiceError)


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (LoginThrottledError(retry_after=60), "60"),
        (LoginThrottledError(retry_after=0), "1"),
        (ClientRateLimitedError(retry_after=3), "3"),
        (PasswordChecksBusyError(retry_after=7), "7"),
        (PasswordChecksBusyError(), "1"),
    ],
)
def test_refusals_that_pass_send_retry_after_in_whole_seconds_of_at_least_one(
    error: UserServiceError, retry_after: str
) -> None:
    assert error.headers() == {"Retry-After": retry_after}
