"""The signing keys: user-service is the issuer; only this module holds private keys.

Keys are PEM files (PKCS#8, Ed25519) in one directory, a mounted Kubernetes Secret in a cluster,
``.data/keys`` locally. A key's ``kid`` is its file name without ``.pem``; the key whose kid sorts
last signs, every key in the directory verifies and is published in the JWKS. Rotation is
therefore: add a key whose name sorts after the others (``user-service generate-key`` names them
by UTC time), roll the pods out, and remove the old key once every token it signed has expired
and every verifier has refetched the JWKS (docs/design.md: access-token TTL + JWKS max age).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service_kit.tokens import ALGORITHM, public_jwk

KID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class SigningKeyError(Exception):
    """The key directory is missing, empty or holds something that is not an Ed25519 key."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    token_id: str


class KeyRing:
    """Private keys by kid; the last kid in sort order signs."""

    def __init__(self, keys: dict[str, Ed25519PrivateKey]) -> None:
        if not keys:
            raise SigningKeyError("no signing key")
        self._keys = dict(sorted(keys.items()))
        self.signing_kid = next(reversed(self._keys))

    @classmethod
    def from_directory(cls, directory: Path) -> KeyRing:
        if not directory.is_dir():
            raise SigningKeyError(
                f"signing key directory {directory} does not exist "
                "(create a key with `user-service generate-key DIR`)"
            )
        keys: dict[str, Ed25519PrivateKey] = {}
        for path in sorted(directory.glob("*.pem")):
            kid = path.stem
            if not KID_PATTERN.match(kid):
                raise SigningKeyError(f"{path.name}: a key's file name must match {KID_PATTERN}")
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (ValueError, TypeError):
                raise SigningKeyError(
                    f"{path.name} is not an unencrypted PEM private key"
                ) from None
            if not isinstance(key, Ed25519PrivateKey):
                raise SigningKeyError(f"{path.name} is not an Ed25519 key")
            keys[kid] = key
        if not keys:
            raise SigningKeyError(
                f"no *.pem signing key in {directory} "
                "(create one with `user-service generate-key DIR`)"
            )
        return cls(keys)

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {kid: key.public_key() for kid, key in self._keys.items()}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document: every key's public part, the signing key first."""
        order = [
            self.signing_kid,
            *(kid for kid in reversed(self._keys) if kid != self.signing_kid),
        ]
        return {"keys": [public_jwk(kid, self._keys[kid].public_key()) for kid in order]}

    def issue(
        self,
        *,
        subject: str,
        roles: list[str],
        issuer: str,
        audience: str,
        ttl: int,
        now: datetime | None = None,
    ) -> IssuedToken:
        issued_at = int((now or datetime.now(UTC)).timestamp())
        token_id = uuid.uuid4().hex
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": subject,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + ttl,
            "jti": token_id,
            "roles": roles,
        }
        token = jwt.encode(
            claims,
            self._keys[self.signing_kid],
            algorithm=ALGORITHM,
            headers={"kid": self.signing_kid, "typ": "JWT"},
        )
        return IssuedToken(token=token, expires_in=ttl, token_id=token_id)


def new_kid(now: datetime | None = None) -> str:
    """A kid that sorts after every earlier one: the UTC time, to the second."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def generate_key(directory: Path, *, kid: str | None = None) -> Path:
    """Write a new Ed25519 private key (PKCS#8 PEM, mode 0600) as ``<kid>.pem``."""
    kid = kid or new_kid()
    if not KID_PATTERN.match(kid):
        raise SigningKeyError(f"kid {kid!r} must match {KID_PATTERN.pattern}")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{kid}.pem"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with path.open("xb", buffering=0) as out:  # never overwrite a key
        path.chmod(0o600)
        out.write(pem)
    return path
