"""The settings of the user-service client: their defaults (chosen for reliability and speed) and
the environment names operators set (no I/O)."""

from __future__ import annotations

import pytest

from order_service.config import Settings


def test_default_attempts_reach_99_5_percent_success_with_20_percent_independent_failures() -> None:
    attempts = Settings().user_service.max_attempts
    assert 1 - 0.2**attempts >= 0.995


def test_default_keepalive_keeps_every_pooled_connection_to_user_service() -> None:
    """Fewer keep-alive than pool slots closes and reopens connections under load."""
    client = Settings().user_service
    assert client.max_keepalive == client.max_connections


def test_the_client_settings_are_read_from_the_flat_operator_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ORDER_SERVICE_USER_SERVICE_* and ORDER_SERVICE_BREAKER_* fill one nested object each."""
    for name, value in {
        "USER_SERVICE_URL": "http://users.internal:8000/",
        "USER_SERVICE_CONNECT_TIMEOUT": "0.25",
        "USER_SERVICE_READ_TIMEOUT": "1.5",
        "USER_SERVICE_MAX_ATTEMPTS": "3",
        "USER_SERVICE_DEADLINE": "2",
        "USER_SERVICE_BACKOFF_INITIAL": "0.2",
        "USER_SERVICE_BACKOFF_MAX": "0.8",
        "USER_SERVICE_RETRY_AFTER_MAX": "1",
        "USER_SERVICE_MAX_CONNECTIONS": "20",
        "USER_SERVICE_MAX_KEEPALIVE": "20",
        "BREAKER_FAILURE_THRESHOLD": "7",
        "BREAKER_RESET_TIMEOUT": "9",
    }.items():
        monkeypatch.setenv(f"ORDER_SERVICE_{name}", value)
    settings = Settings()
    assert settings.user_service.model_dump() == {
        "url": "http://users.internal:8000",
        "connect_timeout": 0.25,
        "read_timeout": 1.5,
        "max_attempts": 3,
        "deadline": 2.0,
        "backoff_initial": 0.2,
        "backoff_max": 0.8,
        "retry_after_max": 1.0,
        "max_connections": 20,
        "max_keepalive": 20,
    }
    assert settings.breaker.model_dump() == {"failure_threshold": 7, "reset_timeout": 9.0}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("USER_SERVICE_URL", "ftp://users"),
        ("USER_SERVICE_MAX_ATTEMPTS", "0"),
        ("USER_SERVICE_DEADLINE", "0"),
        ("BREAKER_FAILURE_THRESHOLD", "0"),
    ],
)
def test_the_client_settings_refuse_nonsense(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"ORDER_SERVICE_{name}", value)
    with pytest.raises(ValueError, match=name.lower().split("_", 2)[-1]):
        Settings()
