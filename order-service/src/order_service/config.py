"""Settings: the environment (prefix ``ORDER_SERVICE_``) read once, validated, then passed down.

Nothing else in the package reads ``os.environ``; ``get_settings()`` is the lazy, cached entry.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite:///./.data/order-service.db"
_SUPPORTED_BACKENDS = {"postgresql", "sqlite"}
_PLACEHOLDER_PASSWORDS = {"changeme", "change-me", "replace-me", "placeholder", "xxx"}

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """Every knob of the service; see docs/design.md for the table."""

    model_config = SettingsConfigDict(env_prefix="ORDER_SERVICE_", extra="ignore", frozen=True)

    database_url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_max_overflow: int = Field(default=5, ge=0, le=100)
    db_pool_timeout: float = Field(default=5.0, gt=0, le=60)
    db_connect_timeout: int = Field(default=3, ge=1, le=60)
    log_level: LogLevel = "INFO"
    host: str = "127.0.0.1"
    port: int = Field(default=8002, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_timeout: float = Field(default=20.0, ge=0, le=600)

    # user-service, the one dependency (clients/user_service.py)
    user_service_url: str = "http://127.0.0.1:8001"
    user_service_connect_timeout: float = Field(default=0.5, gt=0, le=30)
    user_service_read_timeout: float = Field(default=2.0, gt=0, le=60)
    user_service_max_attempts: int = Field(default=4, ge=1, le=10)
    user_service_deadline: float = Field(default=4.0, gt=0, le=60)
    user_service_backoff_initial: float = Field(default=0.1, ge=0, le=10)
    user_service_backoff_max: float = Field(default=1.0, ge=0, le=30)
    user_service_retry_after_max: float = Field(default=2.0, ge=0, le=60)
    user_service_max_connections: int = Field(default=10, ge=1, le=1000)
    user_service_max_keepalive: int = Field(default=10, ge=0, le=1000)
    breaker_failure_threshold: int = Field(default=5, ge=1, le=1000)
    breaker_reset_timeout: float = Field(default=5.0, gt=0, le=600)
    # migrate only: the role the app connects as, granted DML (and nothing else) on the tables
    db_app_role: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    # bearer tokens: issued by user-service, verified here against its JWKS (tokens.py)
    token_issuer: str = Field(default="user-service", min_length=1)
    token_audience: str = Field(default="shop", min_length=1)
    jwks_refresh_interval: float = Field(default=30.0, ge=1, le=3600)
    jwks_max_age: float = Field(default=600.0, ge=10, le=86400)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("database_url is not a valid SQLAlchemy URL") from exc
        if url.drivername in {"postgres", "postgresql"}:
            url = url.set(drivername="postgresql+psycopg2")
        if url.get_backend_name() not in _SUPPORTED_BACKENDS:
            raise ValueError("database_url must be a postgresql:// or sqlite:// URL")
        if url.password is not None and str(url.password).lower() in _PLACEHOLDER_PASSWORDS:
            raise ValueError("database_url carries a placeholder password; set a real secret")
        return url.render_as_string(hide_password=False)

    @field_validator("user_service_url")
    @classmethod
    def _check_user_service_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("user_service_url must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def uses_default_database(self) -> bool:
        return self.database_url == DEFAULT_DATABASE_URL

    @property
    def safe_database_url(self) -> str:
        """The URL with the password masked, for logs."""
        return make_url(self.database_url).render_as_string(hide_password=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()
