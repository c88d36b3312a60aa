"""The console script's argument and settings handling (no I/O: it stops before any)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import pytest

from service_kit import cli
from service_kit.server import BoundedHttpToolsProtocol
from service_kit.settings import ServiceSettings

pytestmark = pytest.mark.unit


def test_invalid_settings_exit_2_naming_the_environment_prefix(
    run_cli: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EXAMPLE_SERVICE_PORT", "0")
    assert run_cli(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("service-kit: invalid settings (EXAMPLE_SERVICE_*)")
    assert "port" in err


def test_unknown_command_is_a_usage_error(run_cli: Callable[..., int]) -> None:
    with pytest.raises(SystemExit, match="2"):
        run_cli(["dance"])


def test_serve_runs_the_given_app_factory_as_the_settings_say(
    run_cli: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    monkeypatch.setenv("EXAMPLE_SERVICE_PORT", "9123")
    assert run_cli(["serve"]) == 0
    ((args, kwargs),) = calls
    assert args == ("x:create_app",)
    assert kwargs["factory"] is True
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("127.0.0.1", 9123, 1)
    assert kwargs["access_log"] is False
    assert kwargs["log_config"] is None
    protocol = kwargs["http"]
    assert isinstance(protocol, functools.partial)
    assert protocol.func is BoundedHttpToolsProtocol
    assert protocol.keywords == {"max_header_bytes": 16384, "header_timeout": 10.0}
    assert (kwargs["proxy_headers"], kwargs["forwarded_allow_ips"]) == (False, "")
    assert kwargs["ws"] == "none"


def _served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[object, ...], dict[str, object]]]:
    """Replace uvicorn.run by a recorder of its arguments."""
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    return calls


def test_serve_listens_where_the_flags_say_when_the_environment_says_nothing(
    run_cli: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _served(monkeypatch)
    assert run_cli(["serve", "--host", "192.0.2.1", "--port", "8123"]) == 0
    ((_, kwargs),) = calls
    assert (kwargs["host"], kwargs["port"]) == ("192.0.2.1", 8123)


def test_serve_listens_where_the_environment_says_over_the_flags(
    run_cli: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flags are an image's defaults; a deployment's environment (the chart's) decides."""
    calls = _served(monkeypatch)
    monkeypatch.setenv("EXAMPLE_SERVICE_HOST", "10.1.2.3")
    monkeypatch.setenv("EXAMPLE_SERVICE_PORT", "9123")
    assert run_cli(["serve", "--host", "192.0.2.1", "--port", "8123"]) == 0
    ((_, kwargs),) = calls
    assert (kwargs["host"], kwargs["port"]) == ("10.1.2.3", 9123)


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_serve_refuses_a_port_flag_out_of_range(
    run_cli: Callable[..., int], monkeypatch: pytest.MonkeyPatch, port: str
) -> None:
    calls = _served(monkeypatch)
    with pytest.raises(SystemExit, match="2"):
        run_cli(["serve", "--port", port])
    assert calls == []


def test_serve_reload_restarts_the_same_server_from_the_factory_import_string(
    run_cli: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn reloads only an import string; the bounded protocol stays (dev = production)."""
    calls = _served(monkeypatch)
    assert run_cli(["serve", "--reload"]) == 0
    assert run_cli(["serve"]) == 0
    (args, kwargs), (_, production) = calls
    assert args == ("x:create_app",)
    assert (kwargs["factory"], kwargs["reload"], production["reload"]) == (True, True, False)
    same = lambda kw: {k: v for k, v in kw.items() if k not in {"reload", "http"}}  # noqa: E731
    assert same(kwargs) == same(production)
    for protocol in (kwargs["http"], production["http"]):
        assert isinstance(protocol, functools.partial)
        assert protocol.func is BoundedHttpToolsProtocol


def test_serve_believes_forwarded_headers_only_from_the_trusted_proxies(
    run_cli: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **kw: calls.append(kw))
    monkeypatch.setenv("EXAMPLE_SERVICE_TRUSTED_PROXIES", "10.0.0.0/8")
    assert run_cli(["serve"]) == 0
    ((kwargs),) = calls
    assert (kwargs["proxy_headers"], kwargs["forwarded_allow_ips"]) == (True, "10.0.0.0/8")


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
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_metrics_dir(monkeypatch)
    cli.serve(settings_class(workers=2), "x:create_app")
    cli.serve(settings_class(workers=2), "x:create_app")
    (first, first_files), (second, second_files) = seen
    assert first is not None
    assert second not in (None, first)
    assert first_files == second_files == []
    assert not os.path.exists(first)
    assert not os.path.exists(str(second))
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_serve_with_one_worker_leaves_the_default_registry(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_metrics_dir(monkeypatch)
    cli.serve(settings_class(workers=1), "x:create_app")
    assert seen == [(None, [])]


def test_invalid_settings_are_reported_by_name_without_their_value(
    run_cli: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EXAMPLE_SERVICE_DATABASE_URL", "mysql://admin:s3cr3t-pw@db.internal/x")
    assert run_cli(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "database_url" in err
    assert "s3cr3t" not in err
    assert "mysql" not in err
    assert "db.internal" not in err


def test_a_service_command_runs_with_or_without_settings(
    run_cli: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, object]] = []
    commands = [
        cli.Command("hello", "greet", lambda args, s: seen.append(("hello", s)) or 0),
        cli.Command("bare", "no settings", lambda args, s: seen.append(("bare", s)) or 3,
                    needs_settings=False),
    ]  # fmt: skip
    monkeypatch.setenv("EXAMPLE_SERVICE_PORT", "0")  # invalid: only "bare" may run
    assert run_cli(["bare"], commands=commands) == 3
    assert run_cli(["hello"], commands=commands) == 2
    monkeypatch.setenv("EXAMPLE_SERVICE_PORT", "9000")
    assert run_cli(["hello"], commands=commands) == 0
    assert [name for name, _ in seen] == ["bare", "hello"]
    assert seen[0][1] is None


def test_a_failed_preflight_stops_serve_with_exit_2(
    run_cli: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    served: list[object] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **kw: served.append(a))
    monkeypatch.setenv("EXAMPLE_SERVICE_PORT", "9000")
    assert run_cli(["serve"], preflight=lambda settings: "no signing key") == 2
    assert "no signing key" in capsys.readouterr().err
    assert served == []
