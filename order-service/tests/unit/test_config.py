"""order-service's settings: its prefix and defaults (the kit tests the validation; no I/O)."""

from collections.abc import Callable

import pytest
from pydantic_settings import BaseSettings

from order_service.config import Settings


@pytest.fixture(autouse=True)
def _clean_environment(clean_environment: Callable[[type[BaseSettings]], None]) -> None:
    clean_environment(Settings)


def test_defaults_are_a_local_postgresql_and_port_8002() -> None:
    settings = Settings()
    assert (settings.database_url, settings.port) == (
        "postgresql+psycopg2://localhost/order_service",
        8002,
    )
