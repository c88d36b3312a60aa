"""Provider verification: user-service honours every pact in ``pacts/`` that names it.

The gate a change to user-service must pass: the real app, on the real PostgreSQL, answers each
consumer's interactions as the consumer recorded them. The other tests prove the gate can close:
a response that renames a field a consumer reads fails verification (a user's ``id`` or ``email``,
a JWKS key's ``x``, the problem ``type`` of a 404 or a 401), one that only adds a field passes, and
a pact asking for a provider state nobody implements fails at once with its name. Every run but
two goes through ``MintedTokens``, the request filter that gives each interaction a token minted
for it.

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
Verify = Callable[..., Any]  # the conftest's verify(served, *, tokens, sources, publish)


def test_user_service_satisfies_every_pact_that_names_it(verify: Verify) -> None:
    result = verify(publish=True)
    assert result.passed, f"user-service breaks a consumer's contract:\n{result.report()}"


class RewriteBody:
    """ASGI wrapper that rewrites the JSON body of the answers ``applies(path, status)`` picks.

    It stands for a provider change made on purpose, to show what verification makes of it.
    """

    def __init__(
        self, app: ASGIApp, applies: Callable[[str, int], bool], rewrite: Callable[[Json], Json]
    ) -> None:
        self.app = app
        self.applies = applies
        self.rewrite = rewrite

    async def __call__(self, scope: Json, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
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
            if self.applies(path, start["status"]):
                body = json.dumps(self.rewrite(json.loads(body))).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffer)


def user_read(path: str, status: int) -> bool:
    return status == 200 and path.startswith("/users/") and path[7:].isdigit()


def renamed(old: str, new: str) -> Callable[[Json], Json]:
    return lambda body: {(new if key == old else key): value for key, value in body.items()}


def add_nickname(user: Json) -> Json:
    return {**user, "nickname": "ada"}


def jwks(path: str, status: int) -> bool:
    return path == "/.well-known/jwks.json"


def keys_renamed_x(document: Json) -> Json:
    return {"keys": [renamed("x", "public_key")(key) for key in document["keys"]]}


def problem(status_code: int) -> Callable[[str, int], bool]:
    return lambda path, status: status == status_code


def generic_type(body: Json) -> Json:
    return {**body, "type": "about:blank"}


@pytest.mark.parametrize(
    ("applies", "rewrite", "interaction", "mismatch"),
    [
        (user_read, renamed("id", "user_id"), "an existing user", "missing the following keys: id"),
        (user_read, renamed("email", "mail"), "an existing user", "following keys: email"),
        (jwks, keys_renamed_x, "the public keys", "missing the following keys: x"),
        (problem(404), generic_type, "does not exist", "'/problems/user-not-found'"),
        (problem(401), generic_type, "does not accept", "'/problems/invalid-token'"),
    ],
    ids=["user-id", "user-email", "jwks-x", "404-type", "401-type"],
)
def test_verification_fails_when_the_provider_breaks_what_the_consumer_reads(
    app: FastAPI,
    verify: Verify,
    applies: Callable[[str, int], bool],
    rewrite: Callable[[Json], Json],
    interaction: str,
    mismatch: str,
) -> None:
    result = verify(RewriteBody(app, applies, rewrite))
    print(result.report())  # the verifier's account of the break, for humans (pytest -s)
    assert not result.passed
    assert interaction in result.output
    assert mismatch in result.output
    assert not result.state_errors


def test_verification_passes_when_the_user_response_gains_a_field_no_consumer_reads(
    app: FastAPI, verify: Verify
) -> None:
    result = verify(RewriteBody(app, user_read, add_nickname))
    assert result.passed, result.report()


def test_verification_fails_without_the_request_filter_that_mints_tokens(verify: Verify) -> None:
    """The pact's example token is not accepted: the filter is what makes the states real."""
    result = verify(tokens=False)
    assert not result.passed
    assert "an existing user" in result.output


def test_verification_fails_fast_naming_a_provider_state_user_service_does_not_know(
    pact_files: list[Path], verify: Verify, tmp_path: Path
) -> None:
    pact = json.loads(pact_files[0].read_text())
    pact["interactions"] = pact["interactions"][:1]
    pact["interactions"][0]["providerStates"] = [{"name": "a user is banned", "params": {}}]
    unknown = tmp_path / pact_files[0].name
    unknown.write_text(json.dumps(pact))

    started = time.monotonic()
    result = verify(tokens=False, sources=[unknown])
    elapsed = time.monotonic() - started

    assert not result.passed
    known = "'a user exists', 'no user exists', 'the token is not accepted'"
    assert result.state_errors == [
        f"unknown provider state 'a user is banned' (setup); user-service knows: {known}",
        f"unknown provider state 'a user is banned' (teardown); user-service knows: {known}",
    ]
    assert elapsed < 10, f"an unknown state must not make the verifier retry ({elapsed:.1f} s)"
