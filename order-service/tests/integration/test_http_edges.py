"""What every caller meets at the edge, whatever they send: malformed tokens are 401 problems,
no response points at a caller-chosen host, and every response says nosniff and no-store."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(header: object) -> str:
    now = int(time.time())
    claims = {"iss": "user-service", "aud": "shop", "sub": "1", "iat": now, "exp": now + 300,
              "jti": "x", "roles": []}  # fmt: skip
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = Ed25519PrivateKey.generate().sign(signing_input.encode())
    return f"{signing_input}.{_b64(signature)}"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "EdDSA", "kid": 1},
        {"alg": "EdDSA", "kid": ["test-kid-1"]},
        {"alg": ["EdDSA"], "kid": "test-kid-1"},
        {"alg": "EdDSA", "kid": "test-kid-1", "crit": {}},
        {"alg": "EdDSA", "kid": "test-kid-1", "crit": ["b64"]},
        {"alg": "EdDSA", "kid": "test-kid-1", "typ": [1], "jku": 2},
        ["EdDSA"],
        {"alg": "EdDSA", "kid": "test-kid-1", "pad": "a" * 8000},
    ],
    ids=lambda header: repr(header)[:40],
)
def test_a_malformed_token_is_a_401_problem(client: TestClient, header: object) -> None:
    response = client.get("/orders", headers={"Authorization": f"Bearer {_token(header)}"})
    assert response.status_code == 401, response.text
    assert response.json()["type"] == "/problems/invalid-token"


def test_a_trailing_slash_is_a_404_problem_not_a_redirect_to_the_caller_s_host(
    client: TestClient,
) -> None:
    response = client.get("/orders/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "location" not in response.headers


@pytest.mark.parametrize("path", ["/orders", "/health/live", "/nowhere"])
def test_responses_are_nosniff_and_not_stored(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
