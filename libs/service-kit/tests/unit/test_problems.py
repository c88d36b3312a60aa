"""Problem details rendering: one shape for every error, nothing internal leaks (no I/O)."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from service_kit.problems import (
    PROBLEM_CONTENT_TYPE,
    ServiceError,
    install_error_handlers,
    problem_response,
    validation_problem,
)

pytestmark = pytest.mark.unit


class _GoneError(ServiceError):
    status, slug, title = 410, "gone", "Gone"


class _DependencyDownError(ServiceError):
    status, slug, title = 503, "dependency-down", "Dependency down"

    def __str__(self) -> str:
        return "connect timeout to the dependency"


class _BusyError(ServiceError):
    status, slug, title = 503, "busy", "Busy"
    detail = "Too busy; retry after Retry-After."
    retry_after = 2.0


class _WhoAreYouError(ServiceError):
    status, slug, title = 401, "who", "Who are you"

    def challenge(self) -> tuple[str | None, str | None]:
        return "invalid_token", 'a "quoted" reason'


def _body(response: object) -> dict[str, object]:
    return json.loads(response.body)  # type: ignore[attr-defined,no-any-return]


def _get(app: FastAPI, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(go())


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/gone")
    async def gone() -> None:
        raise _GoneError("It went.")

    @app.get("/who")
    async def who() -> None:
        raise _WhoAreYouError()

    @app.get("/down")
    async def down() -> None:
        raise _DependencyDownError("Try later.", retry_after=3)

    return app


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


def test_a_domain_error_is_answered_with_its_own_status_slug_and_detail() -> None:
    response = _get(_app(), "/gone")
    assert response.status_code == 410
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.json() == {
        "type": "/problems/gone",
        "title": "Gone",
        "status": 410,
        "detail": "It went.",
        "instance": "/gone",
        "request_id": None,
    }


def test_a_failed_dependency_adds_its_headers_and_logs_its_reason_not_to_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="service_kit.problems"):
        response = _get(_app(), "/down")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert response.json()["detail"] == "Try later."
    assert "connect timeout" not in response.text
    assert "Dependency down: connect timeout to the dependency" in caplog.messages


@pytest.mark.parametrize(
    ("retry_after", "header"), [(0.0, "1"), (0.2, "1"), (1, "1"), (1.5, "2"), (30.0, "30")]
)
def test_retry_after_is_sent_in_whole_seconds_rounded_up_and_at_least_one(
    retry_after: float, header: str
) -> None:
    assert _BusyError(retry_after=retry_after).headers() == {"Retry-After": header}


def test_an_error_without_retry_after_adds_no_headers() -> None:
    assert _GoneError("It went.").headers() is None


def test_a_subclass_declares_its_fixed_detail_and_its_default_retry_after() -> None:
    error = _BusyError()
    assert (str(error), error.detail) == ("Too busy; retry after Retry-After.",) * 2
    assert error.headers() == {"Retry-After": "2"}
    assert _GoneError().detail == "Gone"  # no detail at all: the title


def test_a_challenge_is_answered_with_the_service_s_name_as_its_realm() -> None:
    app = _app()
    app.state.settings = type("S", (), {"service_name": "example"})()
    response = _get(app, "/who")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="example", error="invalid_token", error_description="a \'quoted\' reason"'
    )


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
