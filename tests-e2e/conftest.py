"""The black-box suite's configuration: where the deployment is, and what to keep when it fails.

Three ways to point the suite at a deployment (options win over environment variables):

- explicit base URLs: ``--user-url``/``E2E_USER_URL`` and ``--order-url``/``E2E_ORDER_URL``
  (local processes, or anything reachable); the cluster-only fault tests cannot run there and
  must be deselected with ``-m "not cluster"``;
- a cluster from outside: ``--kubeconfig``/``KUBECONFIG``, ``--namespace``/``E2E_NAMESPACE`` and
  ``--release``/``E2E_RELEASE``. The suite waits for both rollouts, then reaches the Services
  through ``kubectl port-forward`` on ephemeral 127.0.0.1 ports, which it stops at the end;
- inside the cluster: ``--in-cluster``/``E2E_IN_CLUSTER=1`` (the image tests-e2e/Dockerfile, run
  by skaffold's verify stage as a Job): the pod's ServiceAccount credentials, its own namespace
  unless ``--namespace`` is given, and the Services by name (``http://<service>:<port>``).

Neither given, or a cluster that does not answer: the run stops with a message, it never skips.

Traces (tests marked ``traces``): the run starts an OTLP/HTTP receiver at ``--otlp-listen``/
``E2E_OTLP_LISTEN`` (``HOST:PORT``) before the first test, and both services must export there
(their ``OTEL_EXPORTER_OTLP_ENDPOINT``): ``scripts/e2e-local.sh`` does it for local processes; in
a cluster the suite runs in a pod listening on ``0.0.0.0:4318`` behind a Service
(``tests-e2e/k8s/otlp-receiver-service.yaml``) that the release's ``global.tracing.otlpEndpoint``
names. Without a receiver those tests fail with that message
(deselect them with ``-m "not traces"``).
On a failed test in a cluster, pods, workloads, events and logs go to ``--artifacts``
(``.e2e-artifacts/`` by default).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_support.api import ServiceClient, Shop
from e2e_support.cluster import Cluster, ClusterError
from e2e_support.otlp import OtlpReceiver, parse_listen
from e2e_support.portforward import PortForward

USER_SERVICE = "user-service"
ORDER_SERVICE = "order-service"
REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("e2e", "end-to-end target")
    env = os.environ.get
    group.addoption("--user-url", default=env("E2E_USER_URL"), help="user-service base URL")
    group.addoption("--order-url", default=env("E2E_ORDER_URL"), help="order-service base URL")
    group.addoption(
        "--kubeconfig", default=env("KUBECONFIG"), help="kubeconfig of the cluster (KUBECONFIG)"
    )
    group.addoption(
        "--in-cluster", action="store_true", default=env("E2E_IN_CLUSTER", "") == "1",
        help="run inside the cluster: ServiceAccount credentials, Services by name",
    )  # fmt: skip
    group.addoption(
        "--namespace", default=env("E2E_NAMESPACE"),
        help="namespace (default: shop-e2e; in the cluster: the pod's own)",
    )  # fmt: skip
    group.addoption(
        "--release", default=env("E2E_RELEASE", "shop"), help="Helm release (skaffold.yaml: shop)"
    )
    group.addoption(
        "--rollout-timeout", type=float, default=float(env("E2E_ROLLOUT_TIMEOUT", "300")),
        help="seconds to wait for a Deployment rollout",
    )  # fmt: skip
    group.addoption(
        "--lookup-deadline", type=float, default=float(env("E2E_LOOKUP_DEADLINE", "4")),
        help="order-service's deadline for a user lookup (its USER_SERVICE_DEADLINE)",
    )  # fmt: skip
    group.addoption(
        "--artifacts", default=env("E2E_ARTIFACTS", str(REPO / ".e2e-artifacts")),
        help="folder for the dumps of failed tests",
    )  # fmt: skip
    group.addoption(
        "--kubectl", default=env("KUBECTL", "kubectl"), help="kubectl used for port-forwards"
    )
    group.addoption(
        "--otlp-listen", default=env("E2E_OTLP_LISTEN"),
        help="HOST:PORT of this run's OTLP/HTTP receiver, where both services export traces",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs the deployment in a cluster (faults); -m 'not cluster' to run "
        "against local processes",
    )  # fmt: skip
    config.addinivalue_line(
        "markers", "traces: needs both services exporting to this run's OTLP receiver "
        "(--otlp-listen); -m 'not traces' without one",
    )  # fmt: skip
    config.addinivalue_line(
        "markers", "hostile: the hostile-client suite (test_hostile.py, `make hostile`): floods "
        "local processes started with its settings; runs only when -m names it",
    )  # fmt: skip
    config.addinivalue_line(
        "markers", "network_policies: needs a cluster that enforces NetworkPolicies and, from "
        "outside it, rights to create a namespace and pods; the in-cluster Job deselects it",
    )  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The hostile suite floods the services it runs against: only when asked (-m hostile)."""
    if "hostile" in config.getoption("markexpr", ""):
        return
    hostile = [item for item in items if item.get_closest_marker("hostile")]
    if hostile:
        config.hook.pytest_deselected(items=hostile)
        items[:] = [item for item in items if not item.get_closest_marker("hostile")]


@dataclass
class Settings:
    user_url: str | None
    order_url: str | None
    kubeconfig: str | None
    in_cluster: bool
    namespace: str
    release: str
    rollout_timeout: float
    lookup_deadline: float
    artifacts: Path
    kubectl: str

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        opt = config.getoption
        in_cluster = bool(opt("in_cluster"))
        namespace = opt("namespace") or (_pod_namespace() if in_cluster else "shop-e2e")
        return cls(
            user_url=opt("user_url"),
            order_url=opt("order_url"),
            kubeconfig=opt("kubeconfig"),
            in_cluster=in_cluster,
            namespace=namespace,
            release=opt("release"),
            rollout_timeout=opt("rollout_timeout"),
            lookup_deadline=opt("lookup_deadline"),
            artifacts=Path(opt("artifacts")),
            kubectl=opt("kubectl"),
        )

    @property
    def explicit_urls(self) -> bool:
        return bool(self.user_url or self.order_url)


_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _pod_namespace() -> str:
    try:
        return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError as exc:
        raise pytest.UsageError(
            f"--in-cluster: cannot read the pod's namespace ({exc}); give --namespace"
        ) from exc


class Target:
    """Where the services answer: fixed URLs, Service names in the cluster, or port-forwards."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cluster: Cluster | None = None
        self.forwards: dict[str, PortForward] = {}
        self.service_urls: dict[str, str] = {}

    def url(self, service: str) -> str:
        if self.cluster is None:
            url = self.settings.user_url if service == USER_SERVICE else self.settings.order_url
            assert url is not None
            return url
        if service in self.service_urls:
            return self.service_urls[service]
        return self.forwards[service].url

    def ensure(self, *services: str) -> None:
        """Make sure the port-forwards answer (pods may have been replaced)."""
        for service in services or tuple(self.forwards):
            if service in self.forwards:
                self.forwards[service].ensure()

    def stop(self) -> None:
        for forward in self.forwards.values():
            forward.stop()


def _connect(settings: Settings) -> Target:
    target = Target(settings)
    if settings.explicit_urls:
        if not (settings.user_url and settings.order_url):
            pytest.exit("give both --user-url/E2E_USER_URL and --order-url/E2E_ORDER_URL", 4)
        return target
    if settings.in_cluster:
        return _connect_in_cluster(target)
    kubeconfig = settings.kubeconfig or str(Path.home() / ".kube" / "config")
    if not Path(kubeconfig.split(os.pathsep)[0]).is_file():
        pytest.exit(
            "no deployment to test: give the services' base URLs (E2E_USER_URL and "
            "E2E_ORDER_URL, or --user-url/--order-url) or a cluster (KUBECONFIG or --kubeconfig, "
            f"with --namespace/--release); kubeconfig {kubeconfig!r} does not exist",
            returncode=4,
        )
    if shutil.which(settings.kubectl) is None:
        pytest.exit(f"{settings.kubectl!r} not found on PATH (needed for port-forwards)", 4)
    cluster = Cluster(kubeconfig=kubeconfig, namespace=settings.namespace, release=settings.release)
    try:
        version = cluster.check_reachable()
    except ClusterError as exc:
        pytest.exit(f"the cluster in {kubeconfig} does not answer: {exc}", returncode=4)
    target.cluster = cluster
    print(f"\ne2e: cluster {version}, namespace {settings.namespace}, release {settings.release}")
    forward_logs = settings.artifacts / "port-forward"
    shutil.rmtree(forward_logs, ignore_errors=True)
    try:
        for service in (USER_SERVICE, ORDER_SERVICE):
            started = time.monotonic()
            cluster.wait_rollout(service, timeout=settings.rollout_timeout, settled=True)
            name, port = cluster.http_service(service)
            forward = PortForward(
                kubectl=settings.kubectl, kubeconfig=kubeconfig, namespace=settings.namespace,
                service=name, port=port, log_path=forward_logs / f"{service}.log",
            )  # fmt: skip
            target.forwards[service] = forward
            forward.ensure()
            print(f"e2e: {service} ready, svc/{name}:{port} -> {forward.url} "
                  f"({time.monotonic() - started:.1f}s)")  # fmt: skip
    except Exception:
        _dump(cluster, settings.artifacts / "session-setup")
        target.stop()
        raise
    return target


def _connect_in_cluster(target: Target) -> Target:
    settings = target.settings
    cluster = Cluster(
        kubeconfig=None, namespace=settings.namespace, release=settings.release, in_cluster=True
    )
    try:
        version = cluster.check_reachable()
    except ClusterError as exc:
        pytest.exit(f"the cluster's API does not answer from this pod: {exc}", returncode=4)
    target.cluster = cluster
    print(f"\ne2e: in the cluster {version}, namespace {settings.namespace}, "
          f"release {settings.release}")  # fmt: skip
    for service in (USER_SERVICE, ORDER_SERVICE):
        cluster.wait_rollout(service, timeout=settings.rollout_timeout, settled=True)
        name, port = cluster.http_service(service)
        target.service_urls[service] = f"http://{name}:{port}"
        print(f"e2e: {service} ready at {target.service_urls[service]}")
    return target


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Iterator[Target]:
    """The deployment under test; port-forwards are stopped when the session ends."""
    target = _connect(Settings.from_config(pytestconfig))
    pytestconfig.stash[_TARGET] = target
    try:
        yield target
    finally:
        target.stop()


@pytest.fixture
def shop(target: Target) -> Iterator[Shop]:
    """The services' API for one test, its port-forwards checked first."""
    target.ensure()
    users = ServiceClient(USER_SERVICE, lambda: target.url(USER_SERVICE))
    orders = ServiceClient(ORDER_SERVICE, lambda: target.url(ORDER_SERVICE))
    yield Shop(users, orders, run_id=uuid.uuid4().hex[:12])
    users.close()
    orders.close()


@pytest.fixture
def cluster(target: Target) -> Cluster:
    """The cluster behind the target; a fault test run against bare URLs fails, it never skips."""
    if target.cluster is None:
        pytest.fail(
            "this test disrupts pods and needs a cluster (KUBECONFIG); against local processes "
            "deselect it with -m 'not cluster'",
            pytrace=False,
        )
    return target.cluster


_RECEIVER = pytest.StashKey[OtlpReceiver]()


@pytest.fixture(scope="session", autouse=True)
def _otlp_receiver_for_the_session(pytestconfig: pytest.Config) -> Iterator[None]:
    """With --otlp-listen, the receiver runs from the first test on, so no export is refused."""
    listen = pytestconfig.getoption("otlp_listen")
    if not listen:
        yield
        return
    try:
        receiver = OtlpReceiver(*parse_listen(listen))
    except (OSError, ValueError) as exc:
        pytest.exit(f"cannot listen for traces on {listen!r}: {exc}", returncode=4)
    with receiver:
        print(f"\ne2e: OTLP/HTTP receiver on {receiver.endpoint}")
        pytestconfig.stash[_RECEIVER] = receiver
        yield


@pytest.fixture
def otlp_receiver(pytestconfig: pytest.Config) -> OtlpReceiver:
    """This run's receiver; a traces test without one fails, it never skips."""
    receiver = pytestconfig.stash.get(_RECEIVER, None)
    if receiver is None:
        pytest.fail(
            "no OTLP receiver: give --otlp-listen/E2E_OTLP_LISTEN (HOST:PORT) and point both "
            "services' OTEL_EXPORTER_OTLP_ENDPOINT at it, or deselect with -m 'not traces'",
            pytrace=False,
        )
    return receiver


_FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figures(pytestconfig: pytest.Config) -> list[str]:
    """Lines a measuring test reports: printed at the end of the run, passed or failed."""
    return pytestconfig.stash.setdefault(_FIGURES, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if lines := config.stash.get(_FIGURES, []):
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)


# --- artifacts of a failed test ------------------------------------------------------------------

_TARGET = pytest.StashKey[Target]()


def _dump(cluster: Cluster, folder: Path) -> None:
    try:
        problems = cluster.dump(folder)
    except Exception as exc:  # a broken dump must not replace the test's own failure
        problems = [f"dump failed: {type(exc).__name__}: {exc}"]
    if problems:
        (folder / "dump-problems.txt").write_text("\n".join(problems) + "\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed and report.when in ("setup", "call"):
        target = item.config.stash.get(_TARGET, None)
        if target is not None and target.cluster is not None:
            folder = target.settings.artifacts / re.sub(r"[^\w.-]+", "_", item.nodeid)
            _dump(target.cluster, folder)
            report.sections.append(("e2e artifacts", f"pods, events and logs in {folder}"))
    return report
