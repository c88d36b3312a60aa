"""bearer_principal on a small app: the 401/403/503 problems and their RFC 6750 challenges."""

# no "from __future__ import annotations": the routes use a local Annotated alias

import time
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Depends, FastAPI
from fastapi.security import HTTPBearer, OAuth2PasswordBearer
from fastapi.testclient import TestClient

from service_kit.auth import ForbiddenError, bearer_principal
from service_kit.problems import install_error_handlers
from service_kit.tokens import KeysUnavailableError, Principal, StaticKeys, TokenVerifier

pytestmark = pytest.mark.unit

KEY = Ed25519PrivateKey.generate()


class Down:
    async def key(self, kid: str) -> Any:
        raise KeysUnavailableError(kid)


def _token(**claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": "issuer", "aud": "api", "sub": "7", "iat": now, "exp": now + 60, "jti": "j"}
    payload.update(claims)
    return jwt.encode(payload, KEY, algorithm="EdDSA", headers={"kid": "k"})


def _client(scheme: Any, keys: Any = None) -> TestClient:
    router = APIRouter()
    principal_dep = Annotated[Principal, Depends(bearer_principal(scheme))]

    @router.get("/me")
    async def me(principal: principal_dep) -> dict[str, Any]:
        return {"sub": principal.subject}

    @router.get("/admin")
    async def admin(principal: principal_dep) -> dict[str, Any]:
        raise ForbiddenError()

    app = FastAPI()
    app.state.settings = type("S", (), {"service_name": "example"})()
    app.state.token_verifier = TokenVerifier(
        keys or StaticKeys({"k": KEY.public_key()}), issuer="issuer", audience="api"
    )
    install_error_handlers(app)
    app.include_router(router)
    return TestClient(app)


@pytest.mark.parametrize("scheme", [HTTPBearer(auto_error=False),
                                    OAuth2PasswordBearer("/token", auto_error=False)])  # fmt: skip
def test_a_valid_token_gives_its_principal(scheme: Any) -> None:
    response = _client(scheme).get("/me", headers={"Authorization": f"Bearer {_token()}"})
    assert response.json() == {"sub": "7"}


@pytest.mark.parametrize("header", [None, "Basic YTpi", "Bearer "])
def test_no_bearer_token_is_401_with_a_challenge_without_error_code(header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = _client(HTTPBearer(auto_error=False)).get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/authentication-required"
    assert response.headers["www-authenticate"] == 'Bearer realm="example"'


@pytest.mark.parametrize("token", [_token(aud="other"), _token(sub="ada"), "garbage"])
def test_a_refused_token_is_401_invalid_token_with_its_reason(token: str) -> None:
    response = _client(HTTPBearer(auto_error=False)).get(
        "/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/invalid-token"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(
        'Bearer realm="example", error="invalid_token", error_description="'
    )


def test_forbidden_is_403_insufficient_scope() -> None:
    response = _client(HTTPBearer(auto_error=False)).get(
        "/admin", headers={"Authorization": f"Bearer {_token()}"}
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "The token does not allow this request."
    assert (
        response.headers["www-authenticate"] == 'Bearer realm="example", error="insufficient_scope"'
    )


def test_keys_that_cannot_be_fetched_are_503_with_retry_after() -> None:
    response = _client(HTTPBearer(auto_error=False), Down()).get(
        "/me", headers={"Authorization": f"Bearer {_token()}"}
    )
    assert response.status_code == 503
    assert response.json()["type"] == "/problems/token-issuer-unavailable"
    assert response.headers["retry-after"] == "5"
