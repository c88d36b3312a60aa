"""Fixtures of the client's unit tests: a scripted user-service behind httpx.MockTransport."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

Handler = Callable[[httpx.Request], httpx.Response]
PROBLEM_JSON = {"Content-Type": "application/problem+json"}


class Script:
    """A user-service handler answering from a list of responses, exceptions or handlers (the
    last one repeats), counting requests; ``ok``, ``status`` and ``problem`` make the answers."""

    def __init__(self, *outcomes: httpx.Response | Exception | Handler) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, httpx.Response):
            return outcome
        return outcome(request)

    @staticmethod
    def ok(user_id: int = 42) -> httpx.Response:
        body = {"id": user_id, "name": "Ada", "email": "ada@example.com", "created_at": "x"}
        return httpx.Response(200, json=body)

    @staticmethod
    def status(code: int, headers: dict[str, str] | None = None) -> httpx.Response:
        if code == 404:  # what user-service answers for a missing user (the contract's problem)
            return Script.problem(404, "/problems/user-not-found")
        if code == 422:  # what user-service answers for an id it cannot hold
            return Script.problem(422, "/problems/validation")
        return httpx.Response(code, headers=headers, json={"status": code})

    @staticmethod
    def problem(code: int, type_: str) -> httpx.Response:
        return httpx.Response(code, headers=PROBLEM_JSON, json={"type": type_, "status": code})


@pytest.fixture
def script() -> type[Script]:
    """``script(*outcomes)``: a scripted user-service (see ``Script``)."""
    return Script
