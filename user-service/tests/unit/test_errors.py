"""Problem details rendering: one shape for every error, nothing internal leaks (no I/O)."""

import json

import pytest
from fastapi.exceptions import RequestValidationError

from user_service.errors import (
    PROBLEM_CONTENT_TYPE,
    DatabaseUnavailableError,
    EmailTakenError,
    UserNotFoundError,
    UserServiceError,
    problem_response,
    validation_problem,
)


def _body(response: object) -> dict[str, object]:
    return json.loads(response.body)  # type: ignore[attr-defined,no-any-return]


def test_problem_response_has_the_rfc9457_shape() -> None:
    response = problem_response(
        status=404,
        slug="user-not-found",
        title="User not found",
        detail="No user with id 7.",
        instance="/users/7",
        request_id="abc",
    )
    assert response.status_code == 404
    assert response.media_type == PROBLEM_CONTENT_TYPE == "application/problem+json"
    assert _body(response) == {
        "type": "/problems/user-not-found",
        "title": "User not found",
        "status": 404,
        "detail": "No user with id 7.",
        "instance": "/users/7",
        "request_id": "abc",
    }


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (UserNotFoundError(7), 404, "user-not-found"),
        (EmailTakenError(), 409, "email-taken"),
        (DatabaseUnavailableError(), 503, "database-unavailable"),
    ],
)
def test_domain_errors_carry_their_http_translation(
    error: UserServiceError, status: int, slug: str
) -> None:
    assert (error.status, error.slug) == (status, slug)
    assert isinstance(error, UserServiceError)


def test_validation_problem_lists_errors_without_echoing_input() -> None:
    secret = "x" * 10_000
    exc = RequestValidationError(
        [
            {
                "type": "string_too_long",
                "loc": ("body", "name"),
                "msg": "String should have at most 100 characters",
                "input": secret,
                "ctx": {"max_length": 100},
            }
        ]
    )
    body = _body(validation_problem(exc, instance="/users", request_id="r1"))
    assert body["status"] == 422
    assert body["type"] == "/problems/validation"
    assert body["errors"] == [
        {
            "loc": ["body", "name"],
            "msg": "String should have at most 100 characters",
            "type": "string_too_long",
        }
    ]
    assert secret not in json.dumps(body)
