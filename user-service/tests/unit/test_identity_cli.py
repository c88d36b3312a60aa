"""user-service's own commands: signing keys, and the check that one exists before serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service_kit import cli as kit_cli
from user_service.cli import main
from user_service.config import get_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_serve_without_a_signing_key_exits_2_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[object] = []
    monkeypatch.setattr(kit_cli.uvicorn, "run", lambda *a, **kw: served.append(a))
    monkeypatch.setenv("USER_SERVICE_KEYS_DIR", str(tmp_path / "none"))
    assert main(["serve"]) == 2
    assert "user-service generate-key" in capsys.readouterr().err
    assert served == []


def test_serve_with_a_signing_key_runs_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[object] = []
    monkeypatch.setattr(kit_cli.uvicorn, "run", lambda *a, **kw: served.append(a))
    assert main(["generate-key", str(tmp_path)]) == 0
    monkeypatch.setenv("USER_SERVICE_KEYS_DIR", str(tmp_path))
    assert main(["serve"]) == 0
    assert served == [("user_service.main:create_app",)]


def test_generate_key_writes_a_private_key_readable_by_its_owner_only(tmp_path: Path) -> None:
    assert main(["generate-key", str(tmp_path), "--kid", "k1"]) == 0
    assert (tmp_path / "k1.pem").stat().st_mode & 0o777 == 0o600
    assert main(["generate-key", str(tmp_path), "--kid", "k1"]) == 1  # never overwrites
    assert main(["generate-key", str(tmp_path), "--if-empty"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["k1.pem"]


def test_generate_key_needs_no_valid_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER_SERVICE_DATABASE_URL", "mysql://nope")
    assert main(["generate-key", str(tmp_path)]) == 0
