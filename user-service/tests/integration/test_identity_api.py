"""Identity through the app, on PostgreSQL: register, log in, read as the token allows.

Each rule of docs/design.md's identity section has its test here: the hash stored, the token
endpoint (OAuth2 password flow), no enumeration, throttling, hash upgrade, the JWKS, and who may
read which user (401 with the RFC 6750 challenge, 403, problem details).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from argon2 import extract_parameters
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from user_service.api.deps import get_users
from user_service.config import Settings
from user_service.main import create_app
from user_service.passwords import Argon2Params, PasswordHasher
from user_service.signing import KeyRing, generate_key

if TYPE_CHECKING:
    from conftest import Identity

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
PROBLEM = "application/problem+json"


def _problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


# --- registration -------------------------------------------------------------------------------


def test_registration_stores_an_argon2id_hash_and_never_returns_it(
    identity: Identity, db_engine: Engine
) -> None:
    user = identity.register()
    assert "password" not in user
    assert "password_hash" not in user
    with db_engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


# --- the token endpoint ---------------------------------------------------------------------------


def test_login_returns_a_short_lived_eddsa_token_for_the_user(
    identity: Identity, settings: Settings, keyring: KeyRing
) -> None:
    user = identity.register()
    response = identity.client.post(
        "/token", data={"username": "ADA@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA"
    assert header["kid"] == keyring.signing_kid
    claims = jwt.decode(
        body["access_token"],
        keyring.public_keys()[header["kid"]],
        algorithms=["EdDSA"],
        audience=settings.token_audience,
        issuer=settings.token_issuer,
    )
    assert claims["sub"] == str(user["id"])
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl
    assert claims["jti"]
    assert claims["roles"] == []


def test_wrong_password_and_unknown_email_get_the_same_401(identity: Identity) -> None:
    identity.register()
    wrong = identity.client.post(
        "/token", data={"username": "ada@example.com", "password": "x" * 9}
    )
    unknown = identity.client.post(
        "/token", data={"username": "eve@example.com", "password": "x" * 9}
    )
    bodies = []
    for response in (wrong, unknown):
        body = _problem(response, 401, "invalid-credentials")
        assert response.headers["www-authenticate"] == 'Bearer realm="user-service"'
        assert body["error"] == "invalid_grant"
        bodies.append({k: v for k, v in body.items() if k != "request_id"})
    assert bodies[0] == bodies[1]


class CountingHasher(PasswordHasher):
    """Counts Argon2 checks: the unknown email must cost one, like a wrong password."""

    checks = 0

    def verify(self, password: str, stored: str) -> Any:
        CountingHasher.checks += 1
        return super().verify(password, stored)

    def verify_unknown(self, password: str) -> None:
        CountingHasher.checks += 1
        super().verify_unknown(password)


def test_wrong_password_and_unknown_email_cost_one_argon2_check_each(
    app: FastAPI, identity: Identity
) -> None:
    hasher = CountingHasher(Argon2Params(time_cost=1, memory_cost=8 * 1024))
    users = replace(app.state.users, hasher=hasher)
    app.dependency_overrides[get_users] = lambda: users
    identity.register()
    for email in ("ada@example.com", "eve@example.com"):
        before = CountingHasher.checks
        identity.client.post("/token", data={"username": email, "password": "wrong-pass"})
        assert CountingHasher.checks == before + 1, email


def test_token_endpoint_declares_the_oauth2_password_flow_in_openapi(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    [scheme] = schema["components"]["securitySchemes"].values()
    assert scheme == {"type": "oauth2", "flows": {"password": {"scopes": {}, "tokenUrl": "/token"}}}
    assert schema["paths"]["/users/me"]["get"]["security"]


def test_login_without_form_fields_is_422(client: TestClient) -> None:
    _problem(client.post("/token", data={"username": "a@example.com"}), 422, "validation")


def test_repeated_failures_for_one_email_get_429_with_retry_after(
    identity: Identity, settings: Settings
) -> None:
    identity.register()
    for _ in range(settings.login_max_failures):
        response = identity.client.post(
            "/token", data={"username": "ada@example.com", "password": "wrong-pass"}
        )
        _problem(response, 401, "invalid-credentials")
    for password in ("wrong-pass", PASSWORD):  # even the right password waits
        locked = identity.client.post(
            "/token", data={"username": "ada@example.com", "password": password}
        )
        _problem(locked, 429, "too-many-login-failures")
        assert 1 <= int(locked.headers["retry-after"]) <= settings.login_lockout
    assert (
        identity.client.post(
            "/token", data={"username": "bob@example.com", "password": "wrong-pass"}
        ).status_code
        == 401
    )  # another account is not affected


def test_an_unknown_email_is_throttled_like_a_real_one(
    identity: Identity, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures):
        identity.client.post("/token", data={"username": "eve@example.com", "password": "x" * 9})
    locked = identity.client.post("/token", data={"username": "eve@example.com", "password": "x"})
    _problem(locked, 429, "too-many-login-failures")


def test_login_upgrades_a_hash_made_with_older_parameters(
    settings: Settings, db_engine: Engine
) -> None:
    def client_with(time_cost: int) -> TestClient:
        return TestClient(create_app(settings.model_copy(update={"argon2_time_cost": time_cost})))

    with client_with(1) as old:
        old.post("/users", json={"name": "Ada", "email": "ada@example.com", "password": PASSWORD})
    with client_with(2) as new:
        assert (
            new.post(
                "/token", data={"username": "ada@example.com", "password": PASSWORD}
            ).status_code
            == 200
        )
        with db_engine.connect() as conn:
            upgraded = conn.execute(text("SELECT password_hash FROM users")).scalar_one()
        assert extract_parameters(upgraded).time_cost == 2
        assert (
            new.post(
                "/token", data={"username": "ada@example.com", "password": PASSWORD}
            ).status_code
            == 200
        )


# --- JWKS -----------------------------------------------------------------------------------------


def test_jwks_publishes_every_key_public_part_only_newest_first(
    settings: Settings, tmp_path: Path, db_engine: Engine
) -> None:
    for kid in ("2026-01-old", "2026-06-new"):
        generate_key(tmp_path, kid=kid)
    with TestClient(create_app(settings.model_copy(update={"keys_dir": tmp_path}))) as client:
        response = client.get("/.well-known/jwks.json")
        client.post(
            "/users", json={"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
        )
        token = client.post(
            "/token", data={"username": "ada@example.com", "password": PASSWORD}
        ).json()["access_token"]
    assert response.status_code == 200
    assert response.headers.get_list("cache-control") == ["public, max-age=300"]  # not no-store
    assert response.headers["x-content-type-options"] == "nosniff"
    keys = response.json()["keys"]
    assert [key["kid"] for key in keys] == ["2026-06-new", "2026-01-old"]
    assert all("d" not in key for key in keys)
    assert jwt.get_unverified_header(token)["kid"] == "2026-06-new"


# --- who may read what ---------------------------------------------------------------------------


def test_users_me_returns_the_callers_user(identity: Identity) -> None:
    user = identity.register()
    response = identity.client.get("/users/me", headers=identity.headers())
    assert response.status_code == 200
    assert response.json() == user


@pytest.mark.parametrize("path", ["/users/me", "/users/1", "/users"])
def test_reads_without_a_token_get_401_with_a_bearer_challenge(
    client: TestClient, path: str
) -> None:
    for headers in ({}, {"Authorization": "Basic YTpi"}):
        response = client.get(path, headers=headers)
        _problem(response, 401, "authentication-required")
        assert response.headers["www-authenticate"] == 'Bearer realm="user-service"'


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."],
    ids=["junk", "dots", "none"],
)
def test_a_malformed_token_gets_401_invalid_token(client: TestClient, token: str) -> None:
    response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    _problem(response, 401, "invalid-token")
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="user-service", error="invalid_token", error_description="'
    )


def test_a_token_from_a_key_not_in_the_jwks_gets_401(
    identity: Identity, keyring: KeyRing, settings: Settings
) -> None:
    identity.register()
    foreign = KeyRing({keyring.signing_kid: Ed25519PrivateKey.generate()})
    forged = foreign.issue(
        subject="1", roles=["admin"], issuer=settings.token_issuer,
        audience=settings.token_audience, ttl=900,
    )  # fmt: skip
    response = identity.client.get("/users", headers={"Authorization": f"Bearer {forged.token}"})
    body = _problem(response, 401, "invalid-token")
    assert "signature" in body["detail"]


def test_an_expired_token_gets_401(
    identity: Identity, keyring: KeyRing, settings: Settings
) -> None:
    from datetime import UTC, datetime, timedelta

    identity.register()
    old = keyring.issue(
        subject="1", roles=[], issuer=settings.token_issuer, audience=settings.token_audience,
        ttl=60, now=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    response = identity.client.get("/users/me", headers={"Authorization": f"Bearer {old.token}"})
    assert "expired" in _problem(response, 401, "invalid-token")["detail"]


def test_a_user_reads_their_own_record_but_not_anothers(identity: Identity) -> None:
    ada = identity.register()
    bob = identity.register(name="Bob", email="bob@example.com")
    headers = identity.headers()
    assert identity.client.get(f"/users/{ada['id']}", headers=headers).json() == ada
    response = identity.client.get(f"/users/{bob['id']}", headers=headers)
    _problem(response, 403, "forbidden")
    assert response.json()["detail"] == "A token may read only its own user."
    assert response.headers["www-authenticate"] == (
        'Bearer realm="user-service", error="insufficient_scope"'
    )
    # the same 403 whether the user exists or not: a token cannot probe for ids
    _problem(identity.client.get("/users/999", headers=headers), 403, "forbidden")


def test_only_an_admin_lists_users(identity: Identity) -> None:
    identity.register()
    _problem(identity.client.get("/users", headers=identity.headers()), 403, "forbidden")
    admin = identity.admin_headers()
    page = identity.client.get("/users", headers=admin).json()
    assert [user["email"] for user in page["items"]] == ["ada@example.com", "admin@example.com"]
    assert identity.client.get("/users/1", headers=admin).status_code == 200


def test_the_cli_grants_and_revokes_admin_for_tokens_issued_afterwards(
    identity: Identity, settings: Settings
) -> None:
    from user_service import cli
    from user_service.models import Role

    identity.register()
    assert cli.set_role(settings, "ADA@example.com", Role.ADMIN) == 0
    token = identity.login()
    assert jwt.decode(token, options={"verify_signature": False})["roles"] == ["admin"]
    assert (
        identity.client.get("/users", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    assert cli.set_role(settings, "ada@example.com", Role.USER) == 0
    assert jwt.decode(identity.login(), options={"verify_signature": False})["roles"] == []
    assert cli.set_role(settings, "nobody@example.com", Role.ADMIN) == 1
