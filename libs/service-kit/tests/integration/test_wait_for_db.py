"""``<service> wait-for-db``: what a pod's first init container runs before ``migrate``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.engine import make_url

from service_kit import cli
from service_kit.settings import ServiceSettings

pytestmark = pytest.mark.integration


def test_wait_for_db_exits_0_when_the_database_answers(
    run_cli: Callable[..., int],
    create_database: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a postgresql:// URL, as the chart gives it: the settings pick the driver
    url = make_url(create_database("service_kit_wait")).set(drivername="postgresql")
    monkeypatch.setenv("EXAMPLE_SERVICE_DATABASE_URL", url.render_as_string(hide_password=False))
    assert run_cli(["wait-for-db", "--timeout", "5"]) == 0


def test_wait_for_db_gives_up_after_the_timeout_naming_the_host_never_the_password(
    run_cli: Callable[..., int],
    unused_port_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = make_url(unused_port_url).set(password="s3cr3t-pw")
    monkeypatch.setenv("EXAMPLE_SERVICE_DATABASE_URL", url.render_as_string(hide_password=False))
    assert run_cli(["wait-for-db", "--timeout", "0"]) == 1
    out, err = capsys.readouterr()
    assert "did not answer within 0 s" in err
    assert "127.0.0.1" in err
    assert "s3cr3t" not in out + err


def test_wait_for_database_retries_until_the_deadline_then_returns_the_last_reason(
    settings_class: type[ServiceSettings], unused_port_url: str
) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    settings = settings_class(database_url=unused_port_url, db_connect_timeout=1)
    reason = cli.wait_for_database(
        settings, timeout=5, interval=2, clock=lambda: now[0], sleep=sleep
    )
    assert reason is not None
    assert "127.0.0.1" in reason or "refused" in reason.lower()
    assert slept == [2, 2, 1]  # the last wait ends at the deadline, not past it


def test_wait_for_db_refuses_a_negative_timeout(run_cli: Callable[..., int]) -> None:
    with pytest.raises(SystemExit, match="2"):
        run_cli(["wait-for-db", "--timeout", "-1"])
