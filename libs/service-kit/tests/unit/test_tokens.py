"""Token verification refuses every token it should: one test per way a token can be wrong; and
the JWKS cache fetches as little as it can while keeping what it knows."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools.clock import FakeClock
from service_kit.tokens import (
    MAX_TOKEN_LENGTH,
    InvalidTokenError,
    JwksCache,
    KeysUnavailableError,
    StaticKeys,
    TokenVerifier,
    bearer_token,
    keys_from_jwks,
    public_jwk,
)

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

ISSUER, AUDIENCE = "user-service", "shop"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class KeyRing:
    """An issuer's keys, as user-service holds them: the kid sorting last signs."""

    def __init__(self, keys: dict[str, Ed25519PrivateKey]) -> None:
        self._keys = keys

    def public_keys(self) -> dict[str, Any]:
        return {kid: key.public_key() for kid, key in self._keys.items()}

    def jwks(self) -> dict[str, Any]:
        order = sorted(self._keys, reverse=True)
        return {"keys": [public_jwk(kid, self._keys[kid].public_key()) for kid in order]}

    def issue(
        self, *, subject: str, roles: list[str], ttl: int, now: datetime | None = None
    ) -> Any:
        issued_at = int((now or datetime.now(UTC)).timestamp())
        kid = sorted(self._keys)[-1]
        claims = _claims(
            sub=subject, roles=roles, iat=issued_at, nbf=issued_at, exp=issued_at + ttl
        )
        return _sign(self._keys[kid], claims, kid=kid)


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing({"k1": Ed25519PrivateKey.generate(), "k2": Ed25519PrivateKey.generate()})


@pytest.fixture
def verifier(ring: KeyRing) -> TokenVerifier:
    return TokenVerifier(StaticKeys(ring.public_keys()), issuer=ISSUER, audience=AUDIENCE)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "7",
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "abc",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key: Ed25519PrivateKey, claims: Mapping[str, Any], kid: str = "k2") -> str:
    return jwt.encode(dict(claims), key, algorithm="EdDSA", headers={"kid": kid})


def _private(ring: KeyRing, kid: str) -> Ed25519PrivateKey:
    return ring._keys[kid]


async def test_a_token_issued_by_the_ring_verifies_with_its_claims(
    ring: KeyRing, verifier: TokenVerifier
) -> None:
    token = ring.issue(subject="7", roles=["admin"], ttl=900)
    principal = await verifier.verify(token)
    assert (principal.subject, principal.user_id, principal.roles) == ("7", 7, {"admin"})
    assert principal.token_id == "abc"
    assert principal.token == token
    assert token not in repr(principal)
    assert jwt.get_unverified_header(token)["kid"] == "k2"


async def test_an_older_key_still_in_the_ring_verifies(
    ring: KeyRing, verifier: TokenVerifier
) -> None:
    token = _sign(_private(ring, "k1"), _claims(), kid="k1")
    assert (await verifier.verify(token)).subject == "7"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_claims(exp=int(time.time()) - 60), "expired"),
        (_claims(nbf=int(time.time()) + 600), "not valid yet"),
        (_claims(iss="someone-else"), "another issuer"),
        (_claims(aud="another-api"), "another audience"),
        (_claims(exp=None), "'exp'"),
        (_claims(iat=None), "'iat'"),
        (_claims(sub=None), "'sub'"),
        (_claims(jti=None), "'jti'"),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "wrong-iss",
        "wrong-aud",
        "no-exp",
        "no-iat",
        "no-sub",
        "no-jti",
    ],
)
async def test_a_token_with_wrong_claims_is_refused(
    ring: KeyRing, verifier: TokenVerifier, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidTokenError, match=reason):
        await verifier.verify(_sign(_private(ring, "k2"), claims))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    header = _b64(json.dumps({"alg": "none", "kid": "k2"}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}."
    with pytest.raises(InvalidTokenError, match="EdDSA"):
        await verifier.verify(token)


async def test_hs256_signed_with_the_public_key_is_refused(
    ring: KeyRing, verifier: TokenVerifier
) -> None:
    """The classic key-confusion attack: the public key used as an HMAC secret."""
    public = ring.public_keys()["k2"].public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    payload = _b64(json.dumps(_claims()).encode())
    header = _b64(json.dumps({"alg": "HS256", "kid": "k2", "typ": "JWT"}).encode())
    import hashlib
    import hmac

    signature = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidTokenError, match="EdDSA"):
        await verifier.verify(f"{header}.{payload}.{_b64(signature)}")


async def test_an_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    token = _sign(Ed25519PrivateKey.generate(), _claims(), kid="k3")
    with pytest.raises(InvalidTokenError, match="does not publish"):
        await verifier.verify(token)


async def test_a_known_kid_on_a_foreign_key_fails_the_signature(verifier: TokenVerifier) -> None:
    token = _sign(Ed25519PrivateKey.generate(), _claims(), kid="k2")
    with pytest.raises(InvalidTokenError, match="signature"):
        await verifier.verify(token)


async def test_a_tampered_payload_fails_the_signature(
    ring: KeyRing, verifier: TokenVerifier
) -> None:
    header, _, signature = _sign(_private(ring, "k2"), _claims()).split(".")
    forged = _b64(json.dumps(_claims(sub="1", roles=["admin"])).encode())
    with pytest.raises(InvalidTokenError, match="signature"):
        await verifier.verify(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "ey.ey.ey", "x" * 5000])
async def test_garbage_is_refused(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(InvalidTokenError):
        await verifier.verify(token)


def _raw_token(header: object, key: Ed25519PrivateKey, claims: object) -> str:
    """A JWS with exactly this header (any JSON, or raw bytes), signed with ``key``."""
    encoded = header if isinstance(header, bytes) else json.dumps(header).encode()
    signing_input = f"{_b64(encoded)}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"


MALFORMED_HEADERS: list[object] = [
    {"alg": "EdDSA", "kid": 1},
    {"alg": "EdDSA", "kid": ["k2"]},
    {"alg": "EdDSA", "kid": {"k": "k2"}},
    {"alg": "EdDSA", "kid": None},
    {"alg": "EdDSA", "kid": ""},
    {"alg": ["EdDSA"], "kid": "k2"},
    {"alg": {"EdDSA": 1}, "kid": "k2"},
    {"alg": None, "kid": "k2"},
    {"alg": "none", "kid": "k2"},
    {"alg": "EdDSA", "kid": "k2", "crit": "exp"},
    {"alg": "EdDSA", "kid": "k2", "crit": []},
    {"alg": "EdDSA", "kid": "k2", "crit": {}},
    {"alg": "EdDSA", "kid": "k2", "crit": [1]},
    {"alg": "EdDSA", "kid": "k2", "crit": ["unknown-extension"]},
    {"alg": "EdDSA", "kid": "k2", "crit": ["b64"]},
    {"alg": "EdDSA", "kid": "k2", "padding": "a" * 100_000},
    ["EdDSA", "k2"],
    ["EdDSA"],
    "EdDSA",
    7,
    None,
    b"\xff\xfe\x00",
    b"{",
]
# Odd, but harmless in a header the issuer itself signed (never fetched, never trusted).
ODD_HEADERS: list[object] = [
    {"alg": "EdDSA", "kid": "k2", "b64": "no"},
    {"alg": "EdDSA", "kid": "k2", "typ": 1, "jku": 5, "x5u": ["x"], "cty": {}},
    {"alg": "EdDSA", "kid": "k2", "typ": [1], "jku": 2},
]


@pytest.mark.parametrize("header", MALFORMED_HEADERS, ids=lambda header: repr(header)[:40])
@pytest.mark.parametrize("signer", ["foreign", "issuer"])
async def test_a_token_with_a_malformed_header_is_refused_as_invalid(
    ring: KeyRing, verifier: TokenVerifier, header: object, signer: str
) -> None:
    """Whatever the header holds, and whoever signed it: a 401, never another exception."""
    key = Ed25519PrivateKey.generate() if signer == "foreign" else _private(ring, "k2")
    with pytest.raises(InvalidTokenError):
        await verifier.verify(_raw_token(header, key, _claims()))


@pytest.mark.parametrize("header", ODD_HEADERS, ids=lambda header: repr(header)[:40])
async def test_odd_header_fields_are_refused_unless_the_issuer_signed_them(
    ring: KeyRing, verifier: TokenVerifier, header: object
) -> None:
    with pytest.raises(InvalidTokenError, match="signature"):
        await verifier.verify(_raw_token(header, Ed25519PrivateKey.generate(), _claims()))
    await verifier.verify(_raw_token(header, _private(ring, "k2"), _claims()))


@pytest.mark.parametrize(
    "token",
    [
        "a" * 100_000,
        "é.é.é",
        "e30.e30.",
        "...",
        f"{_b64(b'{}')}.{_b64(b'[]')}.{_b64(b'x' * 64)}",
        f"{_b64(json.dumps({'alg': 'EdDSA', 'kid': 'k2'}).encode())}.!!!.???",
    ],
    ids=lambda token: token[:20],
)
async def test_unsigned_garbage_is_refused_as_invalid(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(InvalidTokenError):
        await verifier.verify(token)


async def test_a_token_over_the_length_bound_is_refused_before_parsing(
    ring: KeyRing, verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _sign(_private(ring, "k2"), _claims(padding="a" * MAX_TOKEN_LENGTH))
    monkeypatch.setattr(jwt, "get_unverified_header", pytest.fail)
    with pytest.raises(InvalidTokenError, match="well-formed"):
        await verifier.verify(token)


async def test_a_token_without_kid_is_refused(ring: KeyRing, verifier: TokenVerifier) -> None:
    token = jwt.encode(_claims(), _private(ring, "k2"), algorithm="EdDSA")
    with pytest.raises(InvalidTokenError, match="kid"):
        await verifier.verify(token)


def test_a_non_numeric_subject_is_not_a_user_id() -> None:
    from service_kit.tokens import Principal

    with pytest.raises(InvalidTokenError, match="user id"):
        _ = Principal(subject="¹", roles=frozenset(), token_id="j", expires_at=0).user_id


def test_jwks_has_public_parts_only_newest_first(ring: KeyRing) -> None:
    document = ring.jwks()
    assert [key["kid"] for key in document["keys"]] == ["k2", "k1"]
    for key in document["keys"]:
        assert set(key) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == (
            "OKP",
            "Ed25519",
            "EdDSA",
            "sig",
        )
    assert set(keys_from_jwks(document)) == {"k1", "k2"}


def test_jwks_parsing_skips_private_or_foreign_entries(ring: KeyRing) -> None:
    good = ring.jwks()["keys"][0]
    document = {"keys": [{**good, "kid": "p", "d": "secret"}, {**good, "kid": "r", "kty": "RSA"},
                         {**good, "kid": "h", "alg": "HS256"}, "junk", good]}  # fmt: skip
    assert list(keys_from_jwks(document)) == ["k2"]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token_reads_only_the_bearer_scheme(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


class FakeIssuer:
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.fetches = 0
        self.down = False

    async def __call__(self) -> Mapping[str, Any]:
        self.fetches += 1
        if self.down:
            raise ConnectionError("user-service is down")
        return self.ring.jwks()


@pytest.fixture
def issuer(ring: KeyRing) -> FakeIssuer:
    return FakeIssuer(ring)


async def test_jwks_cache_fetches_once_then_serves_known_keys(
    issuer: FakeIssuer, clock: FakeClock
) -> None:
    cache = JwksCache(issuer, refresh_interval=30, max_age=600, clock=clock)
    assert await cache.key("k2") is not None
    assert await cache.key("k1") is not None
    assert issuer.fetches == 1


async def test_jwks_cache_refetches_an_unknown_kid_at_most_once_per_interval(
    ring: KeyRing, issuer: FakeIssuer, clock: FakeClock
) -> None:
    cache = JwksCache(issuer, refresh_interval=30, max_age=600, clock=clock)
    await cache.key("k2")
    assert await cache.key("rotated") is None
    assert issuer.fetches == 1  # just fetched: a miss right after does not fetch again
    clock.advance(31)
    for _ in range(5):
        assert await cache.key("rotated") is None
    assert issuer.fetches == 2  # the first miss refetched; the next ones waited for the interval
    ring._keys["rotated"] = Ed25519PrivateKey.generate()
    clock.advance(31)
    assert await cache.key("rotated") is not None
    assert issuer.fetches == 3


async def test_jwks_cache_keeps_known_keys_while_the_issuer_is_down(
    issuer: FakeIssuer, clock: FakeClock
) -> None:
    cache = JwksCache(issuer, refresh_interval=30, max_age=60, clock=clock)
    await cache.key("k2")
    issuer.down = True
    clock.advance(3600)  # long past max_age: a refresh is tried, fails, the keys stay
    assert await cache.key("k2") is not None
    with pytest.raises(KeysUnavailableError):
        await cache.key("unknown")


async def test_jwks_cache_drops_keys_the_issuer_no_longer_publishes(
    ring: KeyRing, issuer: FakeIssuer, clock: FakeClock
) -> None:
    cache = JwksCache(issuer, refresh_interval=30, max_age=60, clock=clock)
    assert await cache.key("k1") is not None
    del ring._keys["k1"]
    clock.advance(61)
    assert await cache.key("k1") is None


async def test_requests_arriving_during_the_first_fetch_wait_for_it(
    ring: KeyRing, clock: FakeClock
) -> None:
    """Concurrent first requests: one fetch, and every one of them gets the key."""
    gate = asyncio.Event()
    fetches = 0

    async def slow_fetch() -> Mapping[str, Any]:
        nonlocal fetches
        fetches += 1
        await gate.wait()
        return ring.jwks()

    cache = JwksCache(slow_fetch, refresh_interval=30, max_age=600, clock=clock)
    lookups = [asyncio.create_task(cache.key("k2")) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    keys = await asyncio.gather(*lookups)
    assert all(key is not None for key in keys)
    assert fetches == 1


# A verified token is remembered: a client sends the same one with every request.


def _count_full_verifications(
    verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    calls: list[str] = []
    real = verifier.verify_with

    def counting(token: str, key: Any) -> Any:
        calls.append(token)
        return real(token, key)

    monkeypatch.setattr(verifier, "verify_with", counting)
    return calls


async def test_a_verified_token_is_not_checked_again(
    ring: KeyRing, verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_full_verifications(verifier, monkeypatch)
    token = ring.issue(subject="7", roles=[], ttl=900)
    first, again = await verifier.verify(token), await verifier.verify(token)
    assert first == again
    assert len(calls) == 1


async def test_a_remembered_token_still_expires(ring: KeyRing) -> None:
    verifier = TokenVerifier(
        StaticKeys(ring.public_keys()), issuer=ISSUER, audience=AUDIENCE, leeway=0
    )
    now = int(time.time())
    token = _sign(_private(ring, "k2"), _claims(iat=now, nbf=now, exp=now + 1))
    await verifier.verify(token)
    await asyncio.sleep(max(0.0, now + 1.05 - time.time()))
    with pytest.raises(InvalidTokenError, match="expired"):
        await verifier.verify(token)


async def test_a_remembered_token_dies_with_its_key(
    ring: KeyRing, issuer: FakeIssuer, clock: FakeClock
) -> None:
    cache = JwksCache(issuer, refresh_interval=30, max_age=60, clock=clock)
    verifier = TokenVerifier(cache, issuer=ISSUER, audience=AUDIENCE)
    token = _sign(_private(ring, "k1"), _claims(), kid="k1")
    await verifier.verify(token)
    del ring._keys["k1"]  # the issuer stops publishing k1; the cache refetches after max_age
    clock.advance(61)
    with pytest.raises(InvalidTokenError, match="does not publish"):
        await verifier.verify(token)


async def test_a_token_that_differs_in_one_byte_is_verified_in_full(
    ring: KeyRing, verifier: TokenVerifier
) -> None:
    token = ring.issue(subject="7", roles=[], ttl=900)
    await verifier.verify(token)
    head, _payload, signature = token.split(".")
    forged = _b64(json.dumps(_claims(sub="8")).encode())
    with pytest.raises(InvalidTokenError, match="signature"):
        await verifier.verify(f"{head}.{forged}.{signature}")


async def test_the_cache_is_bounded_and_can_be_off(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = StaticKeys(ring.public_keys())
    small = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, cache_size=2)
    calls = _count_full_verifications(small, monkeypatch)
    tokens = [_sign(_private(ring, "k2"), _claims(jti=f"t{i}")) for i in range(3)]
    for token in [*tokens, tokens[0]]:  # the third evicts the first, which is checked again
        await small.verify(token)
    assert calls == [*tokens, tokens[0]]
    off = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, cache_size=0)
    calls = _count_full_verifications(off, monkeypatch)
    for _ in range(2):
        await off.verify(tokens[1])
    assert len(calls) == 2
