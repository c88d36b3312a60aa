"""The ASGI app: ``create_app()`` mounts user-service's routes on the kit's plumbing, with the
verifier of its own tokens and the ``Users`` use cases over what identity needs: the signing
keys, the password hasher, the login throttle and the per-client limit of the password endpoints.

Routers are mounted only here. Nothing runs at import time; migrations are a separate
command (``user-service migrate``), never a side effect of starting the app.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from service_kit.app import create_service_app
from service_kit.tokens import StaticKeys, TokenVerifier
from service_kit.tracing import Tracing
from user_service.api import auth, users
from user_service.config import Settings, get_settings
from user_service.passwords import Argon2Params, PasswordHasher
from user_service.ratelimit import ClientRateLimiter
from user_service.service import TokenPolicy, Users
from user_service.signing import KeyRing
from user_service.throttle import LoginThrottle

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, tracing: Tracing | None = None) -> FastAPI:
    """The app; raises ``SigningKeyError`` when ``keys_dir`` holds no usable signing key.
    ``tracing``: from the OTEL_* environment unless given (tests export to memory)."""
    settings = settings or get_settings()
    keyring = KeyRing.from_directory(settings.keys_dir)
    app = create_service_app(settings, routers=[auth.router, users.router], tracing=tracing)
    app.state.token_verifier = TokenVerifier(
        StaticKeys(keyring.public_keys()),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
    app.state.users = Users(
        sessions=app.state.sessions,
        hasher=PasswordHasher(
            Argon2Params(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_cost,
                parallelism=settings.argon2_parallelism,
            ),
            max_concurrent=settings.password_hash_concurrency,
            max_waiting=settings.password_hash_queue,
        ),
        throttle=LoginThrottle(
            max_failures=settings.login_max_failures,
            lockout=settings.login_lockout,
            max_lockout=settings.login_max_lockout,
            max_entries=settings.login_table_size,
        ),
        limiter=ClientRateLimiter(
            rate=settings.client_rate,
            burst=settings.client_burst,
            max_clients=settings.client_table_size,
        ),
        keyring=keyring,
        tokens=TokenPolicy(
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            ttl=settings.access_token_ttl,
        ),
    )
    logger.info(
        "signing keys loaded", extra={"signing_kid": keyring.signing_kid, "kids": keyring.kids}
    )
    return app
