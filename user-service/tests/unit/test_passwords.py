"""Argon2id hashing: what is stored, upgrades when parameters change; the token signer."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters

from user_service.passwords import Argon2Params, PasswordHasher

pytestmark = pytest.mark.unit

CHEAP = Argon2Params(time_cost=1, memory_cost=8 * 1024, parallelism=1)


def test_hash_is_argon2id_with_the_configured_parameters() -> None:
    stored = PasswordHasher(CHEAP).hash("correct horse")
    assert stored.startswith("$argon2id$")
    params = extract_parameters(stored)
    assert (params.time_cost, params.memory_cost, params.parallelism) == (1, 8 * 1024, 1)
    assert "correct horse" not in stored


def test_default_parameters_are_owasps_argon2id_minimum() -> None:
    assert Argon2Params() == Argon2Params(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def test_verify_accepts_the_password_and_refuses_another() -> None:
    hasher = PasswordHasher(CHEAP)
    stored = hasher.hash("correct horse")
    assert hasher.verify("correct horse", stored).valid
    assert not hasher.verify("correct horsf", stored).valid


def test_verify_offers_a_rehash_when_the_parameters_changed() -> None:
    old = PasswordHasher(CHEAP).hash("correct horse")
    stronger = PasswordHasher(Argon2Params(time_cost=2, memory_cost=9 * 1024, parallelism=1))
    verdict = stronger.verify("correct horse", old)
    assert verdict.valid
    assert verdict.new_hash is not None
    assert extract_parameters(verdict.new_hash).time_cost == 2
    assert stronger.verify("correct horse", verdict.new_hash).new_hash is None
    assert stronger.verify("wrong", old).new_hash is None  # never for a wrong password


def test_verify_unknown_runs_a_real_check() -> None:
    hasher = PasswordHasher(CHEAP)
    hasher.verify_unknown("anything")  # returns nothing, raises nothing


def test_issued_tokens_carry_every_claim_and_the_signing_kid() -> None:
    """KeyRing.issue: iss, aud, sub, exp, iat, nbf, jti, roles; the kid sorting last signs."""
    from datetime import UTC, datetime

    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from user_service.signing import KeyRing

    ring = KeyRing(
        {"2026-01": Ed25519PrivateKey.generate(), "2026-06": Ed25519PrivateKey.generate()}
    )
    now = datetime(2026, 12, 2, tzinfo=UTC)
    issued = ring.issue(subject="7", roles=["admin"], issuer="user-service", audience="shop",
                        ttl=600, now=now)  # fmt: skip
    assert jwt.get_unverified_header(issued.token) == {
        "alg": "EdDSA",
        "kid": "2026-06",
        "typ": "JWT",
    }
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert claims == {"iss": "user-service", "aud": "shop", "sub": "7", "iat": int(now.timestamp()),
                      "nbf": int(now.timestamp()), "exp": int(now.timestamp()) + 600,
                      "jti": issued.token_id, "roles": ["admin"]}  # fmt: skip
    assert [key["kid"] for key in ring.jwks()["keys"]] == ["2026-06", "2026-01"]


def test_the_hasher_pins_glibcs_mmap_threshold_where_libc_is_glibc() -> None:
    """Argon2's 19 MiB go back to the system after each hash (passwords module docstring)."""
    import platform

    from user_service.passwords import return_large_blocks_to_the_system

    assert return_large_blocks_to_the_system() is (platform.libc_ver()[0] == "glibc")
