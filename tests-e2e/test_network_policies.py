"""The charts' NetworkPolicies, on a cluster that enforces them: every path they allow works, and
every other one is refused.

From outside the release, with a kubeconfig that may create a namespace and pods (marker
``network_policies``: scripts/e2e-cluster.sh runs it with E2E_NETWORK_POLICIES=1 on kind; the
in-cluster Job deselects it). Probe pods are a sleeping container of user-service's image
(Python, already on the node): one with other labels in the release's namespace, one in another
namespace that carries order-service's very labels, and a Prometheus (``app.kubernetes.io/name:
prometheus``, another namespace). Connections are made with ``kubectl exec`` (the pods/exec API)
from those pods and from the release's own pods:

- into the release: only order-service reaches user-service, and each service only its own
  database; the probes reach no service and no database;
- out of the release's pods: DNS answers, order-service reaches user-service and its own
  database, and nothing else of the release;
- /metrics answers Prometheus (the e2e release has the ServiceMonitor on), nobody else.

Each refused target is also reached by an allowed pod in the same run, so a refusal is the
policy's, not a missing endpoint's. Refused means the connection is rejected or gets no answer
within CONNECT_TIMEOUT (enforcers either reject or drop).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from e2e_support.cluster import Cluster
from kubernetes import client

pytestmark = [pytest.mark.cluster, pytest.mark.network_policies]

USER_SERVICE = "user-service"
ORDER_SERVICE = "order-service"
CONNECT_TIMEOUT = 3
POD_READY_TIMEOUT = 120.0

# python -c PROBE TIMEOUT HOST PORT [PATH]: one line, "open", "refused", "timeout", "no-dns" or
# "error ..."; with PATH, an HTTP GET: "http <status>" when it answers.
PROBE = """
import socket, sys, urllib.request
timeout, host, port = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
try:
    addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][:2]
except OSError:
    sys.exit(print("no-dns"))
try:
    socket.create_connection(addr, timeout=timeout).close()
except ConnectionRefusedError:
    sys.exit(print("refused"))
except TimeoutError:
    sys.exit(print("timeout"))
except OSError as exc:
    sys.exit(print("error", exc))
if len(sys.argv) > 4:
    url = "http://" + host + ":" + str(port) + sys.argv[4]
    with urllib.request.urlopen(url, timeout=timeout) as response:
        sys.exit(print("http", response.status))
print("open")
"""
REFUSED = ("refused", "timeout")


@dataclass(frozen=True)
class From:
    """Where a connection starts: a container of a pod in a namespace."""

    namespace: str
    pod: str
    container: str


@dataclass(frozen=True)
class Release:
    """The release's Services (name, port), its service pods and their HTTP port."""

    services: dict[str, tuple[str, int]]
    pods: dict[str, Any]
    http_port: int

    def service_host(self, name: str, namespace: str) -> str:
        return f"{self.services[name][0]}.{namespace}.svc.cluster.local"


def connect(cluster: Cluster, origin: From, host: str, port: int, path: str = "") -> str:
    """The probe's answer for host:port (and path) from ``origin``."""
    script = f"python -c '{PROBE}' {CONNECT_TIMEOUT} {host} {port} {path}"
    return cluster.exec(
        origin.pod, origin.container, script, timeout=30, namespace=origin.namespace
    ).strip()


def answers_from(
    cluster: Cluster, release: Release, origin: From, targets: list[str]
) -> dict[str, str]:
    """The probe's answer for each of the release's Services from ``origin``."""
    return {
        target: connect(
            cluster,
            origin,
            release.service_host(target, cluster.namespace),
            release.services[target][1],
        )
        for target in targets
    }


@pytest.fixture(scope="module")
def cluster(target: Any) -> Cluster:
    """conftest's ``cluster``, for the whole module: the probes are started once."""
    if target.cluster is None:
        pytest.fail("the NetworkPolicy test needs a cluster (KUBECONFIG)", pytrace=False)
    found: Cluster = target.cluster
    return found


@pytest.fixture(scope="module")
def release(cluster: Cluster) -> Release:
    for service in (USER_SERVICE, ORDER_SERVICE):
        cluster.wait_rollout(service, settled=True)
    services = {name: cluster.http_service(name) for name in (USER_SERVICE, ORDER_SERVICE)}
    for name in (USER_SERVICE, ORDER_SERVICE):
        assert cluster.database_pod(name).status.phase == "Running"
        # the StatefulSet's headless Service: its name resolves to the database pod's address
        (svc,) = cluster.core.list_namespaced_service(
            cluster.namespace, label_selector=cluster.database_selector(name)
        ).items
        services[f"{name}-db"] = (svc.metadata.name, int(svc.spec.ports[0].port))
    pods = {name: running_pod(cluster, name) for name in (USER_SERVICE, ORDER_SERVICE)}
    container = pods[USER_SERVICE].spec.containers[-1]
    http_port = next(p.container_port for p in container.ports if p.name == "http")
    return Release(services=services, pods=pods, http_port=int(http_port))


def running_pod(cluster: Cluster, name: str) -> Any:
    pods = [p for p in cluster.pods(name) if not p.metadata.deletion_timestamp]
    assert pods, f"no running pod of {name}"
    return pods[0]


@pytest.fixture(scope="module")
def probes(cluster: Cluster, release: Release) -> Iterator[dict[str, From]]:
    """The probe pods: in the release's namespace with other labels, in another namespace with
    order-service's labels, and Prometheus in that other namespace. Deleted at the end."""
    image = release.pods[USER_SERVICE].spec.containers[-1].image
    other = f"{cluster.namespace}-np-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    order_labels = {
        "app.kubernetes.io/name": ORDER_SERVICE,
        "app.kubernetes.io/instance": cluster.release,
    }
    wanted = {
        "outsider": (cluster.namespace, {"app.kubernetes.io/name": "np-outsider"}),
        "impostor": (other, order_labels),
        "prometheus": (other, {"app.kubernetes.io/name": "prometheus"}),
    }
    try:
        for name, (namespace, labels) in wanted.items():
            cluster.core.create_namespaced_pod(namespace, probe_pod(f"np-{name}", labels, image))
        for name, (namespace, _) in wanted.items():
            wait_running(cluster, namespace, f"np-{name}")
        yield {name: From(ns, f"np-{name}", "probe") for name, (ns, _) in wanted.items()}
    finally:
        cluster.core.delete_namespaced_pod("np-outsider", cluster.namespace, grace_period_seconds=0)
        cluster.core.delete_namespace(other)


def probe_pod(name: str, labels: dict[str, str], image: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(
            restart_policy="Never",
            automount_service_account_token=False,
            termination_grace_period_seconds=0,
            security_context=client.V1PodSecurityContext(
                run_as_non_root=True,
                run_as_user=10001,
                run_as_group=10001,
                seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
            ),
            containers=[
                client.V1Container(
                    name="probe",
                    image=image,
                    image_pull_policy="IfNotPresent",
                    command=["sleep", "3600"],
                    security_context=client.V1SecurityContext(
                        allow_privilege_escalation=False,
                        read_only_root_filesystem=True,
                        capabilities=client.V1Capabilities(drop=["ALL"]),
                    ),
                    resources=client.V1ResourceRequirements(
                        requests={"cpu": "10m", "memory": "32Mi"},
                        limits={"cpu": "200m", "memory": "64Mi"},
                    ),
                )
            ],
        ),
    )


def wait_running(cluster: Cluster, namespace: str, name: str) -> None:
    deadline = time.monotonic() + POD_READY_TIMEOUT
    phase = None
    while time.monotonic() < deadline:
        phase = cluster.core.read_namespaced_pod(name, namespace).status.phase
        if phase == "Running":
            return
        time.sleep(1)
    raise AssertionError(f"probe pod {namespace}/{name} not running after 120 s ({phase})")


def own(release: Release, service: str) -> From:
    pod = release.pods[service]
    return From(pod.metadata.namespace, pod.metadata.name, service)


def test_outsiders_reach_no_service_and_no_database(
    cluster: Cluster, release: Release, probes: dict[str, From]
) -> None:
    for probe in ("outsider", "impostor"):
        answers = answers_from(cluster, release, probes[probe], list(release.services))
        let_in = {target: answer for target, answer in answers.items() if answer not in REFUSED}
        assert not let_in, f"{probes[probe]} reached {let_in}"


def test_order_service_reaches_user_service_and_its_own_database_only(
    cluster: Cluster, release: Release
) -> None:
    targets = [USER_SERVICE, f"{ORDER_SERVICE}-db", f"{USER_SERVICE}-db"]
    answers = answers_from(cluster, release, own(release, ORDER_SERVICE), targets)
    assert answers[USER_SERVICE] == "open", answers
    assert answers[f"{ORDER_SERVICE}-db"] == "open", answers
    assert answers[f"{USER_SERVICE}-db"] in REFUSED, answers


def test_user_service_reaches_its_own_database_only(cluster: Cluster, release: Release) -> None:
    targets = [f"{USER_SERVICE}-db", ORDER_SERVICE, f"{ORDER_SERVICE}-db"]
    answers = answers_from(cluster, release, own(release, USER_SERVICE), targets)
    assert answers[f"{USER_SERVICE}-db"] == "open", answers
    assert answers[ORDER_SERVICE] in REFUSED, answers
    assert answers[f"{ORDER_SERVICE}-db"] in REFUSED, answers


def test_dns_answers_in_every_pod_of_the_release(cluster: Cluster, release: Release) -> None:
    """A name outside the release resolves (the kube-dns path the policies allow); the address
    is not connected to (port 9: nothing listens, nothing is allowed)."""
    for service in (USER_SERVICE, ORDER_SERVICE):
        answer = connect(cluster, own(release, service), "kubernetes.default.svc.cluster.local", 9)
        assert answer != "no-dns", f"{service}: DNS does not answer"


def test_metrics_answer_prometheus_and_nobody_else(
    cluster: Cluster, release: Release, probes: dict[str, From]
) -> None:
    for service, pod in release.pods.items():
        ip = pod.status.pod_ip
        scrape = connect(cluster, probes["prometheus"], ip, release.http_port, "/metrics")
        assert scrape == "http 200", f"Prometheus scraping {service}: {scrape}"
        other = connect(cluster, probes["impostor"], ip, release.http_port, "/metrics")
        assert other in REFUSED, f"a pod of another namespace reached {service}: {other}"
