"""`make dev-loop-test`: the developer loop of skaffold.yaml's profile dev, exercised for real.

On the cluster of KUBE_CONTEXT (default: the current context), in its own namespace
(DEVLOOP_NAMESPACE, default shop-devloop, emptied first), it:

1. starts ``skaffold dev -p dev`` without a terminal and waits until both port-forwards answer
   (the time is the "first dev" figure);
2. stays idle DEVLOOP_IDLE_SECONDS (60) and checks nothing was redeployed (helm revision);
3. edits user-service's source (the OpenAPI tag of its /users routes) DEVLOOP_EDITS times (5), each
   time timing edit -> new behaviour served through the port-forward, then reverts; checks the pod
   (uid, restarts) and the helm revision never changed and skaffold synced instead of building;
4. edits a template of each chart (a comment line) and checks each edit gives exactly one
   redeploy (one new helm revision), then reverts it (one more);
5. stops skaffold (SIGINT) and checks its cleanup: release gone, pods gone, forwards closed;
   then deletes the namespace.

It prints the figures (first dev, inner-loop latencies and median). Every file it edits is
restored, also when it fails. Exit status 0 only when every check passed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = os.environ.get("DEVLOOP_NAMESPACE", "shop-devloop")
RELEASE = "shop"  # skaffold.yaml's release
IDLE_SECONDS = float(os.environ.get("DEVLOOP_IDLE_SECONDS", "60"))
EDITS = int(os.environ.get("DEVLOOP_EDITS", "5"))
START_TIMEOUT = float(os.environ.get("DEVLOOP_START_TIMEOUT", "900"))
SKAFFOLD = os.environ.get("SKAFFOLD", "skaffold")
# Outside the repository on purpose: skaffold dev watches the whole tree (the images' context is
# the root), and its notify trigger waits for a quiet second before it acts, so a log growing
# inside the tree would hold every sync back.
LOG = Path(os.environ.get("DEVLOOP_LOG", Path(tempfile.gettempdir()) / "shop-dev-loop.log"))

SOURCE = REPO / "user-service" / "src" / "user_service" / "api" / "users.py"
TAG = 'tags=["users"]'
# One template per chart: a comment line appended is a real edit that renders the same objects.
TEMPLATES = {
    "common": REPO / "helm" / "common" / "templates" / "_names.tpl",
    "postgresql": REPO / "helm" / "postgresql" / "templates" / "service.yaml",
    "user-service": REPO / "helm" / "user-service" / "templates" / "service.yaml",
    "order-service": REPO / "helm" / "order-service" / "templates" / "service.yaml",
    "shop": REPO / "helm" / "templates" / "NOTES.txt",
}
_FORWARD = re.compile(
    r"Port forwarding service/(?P<svc>\S+) in namespace \S+, remote port \d+ -> "
    r"http://127\.0\.0\.1:(?P<port>\d+)"
)


class DevLoopError(AssertionError):
    pass


def run(*cmd: str, check: bool = True) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise DevLoopError(f"`{' '.join(cmd)}` failed: {result.stderr.strip()}")
    return result.stdout


class Cluster:
    def __init__(self, context: str) -> None:
        self.context = context

    def kubectl(self, *args: str, check: bool = True) -> str:
        return run("kubectl", "--context", self.context, "-n", NAMESPACE, *args, check=check)

    def helm_revision(self) -> int:
        out = run("helm", "--kube-context", self.context, "-n", NAMESPACE, "history", RELEASE,
                  "-o", "json", check=False)  # fmt: skip
        history = json.loads(out) if out.strip() else []
        return max((int(h["revision"]) for h in history), default=0)

    def pods(self, name: str) -> list[tuple[str, str, int]]:
        """(pod name, uid, restarts) of the release's pods of service ``name``."""
        out = self.kubectl(
            "get", "pods", "-o", "json",
            "-l", f"app.kubernetes.io/name={name},app.kubernetes.io/instance={RELEASE}",
        )  # fmt: skip
        return sorted(
            (
                p["metadata"]["name"],
                p["metadata"]["uid"],
                sum(c.get("restartCount", 0) for c in p["status"].get("containerStatuses", [])),
            )
            for p in json.loads(out)["items"]
            if not p["metadata"].get("deletionTimestamp")
        )


class SkaffoldDev:
    """``skaffold dev -p dev`` in the background; its output goes to LOG and is scanned."""

    def __init__(self, context: str) -> None:
        self.context = context
        self.lines: list[str] = []
        self.forwards: dict[str, int] = {}
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        LOG.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            SKAFFOLD, "dev", "--profile", "dev", "--kube-context", self.context,
            "--namespace", NAMESPACE, "--port-forward=user", "--cleanup=true",
            "--interactive=false", "--update-check=false",
        ]  # fmt: skip
        print(f"devloop: {' '.join(cmd)}  (log: {LOG})", flush=True)
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        with LOG.open("w", encoding="utf-8") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                self.lines.append(line)
                if match := _FORWARD.search(line):
                    self.forwards[match["svc"]] = int(match["port"])

    def count(self, pattern: str) -> int:
        return sum(1 for line in list(self.lines) if re.search(pattern, line))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 180.0) -> int:
        """SIGINT, as Ctrl+C: skaffold cleans up (helm uninstall) before it exits."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
                raise DevLoopError(
                    f"skaffold dev did not exit {timeout:.0f}s after SIGINT"
                ) from None
        return self.proc.returncode


def wait_for(what: str, check: Callable[[], bool], timeout: float, dev: SkaffoldDev) -> float:
    """Poll ``check`` every 0.1 s; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        if not dev.alive():
            raise DevLoopError(f"skaffold dev exited while waiting for {what}; see {LOG}")
        if time.monotonic() - start > timeout:
            raise DevLoopError(f"{what}: not within {timeout:.0f}s; see {LOG}")
        time.sleep(0.1)
    return time.monotonic() - start


def get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None


def answers(url: str) -> bool:
    response = get(url)
    return response is not None and response.status_code == 200


def users_tag(url: str) -> str | None:
    """The OpenAPI tag of POST /users, as the running worker serves it."""
    response = get(url + "/openapi.json")
    if response is None or response.status_code != 200:
        return None
    return str(response.json()["paths"]["/users"]["post"]["tags"][0])


def port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def restored(*paths: Path) -> Iterator[None]:
    """Whatever happens, the files end as they were (a dev-loop test must not leave edits)."""
    saved = {p: p.read_bytes() for p in paths}
    try:
        yield
    finally:
        for path, content in saved.items():
            if path.read_bytes() != content:
                path.write_bytes(content)


def main() -> int:
    context = os.environ.get("KUBE_CONTEXT") or run("kubectl", "config", "current-context").strip()
    cluster = Cluster(context)
    source = SOURCE.read_text()
    if source.count(TAG) != 1:
        raise DevLoopError(f"{SOURCE} no longer holds {TAG} once: update this test's edit")
    print(f"devloop: context {context}, namespace {NAMESPACE} (emptied first)", flush=True)
    run("kubectl", "--context", context, "delete", "namespace", NAMESPACE, "--ignore-not-found",
        "--wait=true", "--timeout=180s")  # fmt: skip

    dev = SkaffoldDev(context)
    figures: list[str] = []
    with restored(SOURCE, *TEMPLATES.values()):
        started = time.monotonic()
        dev.start()
        try:
            wait_for(
                "both port-forwards",
                lambda: {"shop-user-service", "shop-order-service"} <= set(dev.forwards),
                START_TIMEOUT, dev,
            )  # fmt: skip
            users = f"http://127.0.0.1:{dev.forwards['shop-user-service']}"
            orders = f"http://127.0.0.1:{dev.forwards['shop-order-service']}"
            wait_for("user-service answering", lambda: answers(users + "/health/live"), 120, dev)
            wait_for("order-service answering", lambda: answers(orders + "/health/live"), 120, dev)
            first = time.monotonic() - started
            figures.append(f"first skaffold dev to both port-forwards answering: {first:.1f}s")
            print(f"devloop: {figures[-1]} ({users}, {orders})", flush=True)

            revision = cluster.helm_revision()
            pods = cluster.pods("user-service")
            builds = dev.count(r"^Building \[")
            print(f"devloop: idle {IDLE_SECONDS:.0f}s: the helm revision must stay {revision}",
                  flush=True)  # fmt: skip
            time.sleep(IDLE_SECONDS)
            if cluster.helm_revision() != revision:
                raise DevLoopError(f"redeployed while idle: revision {cluster.helm_revision()}")

            latencies = []
            for n in range(1, EDITS + 1):
                tag = f"users (dev loop {n})"
                SOURCE.write_text(source.replace(TAG, f'tags=["{tag}"]'))
                latency = wait_for(
                    f"edit {n} served", lambda t=tag: users_tag(users) == t, 120, dev
                )
                latencies.append(latency)
                print(f"devloop: edit {n}: served {latency:.2f}s after the write", flush=True)
            SOURCE.write_text(source)
            wait_for("revert served", lambda: users_tag(users) == "users", 120, dev)
            if cluster.pods("user-service") != pods:
                raise DevLoopError(f"user-service pod replaced or restarted: {pods} -> "
                                   f"{cluster.pods('user-service')}")  # fmt: skip
            if cluster.helm_revision() != revision:
                raise DevLoopError("a source edit redeployed the release")
            if dev.count(r"^Building \[") != builds:
                raise DevLoopError("a source edit rebuilt an image instead of syncing it")
            if dev.count(r"Syncing \d+ files? for user-service") < EDITS:
                raise DevLoopError("skaffold did not report the file syncs")
            figures.append(
                "inner loop (edit -> served): "
                + ", ".join(f"{x:.2f}s" for x in latencies)
                + f"; median {statistics.median(latencies):.2f}s"
            )

            for chart, template in TEMPLATES.items():
                original = template.read_text()
                edit = original + "{{/* dev loop */}}\n"
                for step, text in (("edit", edit), ("revert", original)):
                    before = cluster.helm_revision()
                    template.write_text(text)
                    wait_for(
                        f"{chart} template {step} redeployed",
                        lambda b=before: cluster.helm_revision() > b,  # type: ignore[misc]
                        180, dev,
                    )  # fmt: skip
                    # one redeploy, not a loop: still one revision more a while later
                    time.sleep(8)
                    after = cluster.helm_revision()
                    if after != before + 1:
                        raise DevLoopError(f"{chart} template {step}: {after - before} redeploys")
                    print(f"devloop: {chart} template {step}: one redeploy (revision {after})",
                          flush=True)  # fmt: skip
            figures.append("template edit in each of the 5 charts: one redeploy each")
        finally:
            code = dev.stop()

    print(f"devloop: skaffold dev stopped (exit {code}); checking its cleanup", flush=True)
    deadline = time.monotonic() + 120
    while cluster.pods("user-service") or cluster.pods("order-service"):
        if time.monotonic() > deadline:
            raise DevLoopError("pods still there 120s after skaffold dev's cleanup")
        time.sleep(1)
    if (
        cluster.helm_revision() != 0
        or RELEASE in run("helm", "--kube-context", context, "-n", NAMESPACE, "list", "-q").split()
    ):
        raise DevLoopError("the release is still installed after skaffold dev's cleanup")
    closed = [port for port in dev.forwards.values() if not port_closed(port)]
    if closed:
        raise DevLoopError(f"port-forwards still listening on {closed}")
    run("kubectl", "--context", context, "delete", "namespace", NAMESPACE, "--wait=false")
    print("devloop: passed\n" + "\n".join(f"  {f}" for f in figures), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DevLoopError as exc:
        print(f"devloop: FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
