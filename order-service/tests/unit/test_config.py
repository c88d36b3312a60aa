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


def test_tokens_are_verified_for_user_service_and_the_shop_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (Settings().token_issuer, Settings().token_audience) == ("user-service", "shop")
    monkeypatch.setenv("ORDER_SERVICE_TOKEN_ISSUER", "https://id.example")
    monkeypatch.setenv("ORDER_SERVICE_TOKEN_AUDIENCE", "api")
    assert (Settings().token_issuer, Settings().token_audience) == ("https://id.example", "api")


@pytest.mark.parametrize("port", [0, 65536])
def test_a_port_outside_1_to_65535_is_refused(port: int) -> None:
    with pytest.raises(ValueError, match="port"):
        Settings(port=port)
