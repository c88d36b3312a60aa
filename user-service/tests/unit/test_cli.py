"""The console script's argument and settings handling (no I/O: it stops before any)."""

from collections.abc import Iterator

import pytest

from user_service.cli import main
from user_service.config import get_settings


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_invalid_settings_exit_2_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USER_SERVICE_PORT", "0")
    assert main(["serve"]) == 2
    assert "USER_SERVICE_" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit, match="2"):
        main(["dance"])
