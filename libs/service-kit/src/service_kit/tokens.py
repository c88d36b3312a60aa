"""Bearer tokens: verifying user-service's EdDSA (Ed25519) JWTs, and the keys that verify them.

Every service checks a caller's token locally, without asking the issuer per request::

    Authorization: Bearer <jwt>  ->  bearer_token()  ->  TokenVerifier.verify()  ->  Principal
                                                               │ kid
                                                         KeySource.key(kid)
                                                         ├── StaticKeys   the issuer's own keys
                                                         └── JwksCache    a JWKS document fetched
                                                                          from the issuer, cached

A token is accepted only when all of these hold, else ``InvalidTokenError`` (401): it is at most
``MAX_TOKEN_LENGTH`` ASCII characters (checked before any parsing); its header is a JSON object
whose standard fields have their standard types, names ``alg: EdDSA`` (nothing else is ever
tried: no ``none``, no HMAC signed with a public key) and a ``kid`` the key source knows; the
signature verifies with that key; ``iss`` and ``aud`` are the expected ones; ``exp``, ``iat``,
``sub`` and ``jti`` are present; ``exp`` is in the future and ``nbf``/``iat`` not in the future
(``leeway`` seconds of clock skew allowed).

``JwksCache`` refetches the document when a token names a ``kid`` it has not seen (a rotation), at
most once per ``refresh_interval``, and refreshes known keys after ``max_age``; a failed fetch
keeps the keys it had, so tokens signed with a known key keep working while the issuer is down.
A ``kid`` that is still unknown after a failed fetch raises ``KeysUnavailableError`` (503: the
token may be good, we cannot tell), after a successful one ``InvalidTokenError`` (401).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ALGORITHM = "EdDSA"
# Ten times the size of the tokens user-service issues: anything longer is refused unparsed.
MAX_TOKEN_LENGTH = 4096
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "jti")

logger = logging.getLogger(__name__)


class InvalidTokenError(Exception):
    """The token is missing a part, malformed, expired, foreign or forged; ``reason`` says which.

    The reason is safe to show (RFC 6750 ``error_description``): it never contains the token.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class KeysUnavailableError(Exception):
    """The token names a key we do not have, and the issuer's key set could not be fetched."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who the verified token speaks for; ``token`` is the token itself, for a service that relays
    its caller's credentials to another (never logged: not in the repr)."""

    subject: str
    roles: frozenset[str]
    token_id: str
    expires_at: int
    token: str = field(default="", repr=False)

    @property
    def user_id(self) -> int:
        """The subject as a user id (user-service's subjects are its user ids)."""
        if not self.subject.isascii() or not self.subject.isdigit():
            raise InvalidTokenError("the subject is not a user id")
        return int(self.subject)


class KeySource(Protocol):
    async def key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key with this ``kid``, or None when the issuer does not publish it."""
        ...


def public_jwk(kid: str, key: Ed25519PublicKey) -> dict[str, str]:
    """One JWKS entry (RFC 8037: OKP / Ed25519): the public part only."""
    jwk: dict[str, str] = jwt.algorithms.OKPAlgorithm.to_jwk(key, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 signing keys of a JWKS document, by kid; other entries are ignored."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("a JWKS document has a 'keys' list")
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519" or "d" in entry:
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            key = jwt.PyJWK.from_dict(entry, algorithm=ALGORITHM).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            logger.warning("ignoring an unreadable JWKS entry", extra={"kid": entry["kid"]})
            continue
        if isinstance(key, Ed25519PublicKey):
            keys[entry["kid"]] = key
    return keys


class StaticKeys:
    """A fixed set of public keys (the issuer verifying its own tokens)."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)


class JwksCache:
    """The issuer's public keys, from ``fetch()`` (a JWKS document), cached.

    ``fetch`` raises on any failure; the cache logs it and keeps what it had.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Mapping[str, Any]]],
        *,
        refresh_interval: float = 30.0,
        max_age: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._last_failed = False
        self._lock = asyncio.Lock()

    @property
    def kids(self) -> list[str]:
        return sorted(self._keys)

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        key = self._keys.get(kid)
        if key is None:
            # Wait for a fetch in flight (the first requests all arrive before the first fetch
            # ends), then fetch unless one was attempted within the interval.
            async with self._lock:
                if self._may_attempt():
                    await self._refresh()
            key = self._keys.get(kid)
            if key is None and self._last_failed:
                raise KeysUnavailableError(f"key {kid!r} unknown; the key set could not be fetched")
            return key
        stale = self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age
        if stale and self._may_attempt() and not self._lock.locked():
            async with self._lock:  # a known key: refresh, but never wait behind another fetch
                if self._may_attempt():
                    await self._refresh()
            key = self._keys.get(kid)  # None once the issuer stopped publishing it
        return key

    def _may_attempt(self) -> bool:
        return (
            self._attempted_at is None
            or self._clock() - self._attempted_at >= self._refresh_interval
        )

    async def _refresh(self) -> None:
        self._attempted_at = self._clock()
        try:
            keys = keys_from_jwks(await self._fetch())
        except Exception as exc:
            self._last_failed = True
            logger.warning(
                "could not fetch the issuer's public keys; keeping the known ones",
                extra={"reason": type(exc).__name__, "known_kids": self.kids},
            )
            return
        self._last_failed = False
        self._keys = keys
        self._fetched_at = self._attempted_at
        logger.info("issuer's public keys fetched", extra={"kids": self.kids})


class TokenVerifier:
    """Checks a compact JWS against the key source and the expected issuer and audience.

    A token that verified is remembered (up to ``cache_size`` tokens, the oldest forgotten
    first): a client sends the same token with every request for its whole life, and checking
    its signature and claims again each time would be a large share of a read's CPU. A
    remembered token is accepted again only while both still hold: it has not expired (``exp``,
    with the same leeway, against the wall clock) and the key source still returns the very key
    that verified it (a key the issuer stopped publishing ends its tokens at once, as before).
    The cache is keyed by the whole token string: a token that differs in any byte is verified
    in full. Only verified tokens enter it, so only the issuer can fill it, and each holds at most
    ``MAX_TOKEN_LENGTH`` characters: bounded in entries and bytes. ``cache_size=0`` turns it off.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway: float = 30.0,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.cache_size = cache_size
        self._clock = clock
        # token -> (principal, kid, key); dicts keep insertion order: the first is the oldest
        self._verified: dict[str, tuple[Principal, str, Ed25519PublicKey]] = {}

    async def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise InvalidTokenError("the token is not a well-formed JWT")
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, kid, key = remembered
            if (
                principal.expires_at > self._clock() - self.leeway
                and await self.keys.key(kid) is key
            ):
                return principal
            del self._verified[token]  # expired, or its key is gone: verify in full (refused)
        principal, kid, key = await self._verify(token)
        if self.cache_size:
            if len(self._verified) >= self.cache_size:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (principal, kid, key)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, str, Ed25519PublicKey]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:  # not a JWS, or a header field of the wrong type
            raise InvalidTokenError("the token is not a well-formed JWT") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidTokenError(f"the token must be signed with {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidTokenError("the token names no key (kid)")
        key = await self.keys.key(kid)
        if key is None:
            raise InvalidTokenError("the token is signed with a key the issuer does not publish")
        return self.verify_with(token, key), kid, key

    def verify_with(self, token: str, key: Ed25519PublicKey) -> Principal:
        """The CPU part of ``verify``: signature and claims, with a key already chosen."""
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidTokenError("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidTokenError("the token is meant for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidTokenError("the token comes from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidTokenError(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise InvalidTokenError("the token's signature does not verify") from None
        except jwt.InvalidTokenError:
            raise InvalidTokenError("the token is invalid") from None
        subject, jti = claims["sub"], claims["jti"]
        if not isinstance(subject, str) or not subject or not isinstance(jti, str):
            raise InvalidTokenError("the token's sub and jti must be strings")
        return Principal(
            subject=subject,
            roles=frozenset(_roles(claims.get("roles"))),
            token_id=jti,
            expires_at=int(claims["exp"]),
            token=token,
        )


def _roles(value: object) -> Iterable[str]:
    if isinstance(value, list):
        return [role for role in value if isinstance(role, str)]
    return []


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def www_authenticate(realm: str, error: str | None = None, description: str | None = None) -> str:
    """An RFC 6750 ``WWW-Authenticate`` challenge (no error code when no token was sent)."""
    parts = [f'realm="{realm}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append('error_description="{}"'.format(description.replace('"', "'")))
    return "Bearer " + ", ".join(parts)
