"""user-service's domain errors carry their HTTP translation (the kit renders them; no I/O)."""

import pytest

from service_kit.problems import ServiceError
from user_service.errors import EmailTakenError, UserNotFoundError, UserServiceError


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
