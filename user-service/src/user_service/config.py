"""Settings: the environment (prefix ``USER_SERVICE_``) read once, validated, then passed down.

The plumbing's knobs are the kit's (``service_kit.settings``); this module names the service,
its defaults, and its identity settings (signing keys, tokens, passwords, login throttling).
``get_settings()`` is the lazy, cached entry.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from service_kit.settings import Port, ServiceSettings


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "user-service"

    model_config = SettingsConfigDict(env_prefix="USER_SERVICE_")

    port: Port = 8001

    # identity: signing keys (signing.py), tokens (the kit's token_issuer, token_audience, and
    # their lifetime), passwords, throttling
    keys_dir: Path = Path(".data/keys")
    access_token_ttl: int = Field(default=900, ge=60, le=86400)
    argon2_time_cost: int = Field(default=2, ge=1, le=20)
    argon2_memory_cost: int = Field(default=19 * 1024, ge=8 * 1024, le=1024 * 1024)  # KiB
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    # abuse limits of POST /token and POST /users (docs/identity.md, "Limits"): seconds, counts
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    password_hash_queue: int = Field(default=32, ge=0, le=10_000)
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    login_lockout: float = Field(default=60.0, gt=0, le=86400)
    login_max_lockout: float = Field(default=900.0, gt=0, le=86400)
    login_table_size: int = Field(default=50_000, ge=100, le=10_000_000)
    client_rate: float = Field(default=1.0, gt=0, le=1_000_000)  # requests per second
    client_burst: int = Field(default=20, ge=1, le=1_000_000)
    client_table_size: int = Field(default=10_000, ge=100, le=10_000_000)

    @model_validator(mode="after")
    def _check_lockouts(self) -> Self:
        if self.login_max_lockout < self.login_lockout:
            raise ValueError("login_max_lockout must be at least login_lockout")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
