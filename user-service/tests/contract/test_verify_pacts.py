"""Provider verification: user-service honours every pact in ``pacts/`` that names it.

The gate a change to user-service must pass: the real app, on the real PostgreSQL, answers each
consumer's interactions as the consumer recorded them. The other tests prove the gate can close:
a response that renames a field a consumer reads fails verification, one that only adds a field
passes, and a pact asking for a provider state nobody implements fails at once with its name.

With a Pact Broker configured and ``CI=true``, the verification also fetches the consumers'
pacts from the broker and publishes its results there (docs/contracts.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

pytestmark = [pytest.mark.contract, pytest.mark.integration]

Json = dict[str, Any]
ASGIApp = Callable[..., Any]


def test_user_service_satisfies_every_pact_that_names_it(
    app: FastAPI, pact_files: list[Path], verify: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    with serve(app) as base_url:
        result = verify(base_url, pact_files, publish=True)

    assert result.passed, f"user-service breaks a consumer's contract:\n{result.report()}"


class RewriteUserBody:
    """ASGI wrapper that rewrites the JSON body of every 200 ``GET /users/{id}`` answer.

    It stands for a provider change made on purpose, to show what verification makes of it.
    """

    def __init__(self, app: ASGIApp, rewrite: Callable[[Json], Json]) -> None:
        self.app = app
        self.rewrite = rewrite

    async def __call__(self, scope: Json, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith("/users/") and path[7:].isdigit()):
            await self.app(scope, receive, send)
            return
        start: Json = {}
        chunks: list[bytes] = []

        async def buffer(message: Json) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start["status"] == 200:
                body = json.dumps(self.rewrite(json.loads(body))).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffer)


def rename_id(user: Json) -> Json:
    return {("user_id" if key == "id" else key): value for key, value in user.items()}


def add_nickname(user: Json) -> Json:
    return {**user, "nickname": "ada"}


def test_verification_fails_when_the_user_response_renames_a_field_the_consumer_reads(
    app: FastAPI, pact_files: list[Path], verify: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    with serve(RewriteUserBody(app, rename_id)) as base_url:
        result = verify(base_url, pact_files)

    print(result.report())  # the verifier's account of the break, for humans (pytest -s)
    assert not result.passed
    assert "a request for an existing user" in result.output
    assert "Actual map is missing the following keys: id" in result.output
    assert not result.state_errors


def test_verification_passes_when_the_user_response_gains_a_field_no_consumer_reads(
    app: FastAPI, pact_files: list[Path], verify: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    with serve(RewriteUserBody(app, add_nickname)) as base_url:
        result = verify(base_url, pact_files)

    assert result.passed, result.report()


def test_verification_fails_fast_naming_a_provider_state_user_service_does_not_know(
    app: FastAPI,
    pact_files: list[Path],
    verify: Callable[..., Any],
    serve: Callable[..., Any],
    tmp_path: Path,
) -> None:
    pact = json.loads(pact_files[0].read_text())
    pact["interactions"] = pact["interactions"][:1]
    pact["interactions"][0]["providerStates"] = [{"name": "a user is banned", "params": {}}]
    unknown = tmp_path / pact_files[0].name
    unknown.write_text(json.dumps(pact))

    started = time.monotonic()
    with serve(app) as base_url:
        result = verify(base_url, [unknown])
    elapsed = time.monotonic() - started

    assert not result.passed
    assert result.state_errors == [
        "unknown provider state 'a user is banned' (setup); "
        "user-service knows: 'a user exists', 'no user exists'",
        "unknown provider state 'a user is banned' (teardown); "
        "user-service knows: 'a user exists', 'no user exists'",
    ]
    assert elapsed < 10, f"an unknown state must not make the verifier retry ({elapsed:.1f} s)"
