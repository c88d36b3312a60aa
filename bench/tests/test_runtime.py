"""The processes whose memory the bench reports: a server itself, or the workers it supervises."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench._runtime import rss_mb, worker_pids

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
SUPERVISOR = [
    sys.executable,
    "-c",
    "import subprocess, sys, time\n"
    f"child = subprocess.Popen({SLEEPER!r})\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n",
]


@pytest.fixture
def supervisor() -> Iterator[tuple[int, int]]:
    """A process with one child: (its pid, the child's pid)."""
    parent = subprocess.Popen(SUPERVISOR, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        yield parent.pid, child
    finally:
        subprocess.run(["kill", str(child)], check=False)
        parent.kill()
        parent.wait(5)
        parent.stdout.close()


def test_worker_pids_is_the_server_itself_when_it_has_no_children() -> None:
    with subprocess.Popen(SLEEPER) as alone:
        try:
            assert worker_pids(alone.pid) == [alone.pid]
        finally:
            alone.kill()


def test_worker_pids_are_the_children_of_a_supervising_server(
    supervisor: tuple[int, int],
) -> None:
    parent, child = supervisor
    assert worker_pids(parent) == [child]


def test_rss_mb_reads_the_resident_set_of_a_live_process() -> None:
    """An interpreter that has started (it prints once it runs) holds a few MB."""
    argv = [sys.executable, "-c", "import time; print(flush=True); time.sleep(60)"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE) as python:
        try:
            assert python.stdout is not None
            python.stdout.readline()
            assert 1 < rss_mb(python.pid) < 200
        finally:
            python.kill()
