"""The console script's argument and settings handling (no I/O: it stops before any)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from user_service import cli
from user_service.cli import main
from user_service.config import Settings, get_settings
from user_service.signing import generate_key


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


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    generate_key(tmp_path)
    return tmp_path


def test_serve_with_several_workers_gives_them_a_fresh_metrics_dir_then_removes_it(
    monkeypatch: pytest.MonkeyPatch, keys: Path
) -> None:
    seen = _record_metrics_dir(monkeypatch)
    cli.serve(Settings(workers=2, keys_dir=keys))
    cli.serve(Settings(workers=2, keys_dir=keys))
    (first, first_files), (second, second_files) = seen
    assert first is not None
    assert second not in (None, first)
    assert first_files == second_files == []
    assert not os.path.exists(first)
    assert not os.path.exists(str(second))
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_serve_with_one_worker_leaves_the_default_registry(
    monkeypatch: pytest.MonkeyPatch, keys: Path
) -> None:
    seen = _record_metrics_dir(monkeypatch)
    cli.serve(Settings(workers=1, keys_dir=keys))
    assert seen == [(None, [])]


def test_serve_without_a_signing_key_exits_2_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.serve(Settings(keys_dir=tmp_path / "none")) == 2
    assert "user-service generate-key" in capsys.readouterr().err


def test_generate_key_writes_a_private_key_readable_by_its_owner_only(tmp_path: Path) -> None:
    assert main(["generate-key", str(tmp_path), "--kid", "k1"]) == 0
    assert (tmp_path / "k1.pem").stat().st_mode & 0o777 == 0o600
    assert main(["generate-key", str(tmp_path), "--kid", "k1"]) == 1  # never overwrites
    assert main(["generate-key", str(tmp_path), "--if-empty"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["k1.pem"]


def test_invalid_database_url_is_reported_without_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USER_SERVICE_DATABASE_URL", "mysql://admin:s3cr3t-pw@db.internal/users")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "database_url" in err
    assert "s3cr3t" not in err
    assert "mysql" not in err
