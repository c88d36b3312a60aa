"""Fixtures of user-service's provider verification: the real app over HTTP, and provider states.

The Pact verifier replays every interaction of every pact in ``pacts/`` that names this service as
provider against the real app, served by uvicorn in a thread on 127.0.0.1 (ephemeral port) on the
session's migrated PostgreSQL database (``settings`` from ``user-service/tests/conftest.py``).
Before an interaction the verifier asks for its provider states; ``ProviderStates`` sets them up
on the database, and tears them down after it. It writes rows itself (a given id, removal): the
service has no such operations, and test-only code does not belong in it.

Bearer tokens: a pact holds an example token, which no provider would accept (it is signed by a
throw-away key and long expired). The states choose the token the interaction runs with, and
``MintedTokens``, a request filter around the app, puts it in the ``Authorization`` header of the
replayed request: a fresh token for the state's user, signed with the app's key ("a user exists",
"no user exists"), or one signed by a key user-service does not publish ("the token is not
accepted"). The filter only swaps the credential; a request the consumer sent without one is
replayed without one.

A state handler must never raise into the verifier (it retries a failed state change for about
two minutes): errors, unknown states included, are recorded and returned at once, and the test
reports them with the verifier's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pact import Verifier
from sqlalchemy import Engine, delete, text
from sqlmodel import Session, col

from devtools.serving import HOST, serve_in_thread
from user_service.config import Settings
from user_service.models import User
from user_service.signing import KeyRing

SERVICE = Path(__file__).resolve().parents[2].name

ASGIApp = Callable[..., Any]


@dataclass
class ProviderStates:
    """The provider states user-service's consumers may ask for, on the real database.

    Called by the verifier as ``(state, action, parameters)`` for every state of an interaction,
    with ``action`` "setup" before it and "teardown" after it. It never raises.
    """

    engine: Engine
    keyring: KeyRing
    settings: Settings
    errors: list[str] = field(default_factory=list)
    token: str | None = None  # what MintedTokens sends as the bearer token

    def __call__(self, state: str, action: str, parameters: dict[str, Any] | None) -> None:
        handlers: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "a user exists": self._user_exists,
            "no user exists": self._no_user_exists,
            "the token is not accepted": self._token_not_accepted,
        }
        if state == "":  # the verifier's generic per-interaction hook: nothing to do
            return
        handler = handlers.get(state)
        if handler is None:
            self.errors.append(
                f"unknown provider state {state!r} ({action}); "
                f"{SERVICE} knows: {', '.join(map(repr, handlers))}"
            )
            return
        try:
            handler(action, parameters or {})
        except Exception as exc:  # raising would make the verifier retry for minutes
            self.errors.append(
                f"provider state {state!r} {action} with {parameters!r} failed: "
                f"{type(exc).__name__}: {exc}"
            )

    @staticmethod
    def _user_id(parameters: dict[str, Any]) -> int:
        user_id = parameters.get("id")
        if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1:
            raise ValueError(f"parameter 'id' must be a positive integer, got {user_id!r}")
        return user_id

    def _mint(self, subject: str, keyring: KeyRing | None = None) -> str:
        return (
            (keyring or self.keyring)
            .issue(
                subject=subject,
                roles=[],
                issuer=self.settings.token_issuer,
                audience=self.settings.token_audience,
                ttl=300,
            )
            .token
        )

    def _user_exists(self, action: str, parameters: dict[str, Any]) -> None:
        user_id = self._user_id(parameters)
        if action == "setup":
            self._put_user(user_id)
            self.token = self._mint(str(user_id))  # the user's own token
        else:
            self._delete_user(user_id)
            self.token = None

    def _no_user_exists(self, action: str, parameters: dict[str, Any]) -> None:
        user_id = self._user_id(parameters)
        if action == "setup":
            self._delete_user(user_id)
            self.token = self._mint(str(user_id))  # a valid token whose user is gone
        else:
            self.token = None

    def _put_user(self, user_id: int) -> None:
        with Session(self.engine) as session, session.begin():
            session.merge(User(id=user_id, name="Ada Lovelace", email=f"user{user_id}@example.com"))
            # An explicit id does not advance the sequence: move it past, so inserts made by
            # the API later (in the same test) do not collide with this row.
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users")
            )

    def _delete_user(self, user_id: int) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(delete(User).where(col(User.id) == user_id))

    def _token_not_accepted(self, action: str, parameters: dict[str, Any]) -> None:
        if action == "setup":  # right kid and claims, but signed by a key nobody published
            foreign = KeyRing({self.keyring.signing_kid: Ed25519PrivateKey.generate()})
            self.token = self._mint(str(parameters.get("id", 42)), foreign)
        else:
            self.token = None


class MintedTokens:
    """The request filter: replaces the bearer token of each replayed request by the one the
    interaction's provider states chose (pure ASGI, around the real app)."""

    def __init__(self, app: ASGIApp, states: ProviderStates) -> None:
        self.app = app
        self.states = states

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.states.token is not None:
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"authorization"]
            if len(headers) != len(scope["headers"]):
                headers.append((b"authorization", f"Bearer {self.states.token}".encode()))
                scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class Publishing:
    """Where verification results go: a Pact Broker, only from CI (``CI=true``)."""

    broker_url: str
    version: str
    branch: str


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return out.stdout.strip()


@pytest.fixture(scope="session")
def publishing() -> Publishing | None:
    broker_url = os.environ.get("PACT_BROKER_BASE_URL", "")
    if not broker_url or os.environ.get("CI", "").lower() != "true":
        return None
    version = os.environ.get("GIT_SHA") or _git("rev-parse", "HEAD")
    branch = os.environ.get("GIT_BRANCH") or _git("rev-parse", "--abbrev-ref", "HEAD")
    if not version or not branch:
        pytest.fail("publishing verification results needs GIT_SHA and GIT_BRANCH (or git)")
    return Publishing(broker_url, version, branch)


@pytest.fixture(scope="session")
def provider_name(pytestconfig: pytest.Config) -> str:
    """This service's pacticipant name, as ``pacts/contracts.toml`` writes it."""
    manifest = pytestconfig.rootpath / "pacts" / "contracts.toml"
    providers = {e["provider"] for e in tomllib.loads(manifest.read_text())["contract"]}
    if SERVICE not in providers:
        pytest.fail(f"{manifest} names no contract with provider {SERVICE!r}")
    return SERVICE


@pytest.fixture(scope="session")
def pact_files(pytestconfig: pytest.Config, provider_name: str) -> list[Path]:
    """Every pact in ``pacts/`` whose provider is this service."""
    files = sorted(
        path
        for path in (pytestconfig.rootpath / "pacts").glob("*.json")
        if json.loads(path.read_text())["provider"]["name"] == provider_name
    )
    if not files:
        pytest.fail(f"no pact in pacts/ names {provider_name!r} as provider: nothing to verify")
    return files


@pytest.fixture
def provider_states(db_engine: Engine, keyring: KeyRing, settings: Settings) -> ProviderStates:
    """Provider states on the session's database, emptied before the test."""
    return ProviderStates(db_engine, keyring, settings)


@dataclass(frozen=True)
class Verification:
    passed: bool
    output: str
    state_errors: list[str]

    def report(self) -> str:
        """The verifier's own account (interactions, mismatches), provider-state errors first."""
        errors = "".join(f"provider state error: {error}\n" for error in self.state_errors)
        return errors + self.output


Verify = Callable[..., Verification]


@pytest.fixture
def verify(
    app: ASGIApp,
    pact_files: list[Path],
    provider_name: str,
    provider_states: ProviderStates,
    publishing: Publishing | None,
) -> Verify:
    """``verify(served=app, *, tokens=True, sources=pact_files, publish=False)``: serve
    ``served`` (the app, or the app changed on purpose) behind ``MintedTokens`` unless
    ``tokens=False``, and run the Pact verifier against it for ``sources``."""

    def run(
        served: ASGIApp | None = None,
        *,
        tokens: bool = True,
        sources: list[Path] | None = None,
        publish: bool = False,
    ) -> Verification:
        served = app if served is None else served
        with serve_in_thread(
            MintedTokens(served, provider_states) if tokens else served, name=SERVICE
        ) as url:
            return _verify(url, sources or pact_files, publish=publish)

    def _verify(base_url: str, sources: list[Path], *, publish: bool) -> Verification:
        verifier = (
            Verifier(provider_name, host=HOST)
            .add_transport(url=base_url)
            .state_handler(provider_states, teardown=True)
            .set_coloured_output(enabled=False)
            .set_error_on_empty_pact(enabled=True)
        )
        for source in sources:
            verifier.add_source(source)
        if publish and publishing is not None:
            (
                verifier.broker_source(publishing.broker_url, selector=True)
                .consumer_version(main_branch=True)
                .consumer_version(matching_branch=True)
                .consumer_version(deployed_or_released=True)
                .include_pending()
                .provider_branch(publishing.branch)
                .build()
                .set_publish_options(version=publishing.version, branch=publishing.branch)
            )
        provider_states.errors.clear()
        try:
            verifier.verify()
        except RuntimeError:  # pact-python's way of saying "verification failed"
            passed = False
        else:
            passed = True
        errors = list(provider_states.errors)
        return Verification(passed and not errors, verifier.output(strip_ansi=True), errors)

    return run
