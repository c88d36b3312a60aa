"""In-process figures of identity's CPU costs, on one core, without HTTP or the database:

- verifying a token (what every order costs order-service): the full ``TokenVerifier.verify``
  with the key looked up in a warm JWKS cache, the signature + claims part alone, the same
  claims signed RS256 (RSA-2048) for comparison, and a token the verifier remembers (a client
  sends the same token with every request: what nearly every request pays);
- Argon2id with the service's defaults (what a registration and a login cost user-service), and
  with argon2-cffi's own default for comparison.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service_kit.tokens import JwksCache, TokenVerifier, public_jwk
from user_service.passwords import Argon2Params, PasswordHasher


def _per_call(fn: Callable[[], object], *, seconds: float) -> tuple[float, int]:
    """Mean seconds per call of ``fn`` over about ``seconds`` of process CPU time (all threads:
    Argon2's lanes run in threads of their own)."""
    fn()  # warm
    calls, start = 0, time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        fn()
        calls += 1
    return elapsed / calls, calls


def token_verification(seconds: float = 2.0) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    jwks = {"keys": [public_jwk("k1", key.public_key())]}

    async def fetch() -> dict[str, Any]:
        return jwks

    verifier = TokenVerifier(
        JwksCache(fetch), issuer="user-service", audience="shop", cache_size=0
    )  # every call in full
    remembering = TokenVerifier(JwksCache(fetch), issuer="user-service", audience="shop")
    now = int(time.time())
    claims = {"iss": "user-service", "aud": "shop", "sub": "42", "iat": now, "nbf": now,
              "exp": now + 3600, "jti": uuid.uuid4().hex, "roles": []}  # fmt: skip
    token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "k1"})

    async def verify_for(budget: float, verifier: TokenVerifier) -> tuple[float, int]:
        await verifier.verify(token)  # fetches the JWKS once
        calls, start = 0, time.process_time()
        while (elapsed := time.process_time() - start) < budget:
            await verifier.verify(token)
            calls += 1
        return elapsed / calls, calls

    full, calls = asyncio.run(verify_for(seconds, verifier))
    remembered, _ = asyncio.run(verify_for(seconds, remembering))
    core, _ = _per_call(lambda: verifier.verify_with(token, key.public_key()), seconds=seconds)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_token, rsa_public = jwt.encode(claims, rsa_key, algorithm="RS256"), rsa_key.public_key()

    def rs256() -> object:
        return jwt.decode(
            rsa_token,
            rsa_public,
            algorithms=["RS256"],
            audience="shop",
            issuer="user-service",
            options={"require": ["iss", "aud", "sub", "exp", "iat", "jti"]},
        )

    rs256_core, _ = _per_call(rs256, seconds=seconds)
    return {
        "algorithm": "EdDSA (Ed25519), PyJWT + cryptography",
        "verify_us": round(full * 1e6, 1),
        "remembered_us": round(remembered * 1e6, 1),
        "rs256_signature_and_claims_us": round(rs256_core * 1e6, 1),
        "token_bytes": {"EdDSA": len(token), "RS256": len(rsa_token)},
        "signature_and_claims_us": round(core * 1e6, 1),
        "verifications_per_core_second": round(1 / full),
        "calls": calls,
    }


def argon2(seconds: float = 3.0) -> list[dict[str, Any]]:
    rows = []
    for label, params in (
        ("service default (OWASP)", Argon2Params()),
        ("argon2-cffi default (RFC 9106 low-memory)", Argon2Params(3, 64 * 1024, 4)),
    ):
        hasher = PasswordHasher(params)
        stored = hasher.hash("bench correct horse battery")

        def check(hasher: PasswordHasher = hasher, stored: str = stored) -> object:
            return hasher.verify("bench correct horse battery", stored)

        verify, _ = _per_call(check, seconds=seconds)
        rows.append({
            "parameters": label,
            "time_cost": params.time_cost,
            "memory_mib": params.memory_cost // 1024,
            "parallelism": params.parallelism,
            "verify_ms_cpu": round(verify * 1000, 1),
            "logins_per_core_second": round(1 / verify, 1),
        })  # fmt: skip
    return rows


def table(tokens: dict[str, Any], hashes: list[dict[str, Any]]) -> str:
    lines = [
        "| identity, in process (one core) | figure |",
        "|---|---|",
        f"| verify a token ({tokens['algorithm']}): full, warm JWKS cache | "
        f"{tokens['verify_us']} µs ({tokens['verifications_per_core_second']:,}/s per core) |",
        f"| of which signature + claims | {tokens['signature_and_claims_us']} µs |",
        f"| the same claims signed RS256 (RSA-2048): signature + claims | "
        f"{tokens['rs256_signature_and_claims_us']} µs (token {tokens['token_bytes']['RS256']} "
        f"bytes, EdDSA {tokens['token_bytes']['EdDSA']}) |",
        f"| a token the verifier remembers (every request after a client's first) | "
        f"{tokens['remembered_us']} µs |",
    ]
    for row in hashes:
        lines.append(
            f"| Argon2id verify, {row['parameters']}: m={row['memory_mib']} MiB, "
            f"t={row['time_cost']}, p={row['parallelism']} | {row['verify_ms_cpu']} ms CPU "
            f"({row['logins_per_core_second']} logins/s per core) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(token_verification(), argon2()))
