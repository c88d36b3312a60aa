"""order-service's settings: its prefix and defaults (the kit tests the validation; no I/O)."""

from collections.abc import Callable

import pytest
from pydantic_settings import BaseSettings

from order_service.config import Settings


@pytest.fixture(autouse=True)
def _clean_environment(clean_environment: Callable[[type[BaseSettings]], None]) -> None:
    clean_environment(Settings)


def test_the_default_database_is_a_local_postgresql() -> None:
    assert Settings().database_url == "postgresql+psycopg2://localhost/order_service"
