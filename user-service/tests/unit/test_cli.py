"""The console script's argument and settings handling (no I/O: it stops before any)."""

import os
from collections.abc import Iterator

import pytest

from user_service import cli
from user_service.cli import main
from user_service.config import Settings, get_settings


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


def _record_metrics_dir(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, list[str]]]:
    """Replace uvicorn.run by a recorder of the metrics directory the workers would see."""
    seen: list[tuple[str | None, list[str]]] = []

    def run(*args: object, **kwargs: object) -> None:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        seen.append((directory, os.listdir(directory) if directory else []))

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(cli.uvicorn, "run", run)
    return seen


def test_serve_with_several_workers_gives_them_a_fresh_metrics_dir_then_removes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _record_metrics_dir(monkeypatch)
    cli.serve(Settings(workers=2))
    cli.serve(Settings(workers=2))
    (first, first_files), (second, second_files) = seen
    assert first is not None
    assert second not in (None, first)
    assert first_files == second_files == []
    assert not os.path.exists(first)
    assert not os.path.exists(str(second))
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_serve_with_one_worker_leaves_the_default_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _record_metrics_dir(monkeypatch)
    cli.serve(Settings(workers=1))
    assert seen == [(None, [])]
