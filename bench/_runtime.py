"""The processes a bench or drill run owns: a throw-away PostgreSQL, the services, the proxy.

Everything binds 127.0.0.1 on a free port and is stopped by PID when the run ends, also on
Ctrl-C or an error (``Processes`` is a context manager; children get their own session so a
terminal's Ctrl-C reaches only the driver, which then stops them in order).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from devtools.postgres import Postgres, embedded

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class BenchError(RuntimeError):
    """A run cannot go on (missing tool, process that would not start); the message says why."""


def require_tool(name: str, hint: str) -> str:
    path = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if path is None:
        raise BenchError(f"{name} not found. {hint}")
    return path


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()


@dataclass
class Processes(contextlib.AbstractContextManager["Processes"]):
    """Starts child processes, each logging to a file in ``workdir``; stops them all on exit."""

    workdir: Path
    _children: list[ManagedProcess] = field(default_factory=list)

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        log_path = self.workdir / f"{name}.log"
        log = log_path.open("ab")
        popen = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO,
        )
        proc = ManagedProcess(name=name, popen=popen, log_path=log_path, _log=log)
        self._children.append(proc)
        return proc

    def stop(self, proc: ManagedProcess) -> None:
        proc.stop()
        self._children.remove(proc)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        for proc in reversed(self._children):
            with contextlib.suppress(Exception):
                proc.stop()
        self._children.clear()


def wait_ready(url: str, proc: ManagedProcess, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; fail with the process's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited while starting:\n{proc.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise BenchError(f"{proc.name} not ready at {url} after {timeout:.0f} s:\n{proc.log_tail()}")


def local_postgres() -> contextlib.AbstractContextManager[Postgres]:
    """The run's throw-away PostgreSQL (``devtools.postgres``: durability off, a Unix socket).

    Durability is off: the bench measures the services' CPU cost, not the disk of a shared
    machine. ``max_connections`` leaves room for every pool.
    """
    return embedded(settings={"max_connections": "200", "shared_buffers": "128MB"})


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The driver's environment without any service or OpenTelemetry settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("USER_SERVICE_", "ORDER_SERVICE_", "BASELINE_", "PEER_", "OTEL_"))
    }
    env.update(extra)
    return env


def proc_usage(pid: int) -> dict[str, int]:
    """Threads and open file descriptors of ``pid`` (Linux /proc)."""
    threads = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"threads": threads, "fds": fds}


def worker_pids(pid: int) -> list[int]:
    """The processes that hold a server's app: its children when it supervises workers (uvicorn
    with ``--workers`` > 1; multiprocessing's resource tracker is not a worker), else itself
    (one worker: uvicorn serves in the process it was started as)."""
    children: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
            if int(stat[1]) == pid and b"resource_tracker" not in cmdline:
                children.append(int(entry.name))
    return sorted(children) or [pid]


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (``VmRSS`` of /proc/<pid>/status, 1 MB = 2**20 B)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_info() -> dict[str, object]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    distro = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO,
        check=False,
    ).stdout.strip()  # fmt: skip
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": mem_gib,
        "os": distro,
        "python": platform.python_version(),
        "git_sha": sha or "unknown",
        "load_average": list(os.getloadavg()),
    }


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so ``make`` being killed still stops our children."""

    def handler(signum: int, frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
