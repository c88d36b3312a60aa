"""Settings: the environment (prefix ``ORDER_SERVICE_``) read once, validated, then passed down.

The database, server, logging and token knobs are the kit's (``service_kit.settings``); this
module names the service, its defaults and its one dependency. ``get_settings()`` is the lazy,
cached entry.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import SettingsConfigDict

from service_kit.settings import Port, ServiceSettings


class UserServiceClientSettings(BaseModel):
    """How order-service calls user-service (clients/user_service_client.py); the policy these
    knobs tune is in docs/design.md, "order-service's calls to user-service"."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str = "http://127.0.0.1:8001"
    connect_timeout: float = Field(default=0.5, gt=0, le=30)
    read_timeout: float = Field(default=2.0, gt=0, le=60)
    max_attempts: int = Field(default=4, ge=1, le=10)
    deadline: float = Field(default=4.0, gt=0, le=60)
    backoff_initial: float = Field(default=0.1, ge=0, le=10)
    backoff_max: float = Field(default=1.0, ge=0, le=30)
    retry_after_max: float = Field(default=2.0, ge=0, le=60)
    max_connections: int = Field(default=10, ge=1, le=1000)
    max_keepalive: int = Field(default=10, ge=0, le=1000)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// URL")
        return value.rstrip("/")


class BreakerSettings(BaseModel):
    """The circuit breaker around the user-service lookups (clients/breaker.py)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    failure_threshold: int = Field(default=5, ge=1, le=1000)
    reset_timeout: float = Field(default=5.0, gt=0, le=600)


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "order-service"

    # A nested group is read from its flat variables: ORDER_SERVICE_USER_SERVICE_READ_TIMEOUT is
    # user_service.read_timeout (split once, after the group's name), as operators have set them.
    model_config = SettingsConfigDict(
        env_prefix="ORDER_SERVICE_", env_nested_delimiter="_", env_nested_max_split=1
    )

    port: Port = 8002

    # user-service, the one dependency: ORDER_SERVICE_USER_SERVICE_*, ORDER_SERVICE_BREAKER_*
    user_service: UserServiceClientSettings = UserServiceClientSettings()
    breaker: BreakerSettings = BreakerSettings()

    # bearer tokens (the kit's token_issuer, token_audience): verified against user-service's JWKS
    jwks_refresh_interval: float = Field(default=30.0, ge=1, le=3600)
    jwks_max_age: float = Field(default=600.0, ge=10, le=86400)
    # Idempotency-Key: how long a key is remembered (seconds, or an ISO 8601 duration: PT24H).
    idempotency_key_window: timedelta = Field(
        default=timedelta(hours=24), ge=timedelta(minutes=1), le=timedelta(days=30)
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
