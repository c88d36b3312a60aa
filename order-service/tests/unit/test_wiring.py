"""The defaults of the user-service client, chosen for reliability and speed (no I/O)."""

from __future__ import annotations

from order_service.config import Settings


def test_default_attempts_reach_99_5_percent_success_with_20_percent_independent_failures() -> None:
    attempts = Settings().user_service_max_attempts
    assert 1 - 0.2**attempts >= 0.995


def test_default_keepalive_keeps_every_pooled_connection_to_user_service() -> None:
    """Fewer keep-alive than pool slots closes and reopens connections under load."""
    settings = Settings()
    assert settings.user_service_max_keepalive == settings.user_service_max_connections
