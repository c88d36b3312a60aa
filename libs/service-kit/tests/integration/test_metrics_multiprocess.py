"""Several workers, one scrape: samples written by separate processes are aggregated.

Real processes, because prometheus-client picks its file-backed values when it is imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

RECORD = (
    "from service_kit.metrics import observe_request; "
    "observe_request('GET', '/users/{user_id}', 200, 0.002)"
)
SCRAPE = (
    "from prometheus_client import generate_latest; "
    "from service_kit.metrics import _registry; "
    "print(generate_latest(_registry()).decode())"
)


def _python(code: str, metrics_dir: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_scrape_adds_up_the_requests_every_worker_recorded(tmp_path: Path) -> None:
    _python(RECORD, tmp_path)
    _python(RECORD, tmp_path)
    exposition = _python(SCRAPE, tmp_path)
    series = 'http_requests_total{method="GET",route="/users/{user_id}",status="200"} 2.0'
    assert series in exposition
    assert 'http_request_duration_seconds_count{method="GET",route="/users/{user_id}"} 2.0' in (
        exposition
    )
