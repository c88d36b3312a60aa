"""Request ids through the whole app, and the JSON log lines that carry them."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from service_kit.log import configure_logging

PW = {"password": "correct horse battery staple"}


def test_caller_request_id_is_returned_on_success_and_on_problems(
    client: TestClient, mint: Callable[..., dict[str, str]]
) -> None:
    headers = {"X-Request-ID": "trace-abc-1"}
    created = client.post("/users", json={"name": "A", "email": "a@example.com", **PW},
                          headers=headers)  # fmt: skip
    missing = client.get("/users/99", headers={**headers, **mint()})
    invalid = client.post("/users", json={}, headers=headers)
    for response in (created, missing, invalid):
        assert response.headers["x-request-id"] == "trace-abc-1"
    assert missing.json()["request_id"] == invalid.json()["request_id"] == "trace-abc-1"


def test_unsafe_request_id_is_replaced(client: TestClient) -> None:
    response = client.get("/health/live", headers={"X-Request-ID": "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_requests_write_json_log_lines_with_their_request_id(
    client: TestClient, mint: Callable[..., dict[str, str]]
) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        client.post(
            "/users",
            json={"name": "A", "email": "a@example.com", **PW},
            headers={"X-Request-ID": "log-me"},
        )
        client.get("/users/42", headers={"X-Request-ID": "log-me-too", **mint()})
    finally:
        configure_logging("INFO")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "user_service.access"]
    assert [(a["request_id"], a["status"], a["path"]) for a in access] == [
        ("log-me", 201, "/users"),
        ("log-me-too", 404, "/users/42"),
    ]
    assert all(
        {"time", "level", "logger", "message", "request_id"} <= line.keys() for line in lines
    )
    assert "correct horse" not in stream.getvalue()  # a password never reaches a log line
    assert "$argon2" not in stream.getvalue()
