"""``kubectl port-forward`` to a Service on an ephemeral 127.0.0.1 port, re-established on demand.

A forward to ``svc/NAME`` is bound to one pod chosen when it starts; when that pod goes away the
forward breaks (kubectl 1.20 keeps running but every connection fails). ``ensure()`` checks the
forward still answers and starts a new one when it does not, so fault tests call it after they
disrupt pods. kubectl's own output is kept in a log file for the failure artifacts.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import httpx

_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


class PortForwardError(RuntimeError):
    pass


class PortForward:
    def __init__(
        self,
        *,
        kubectl: str,
        kubeconfig: str | None,
        namespace: str,
        service: str,
        port: int,
        log_path: Path,
        health_path: str = "/health/live",
    ) -> None:
        self.kubectl = kubectl
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.service = service
        self.port = port
        self.log_path = log_path
        self.health_path = health_path
        self.local_port: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        if self.local_port is None:
            raise PortForwardError(f"port-forward to svc/{self.service} is not running")
        return f"http://127.0.0.1:{self.local_port}"

    def start(self, timeout: float = 30.0) -> None:
        self.stop()
        cmd = [self.kubectl]
        if self.kubeconfig:
            cmd += ["--kubeconfig", self.kubeconfig]
        cmd += [
            "--namespace", self.namespace, "port-forward", "--address", "127.0.0.1",
            f"svc/{self.service}", f":{self.port}",
        ]  # fmt: skip
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a", encoding="utf-8")
        log.write(f"--- {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n")
        log.flush()
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.starts += 1
        found = threading.Event()
        assert self._proc.stdout is not None
        threading.Thread(
            target=self._pump, args=(self._proc.stdout, log, found), daemon=True
        ).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PortForwardError(
                    f"kubectl port-forward svc/{self.service} did not start within {timeout:.0f}s;"
                    f" its output is in {self.log_path}:\n{self.log_path.read_text()[-1500:]}"
                )
        self._wait_answering(deadline)

    def _pump(self, stream: IO[str], log: IO[str], found: threading.Event) -> None:
        with log:
            for line in stream:
                log.write(line)
                log.flush()
                if not found.is_set() and (match := _FORWARDING.search(line)):
                    self.local_port = int(match.group(1))
                    found.set()

    def _wait_answering(self, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            if self.answers():
                return
            last = f"no answer from {self.url}{self.health_path}"
            time.sleep(0.2)
        self.stop()
        raise PortForwardError(f"port-forward to svc/{self.service} started but {last}")

    def answers(self) -> bool:
        if self._proc is None or self._proc.poll() is not None or self.local_port is None:
            return False
        try:
            response = httpx.get(self.url + self.health_path, timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def ensure(self, timeout: float = 60.0) -> None:
        """Keep the forward if it answers, else start new ones until one does (pods may be
        starting) or ``timeout`` passes."""
        if self.answers():
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.start(timeout=max(1.0, min(30.0, deadline - time.monotonic())))
                return
            except PortForwardError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        self.local_port = None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
