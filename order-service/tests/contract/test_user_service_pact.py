"""Consumer contract: what order-service needs from user-service, written down by Pact.

The real ``UserServiceClient`` (the one module that knows user-service is on the network) talks to
Pact's mock server; the mock answers only the requests declared here and fails the test on any
other. The pact demands only what order-service reads:

- the JWKS document (``GET /.well-known/jwks.json``): Ed25519 keys with ``kty``, ``crv``,
  ``kid`` and ``x``, which order-service verifies tokens with;
- ``GET /users/{id}`` with the caller's bearer token relayed: ``id``, and the ``name`` and
  ``email`` snapshotted on the order;
- the problem ``type``s the client acts on: 404 ``/problems/user-not-found`` (unknown user) and
  401 ``/problems/invalid-token`` (user-service refuses the token).

A field the client does not read stays out of the contract, so user-service may add or change it
freely. The bearer token in the pact is an example: the provider's verification replaces it with
one it mints for the interaction's provider state (the request filter in user-service's contract
conftest), as a real token cannot be written into a contract.

The client runs with tracing on, as it does in production when a collector is configured, so the
pact also says that order-service may send a W3C ``traceparent`` (any value of the right form:
the trace and span ids change with every request) and that user-service must accept it.

The last test keeps the committed pact honest: it fails when the contract the tests produce differs
from ``pacts/order-service-user-service.json`` (``make pact`` rewrites it). It compares contracts,
not bytes: a pact-python upgrade that only changes the library's version stamp is not a change.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pact import Pact, match
from pact.interaction import HttpInteraction

from order_service.clients.user_service_client import UserServiceClient
from order_service.config import UserServiceClientSettings
from order_service.errors import TokenRefusedError
from order_service.models import USER_ID_MAX
from order_service.user_directory import UserRef
from service_kit.log import request_id_var
from service_kit.tokens import keys_from_jwks
from service_kit.tracing import Tracing

pytestmark = [pytest.mark.contract, pytest.mark.anyio]

USER_ID = 42
REQUEST_ID = "3f2b8c1d9e7a4b6c8d0e1f2a3b4c5d6e"
# design.md: X-Request-ID is 1-128 visible ASCII characters; the provider echoes or replaces it.
REQUEST_ID_PATTERN = r"^[\x21-\x7e]{1,128}$"
# An EdDSA JWT for user 42 (signed by a throw-away key): the example the mock server is sent.
TOKEN = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6IjIwMjYxMjAyVDAwMDAwMFoiLCJ0eXAiOiJKV1QifQ"
    ".eyJpc3MiOiJ1c2VyLXNlcnZpY2UiLCJhdWQiOiJzaG9wIiwic3ViIjoiNDIiLCJpYXQiOjE3NjQ2MzM2MDAsIm5i"
    "ZiI6MTc2NDYzMzYwMCwiZXhwIjoxNzY0NjM0NTAwLCJqdGkiOiIwZjhlNmEyYjRjMWQ0ZTVmOWE3YjNjMmQxZTBmOWE4"
    "YiIsInJvbGVzIjpbXX0"
    ".x5TKo8IZPZHcL-dCAAy_xbkUZwxLDC6Vk-QmAMDmnboNRQb3fXlzkm0to3gkZoO1oabeE9xemuxeh6o2pFQUDw"
)
BEARER_PATTERN = r"^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
# The public part of an Ed25519 key (RFC 8037): 32 bytes, base64url without padding.
EXAMPLE_X = "F7OrU1dNaVU2sACSeFD5HMtLgDxfbAGxg9vFJEIm6zk"
# W3C Trace Context, version 00: trace id, parent span id, flags (lower-case hex).
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACEPARENT_PATTERN = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


@asynccontextmanager
async def client_for(pact: Pact) -> AsyncIterator[UserServiceClient]:
    """The real client, pointed at Pact's mock server for the interactions declared so far."""
    with pact.serve(addr="127.0.0.1") as server:
        settings = UserServiceClientSettings(url=str(server.url))
        client = UserServiceClient(settings, tracing=Tracing(TracerProvider()))
        # the request being served: its id travels in the kit's context variable
        request = request_id_var.set(REQUEST_ID)
        try:
            yield client
        finally:
            request_id_var.reset(request)
            await client.aclose()


def get_user(pact: Pact, description: str, *states: str, user_id: int = USER_ID) -> HttpInteraction:
    """An interaction for ``GET /users/{id}`` as the client sends it, given provider states
    (the first one with the user id as parameter)."""
    interaction = pact.upon_receiving(description).given(states[0], id=user_id)
    for state in states[1:]:
        interaction = interaction.given(state)
    return (
        interaction.with_request("GET", f"/users/{user_id}")
        .with_header("Accept", "application/json")
        .with_header("Authorization", match.regex(f"Bearer {TOKEN}", regex=BEARER_PATTERN))
        .with_header("X-Request-ID", match.regex(REQUEST_ID, regex=REQUEST_ID_PATTERN))
        .with_header("traceparent", match.regex(TRACEPARENT, regex=TRACEPARENT_PATTERN))
    )


def problem(status: int, type_: str) -> dict[str, object]:
    return {"type": type_, "status": status}


async def test_fetch_jwks_returns_the_ed25519_keys_order_service_verifies_tokens_with(
    pact: Pact,
) -> None:
    key = {"kty": "OKP", "crv": "Ed25519", "kid": match.str("20261202T000000Z"),
           "x": match.regex(EXAMPLE_X, regex=r"^[A-Za-z0-9_-]{43}$")}  # fmt: skip
    (
        pact.upon_receiving("a request for the public keys that verify tokens")
        .with_request("GET", "/.well-known/jwks.json")
        .with_header("Accept", "application/json")
        .will_respond_with(200)
        .with_header("Content-Type", match.regex("application/json", regex=r"^application/json"))
        .with_body({"keys": match.each_like(key, min=1)}, content_type="application/json")
    )

    async with client_for(pact) as client:
        document = await client.fetch_jwks()

    assert list(keys_from_jwks(document)) == ["20261202T000000Z"]


async def test_get_user_returns_the_user_when_user_service_knows_the_id(pact: Pact) -> None:
    (
        get_user(pact, "a request for an existing user, with their own token", "a user exists")
        .will_respond_with(200)
        .with_header("Content-Type", match.regex("application/json", regex=r"^application/json"))
        .with_body(
            {
                "id": match.int(USER_ID),
                "name": match.str("Ada Lovelace"),
                "email": match.str("user42@example.com"),
            },
            content_type="application/json",
        )
    )

    async with client_for(pact) as client:
        user = await client.get_user(USER_ID, token=TOKEN)

    assert user == UserRef(id=USER_ID, name="Ada Lovelace", email="user42@example.com")


async def test_get_user_returns_none_when_user_service_answers_user_not_found(pact: Pact) -> None:
    (
        get_user(pact, "a request for a user that does not exist", "no user exists")
        .will_respond_with(404)
        .with_header(
            "Content-Type",
            match.regex("application/problem+json", regex=r"^application/problem\+json"),
        )
        .with_body(
            problem(404, "/problems/user-not-found"), content_type="application/problem+json"
        )
    )

    async with client_for(pact) as client:
        user = await client.get_user(USER_ID, token=TOKEN)

    assert user is None


async def test_get_user_raises_token_refused_when_user_service_answers_invalid_token(
    pact: Pact,
) -> None:
    (
        get_user(
            pact,
            "a request with a token user-service does not accept",
            "a user exists",
            "the token is not accepted",
        )
        .will_respond_with(401)
        .with_header(
            "Content-Type",
            match.regex("application/problem+json", regex=r"^application/problem\+json"),
        )
        .with_body(problem(401, "/problems/invalid-token"), content_type="application/problem+json")
    )

    async with client_for(pact) as client:
        with pytest.raises(TokenRefusedError):
            await client.get_user(USER_ID, token=TOKEN)


async def test_user_service_answers_for_the_largest_user_id_order_service_accepts(
    pact: Pact,
) -> None:
    """The shared bound: user-service must answer (404 here), not refuse, the largest id that
    order-service validates orders against (``models.USER_ID_MAX``)."""
    (
        get_user(pact, "a request for the largest user id", "no user exists", user_id=USER_ID_MAX)
        .will_respond_with(404)
        .with_header(
            "Content-Type",
            match.regex("application/problem+json", regex=r"^application/problem\+json"),
        )
        .with_body(
            {"type": "/problems/user-not-found", "status": 404},
            content_type="application/problem+json",
        )
    )

    async with client_for(pact) as client:
        user = await client.get_user(USER_ID_MAX, token=TOKEN)

    assert user is None


def test_the_stale_pact_check_ignores_the_pact_library_version_but_not_the_contract(
    committed_pact: Path, as_contract: Callable[[str], dict[str, Any]]
) -> None:
    pact = json.loads(committed_pact.read_text())
    upgraded = json.loads(committed_pact.read_text())
    upgraded["metadata"]["pactRust"] = {"ffi": "9.9.9", "models": "9.9.9"}
    assert as_contract(json.dumps(upgraded, indent=4)) == as_contract(json.dumps(pact))

    changed = json.loads(committed_pact.read_text())
    changed["interactions"][0]["response"]["status"] = 410
    assert as_contract(json.dumps(changed)) != as_contract(json.dumps(pact))
    newer_spec = json.loads(committed_pact.read_text())
    newer_spec["metadata"]["pactSpecification"]["version"] = "4.1"
    assert as_contract(json.dumps(newer_spec)) != as_contract(json.dumps(pact))


def test_committed_pact_is_what_the_consumer_tests_produce(
    produced_pact: Path,
    committed_pact: Path,
    pytestconfig: pytest.Config,
    as_contract: Callable[[str], dict[str, Any]],
) -> None:
    """Runs last in this module, after the tests above have written the session's pact.

    With ``PACT_OUTPUT_DIR`` set (``make pact``), it writes the produced pact there instead.
    """
    if output := os.environ.get("PACT_OUTPUT_DIR"):
        target = pytestconfig.rootpath / output
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(produced_pact, target / produced_pact.name)
        return

    produced = as_contract(produced_pact.read_text())
    committed = as_contract(committed_pact.read_text() if committed_pact.exists() else "")
    if produced != committed:
        diff = difflib.unified_diff(
            json.dumps(committed, indent=2, sort_keys=True).splitlines(keepends=True),
            json.dumps(produced, indent=2, sort_keys=True).splitlines(keepends=True),
            fromfile=f"{committed_pact} (committed)",
            tofile=f"{produced_pact.name} (produced by the consumer tests)",
        )
        pytest.fail(
            f"stale pact: run `make pact` and commit {committed_pact.name}\n" + "".join(diff),
            pytrace=False,
        )
