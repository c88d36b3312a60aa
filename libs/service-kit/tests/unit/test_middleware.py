"""Request-id and access-log middleware on a bare ASGI app (in memory, no network)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from service_kit.log import configure_logging, current_request_id
from service_kit.middleware import RequestContextMiddleware, accept_request_id

pytestmark = pytest.mark.unit

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize("value", ["abc", "A-1_b.c:d", "x" * 128, "!~"])
def test_visible_ascii_request_id_is_kept(value: str) -> None:
    assert accept_request_id(value) == value


@pytest.mark.parametrize("value", [None, "", "x" * 129, "has space", "tab\t", "é", "a\nb"])
def test_missing_or_unsafe_request_id_is_replaced_by_uuid4_hex(value: str | None) -> None:
    assert HEX32.match(accept_request_id(value))


async def _cached(request: Request) -> JSONResponse:
    return JSONResponse({}, headers={"Cache-Control": "public, max-age=300"})


async def _echo(request: Request) -> JSONResponse:
    logging.getLogger("example_service.test").info("inside handler")
    return JSONResponse({"request_id": current_request_id(), "state": request.state.request_id})


def _app() -> RequestContextMiddleware:
    starlette_app = Starlette(
        routes=[Route("/echo", _echo, methods=["GET", "POST"]), Route("/cached", _cached)]
    )

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") == "/boom":  # raw ASGI, as FastAPI's routes sit below the middleware
            raise RuntimeError("secret internals")
        if scope.get("path") == "/get-only":  # as a FastAPI GET route: HEAD is not its method
            response = JSONResponse({}, status_code=200 if scope["method"] == "GET" else 405)
            await response(scope, receive, send)
            return
        await starlette_app(scope, receive, send)

    return RequestContextMiddleware(inner, max_body_size=10, access_logger="example_service.access")


def _request(method: str, path: str, **kwargs: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_caller_request_id_is_used_and_returned() -> None:
    response = _request("GET", "/echo", headers={"X-Request-ID": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    assert response.json() == {"request_id": "trace-123", "state": "trace-123"}


def test_request_id_is_generated_when_missing() -> None:
    response = _request("GET", "/echo")
    assert HEX32.match(response.headers["x-request-id"])
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_declared_body_over_limit_gets_413_problem() -> None:
    response = _request("POST", "/echo", content=b"x" * 11)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/content-too-large"
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_unexpected_exception_gives_500_problem_without_details() -> None:
    response = _request("GET", "/boom", headers={"X-Request-ID": "r-500"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "r-500"
    assert response.json() == {
        "type": "/problems/internal",
        "title": "Internal error",
        "status": 500,
        "detail": "The server failed to answer; the error is logged under this request id.",
        "instance": "/boom",
        "request_id": "r-500",
    }
    assert "secret" not in response.text
    assert "Traceback" not in response.text


def test_every_log_line_is_json_with_the_request_id() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        _request("GET", "/echo", headers={"X-Request-ID": "log-1"})
    finally:
        configure_logging("INFO")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    handler_line = next(line for line in lines if line["message"] == "inside handler")
    access_line = next(line for line in lines if line["logger"] == "example_service.access")
    assert handler_line["request_id"] == access_line["request_id"] == "log-1"
    assert access_line["status"] == 200
    assert access_line["method"] == "GET"
    assert access_line["path"] == "/echo"
    assert isinstance(access_line["duration_ms"], float)
    assert all("request_id" in line for line in lines)


def test_logging_leaves_httpx_request_lines_out_at_info() -> None:
    """A client logs its own retries and failures; httpx's line per call would double the log."""
    configure_logging("INFO")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)


@pytest.mark.parametrize("path", ["/echo", "/boom", "/nowhere"])
def test_every_response_is_nosniff_and_not_stored(path: str) -> None:
    response = _request("GET", path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers.get_list("cache-control") == ["no-store"]


def test_a_declared_oversize_body_s_413_is_nosniff_and_not_stored() -> None:
    response = _request("POST", "/echo", content=b"x" * 11)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_a_route_s_own_cache_control_is_kept() -> None:
    response = _request("GET", "/cached")
    assert response.headers.get_list("cache-control") == ["public, max-age=300"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_head_is_served_as_get_and_logged_as_head() -> None:
    """RFC 9110 section 9.3.2: HEAD is GET without the body (the server drops the body)."""
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        response = _request("HEAD", "/get-only")
    finally:
        configure_logging("INFO")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    access = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["method"] for line in access if line["logger"] == "example_service.access"] == [
        "HEAD"
    ]
