"""Settings: the environment (prefix ``USER_SERVICE_``) read once, validated, then passed down.

The knobs are the kit's (``service_kit.settings``); this module names the service and its
defaults. ``get_settings()`` is the lazy, cached entry.
"""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings

DEFAULT_DATABASE_URL = "sqlite:///./.data/user-service.db"


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "user-service"

    model_config = SettingsConfigDict(env_prefix="USER_SERVICE_")

    database_url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)
    port: int = Field(default=8001, ge=1, le=65535)


@lru_cache
def get_settings() -> Settings:
    return Settings()
