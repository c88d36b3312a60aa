"""The deployment seen through the Kubernetes API: find the release's objects, wait for rollouts,
scale and restart Deployments, and dump what a reader of a red run needs.

Objects are found by the standard labels the charts set: ``app.kubernetes.io/name`` (the
service) and ``app.kubernetes.io/instance`` (the Helm release).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class PodIdentity:
    """What changes when a pod is replaced or a container restarts."""

    name: str
    uid: str
    restarts: tuple[int, ...]


class Cluster:
    def __init__(
        self, *, kubeconfig: str | None, namespace: str, release: str, in_cluster: bool = False
    ) -> None:
        self.namespace = namespace
        self.release = release
        # The client's generated models are typed loosely (optional everywhere); Any keeps the
        # code readable, and the API answers are checked by the tests that use them.
        if in_cluster:
            configuration = client.Configuration()
            load_incluster: Callable[..., None] = config.load_incluster_config
            load_incluster(client_configuration=configuration)
            self.api_client: Any = client.ApiClient(configuration)
        else:
            new_client: Callable[..., Any] = config.new_client_from_config
            self.api_client = new_client(config_file=kubeconfig)
        self.core: Any = client.CoreV1Api(self.api_client)
        self.apps: Any = client.AppsV1Api(self.api_client)

    def check_reachable(self) -> str:
        """The server's version; raises ClusterError with the reason when it does not answer."""
        try:
            info = client.VersionApi(self.api_client).get_code(_request_timeout=10)
        except Exception as exc:  # any transport or auth failure means the same to the user
            raise ClusterError(f"{type(exc).__name__}: {exc}") from exc
        return str(info.git_version)

    def selector(self, name: str) -> str:
        return f"app.kubernetes.io/name={name},app.kubernetes.io/instance={self.release}"

    def deployment(self, name: str) -> Any:
        found = self.apps.list_namespaced_deployment(
            self.namespace, label_selector=self.selector(name)
        ).items
        if len(found) != 1:
            raise ClusterError(
                f"expected one Deployment labelled {self.selector(name)} in namespace "
                f"{self.namespace}, found {[d.metadata.name for d in found]}"
            )
        return found[0]

    def http_service(self, name: str) -> tuple[str, int]:
        """The Service of ``name`` with a port named ``http``: (service name, port)."""
        services = self.core.list_namespaced_service(
            self.namespace, label_selector=self.selector(name)
        ).items
        for svc in services:
            if svc.spec.cluster_ip in (None, "None"):
                continue
            for port in svc.spec.ports or []:
                if port.name == "http":
                    return svc.metadata.name, int(port.port)
        raise ClusterError(
            f"no Service labelled {self.selector(name)} with a port named 'http' in namespace "
            f"{self.namespace} (found {[s.metadata.name for s in services]})"
        )

    def rollout_state(self, name: str, *, settled: bool = False) -> tuple[bool, str]:
        """Like ``kubectl rollout status``: done when the newest spec is observed, every replica
        is updated and available, and no old replica is left; ``settled`` also waits for old
        pods to finish terminating. Also a line saying where it is."""
        dep = self.deployment(name)
        want = dep.spec.replicas if dep.spec.replicas is not None else 1
        st = dep.status
        state = (
            f"generation {dep.metadata.generation}/{st.observed_generation}, "
            f"replicas {st.replicas or 0}, updated {st.updated_replicas or 0}, "
            f"available {st.available_replicas or 0}, wanted {want}"
        )
        done = (
            (st.observed_generation or 0) >= dep.metadata.generation
            and (st.updated_replicas or 0) == want
            and (st.replicas or 0) == want
            and (st.available_replicas or 0) == want
        )
        if done and (settled or want == 0):
            terminating = [
                p.metadata.name for p in self.pods(name) if p.metadata.deletion_timestamp
            ]
            done = not terminating and (want > 0 or not self.pods(name))
            state += f", terminating {terminating}"
        return done, state

    def wait_rollout(self, name: str, timeout: float = 300.0, *, settled: bool = False) -> None:
        deadline = time.monotonic() + timeout
        while True:
            done, state = self.rollout_state(name, settled=settled)
            if done:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"rollout of {name} not done after {timeout:.0f}s: {state}")
            time.sleep(1.0)

    def pods(self, name: str) -> list[Any]:
        items: list[Any] = self.core.list_namespaced_pod(
            self.namespace, label_selector=self.selector(name)
        ).items
        return items

    def pod_identities(self, name: str) -> set[PodIdentity]:
        """The pods that serve (or will): terminating ones are left out."""
        return {
            PodIdentity(
                name=pod.metadata.name,
                uid=pod.metadata.uid,
                restarts=tuple(cs.restart_count for cs in pod.status.container_statuses or []),
            )
            for pod in self.pods(name)
            if not pod.metadata.deletion_timestamp
        }

    def replicas(self, name: str) -> int:
        replicas = self.deployment(name).spec.replicas
        return 1 if replicas is None else int(replicas)

    def scale(self, name: str, replicas: int) -> None:
        dep = self.deployment(name)
        self.apps.patch_namespaced_deployment_scale(
            dep.metadata.name, self.namespace, {"spec": {"replicas": replicas}}
        )

    def rollout_restart(self, name: str) -> None:
        """What ``kubectl rollout restart`` does: a new pod-template annotation."""
        dep = self.deployment(name)
        now = dt.datetime.now(dt.UTC).isoformat()
        annotations = {"kubectl.kubernetes.io/restartedAt": now}
        patch = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
        self.apps.patch_namespaced_deployment(dep.metadata.name, self.namespace, patch)

    # --- PostgreSQL: the bundled database of a service (a StatefulSet of one pod) -------------

    def database_selector(self, service: str) -> str:
        """The labels of a service's bundled PostgreSQL (the charts' nameOverride:
        user-postgresql, order-postgresql)."""
        return self.selector(service.replace("-service", "-postgresql"))

    def database_pod(self, service: str) -> Any:
        """The running pod of a service's bundled PostgreSQL."""
        pods = [
            p
            for p in self.core.list_namespaced_pod(
                self.namespace, label_selector=self.database_selector(service)
            ).items
            if not p.metadata.deletion_timestamp
        ]
        if len(pods) != 1:
            raise ClusterError(
                f"expected one PostgreSQL pod labelled {self.database_selector(service)}, "
                f"found {[p.metadata.name for p in pods]}"
            )
        return pods[0]

    def delete_pod_now(self, name: str) -> None:
        """Delete a pod with no grace period: its processes are killed, as on a lost node."""
        self.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)

    def wait_database_ready(self, service: str, *, replacing: str, timeout: float) -> float:
        """Wait until a PostgreSQL pod other than ``replacing`` (a uid) is Ready; seconds taken."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            pods = self.core.list_namespaced_pod(
                self.namespace, label_selector=self.database_selector(service)
            ).items
            for pod in pods:
                ready = any(
                    c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
                )
                if pod.metadata.uid != replacing and ready and not pod.metadata.deletion_timestamp:
                    return time.monotonic() - started
            time.sleep(0.5)
        raise ClusterError(f"no new Ready PostgreSQL pod for {service} after {timeout:.0f}s")

    def exec(
        self, pod: str, container: str, script: str, timeout: float = 30.0,
        namespace: str | None = None,
    ) -> str:  # fmt: skip
        """Run ``sh -c script`` in a container (``kubectl exec``: the pods/exec subresource) of
        a pod in ``namespace`` (default: the release's); its output, or ClusterError with it
        when the script fails."""
        run: Callable[..., Any] = stream
        resp = run(
            self.core.connect_get_namespaced_pod_exec, pod, namespace or self.namespace,
            container=container, command=["sh", "-c", script],
            stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False,
        )  # fmt: skip
        output: list[str] = []
        deadline = time.monotonic() + timeout
        while resp.is_open() and time.monotonic() < deadline:
            resp.update(timeout=1)
            if resp.peek_stdout():
                output.append(resp.read_stdout())
            if resp.peek_stderr():
                output.append(resp.read_stderr())
        resp.close()
        text = "".join(output)
        if resp.returncode != 0:
            raise ClusterError(f"exec in {pod}/{container} failed ({resp.returncode}): {text}")
        return text

    # --- artifacts for a red run -------------------------------------------------------------

    def dump(self, folder: Path) -> list[str]:
        """Write pods, workloads, services, events (YAML) and every container's log to
        ``folder``; returns what could not be fetched, so a dump never hides the failure."""
        folder.mkdir(parents=True, exist_ok=True)
        problems: list[str] = []
        ns = self.namespace
        listings: dict[str, Callable[[], Any]] = {
            "pods": lambda: self.core.list_namespaced_pod(ns),
            "deployments": lambda: self.apps.list_namespaced_deployment(ns),
            "replicasets": lambda: self.apps.list_namespaced_replica_set(ns),
            "statefulsets": lambda: self.apps.list_namespaced_stateful_set(ns),
            "services": lambda: self.core.list_namespaced_service(ns),
            "endpoints": lambda: self.core.list_namespaced_endpoints(ns),
            "events": lambda: self.core.list_namespaced_event(ns),
            "pvcs": lambda: self.core.list_namespaced_persistent_volume_claim(ns),
        }
        pods: list[Any] = []
        for kind, fetch in listings.items():
            try:
                items = fetch().items
            except ApiException as exc:
                problems.append(f"{kind}: {exc.status} {exc.reason}")
                continue
            if kind == "pods":
                pods = items
            if kind == "events":
                items = sorted(items, key=_event_time)
                _write_events_table(folder / "events.txt", items)
            data = [self.api_client.sanitize_for_serialization(item) for item in items]
            (folder / f"{kind}.yaml").write_text(yaml.safe_dump_all(data, sort_keys=False))
        logs = folder / "logs"
        logs.mkdir(exist_ok=True)
        for pod in pods:
            for container, previous in _containers(pod):
                suffix = ".previous" if previous else ""
                path = logs / f"{pod.metadata.name}.{container}{suffix}.log"
                try:
                    text = self.core.read_namespaced_pod_log(
                        pod.metadata.name, ns, container=container, previous=previous,
                        timestamps=True, _request_timeout=20,
                    )  # fmt: skip
                except ApiException as exc:
                    text = f"(no log: {exc.status} {exc.reason})\n"
                path.write_text(text)
        return problems


def _containers(pod: Any) -> Iterable[tuple[str, bool]]:
    statuses = {cs.name: cs for cs in (pod.status.container_statuses or [])}
    statuses |= {cs.name: cs for cs in (pod.status.init_container_statuses or [])}
    for container in (pod.spec.init_containers or []) + pod.spec.containers:
        yield container.name, False
        status = statuses.get(container.name)
        if status is not None and status.restart_count:
            yield container.name, True


def _event_time(event: Any) -> dt.datetime:
    stamp = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
    return stamp or dt.datetime.min.replace(tzinfo=dt.UTC)


def _write_events_table(path: Path, events: list[Any]) -> None:
    lines = [
        f"{_event_time(e).isoformat()}  {e.type:<8} {e.reason:<24} "
        f"{e.involved_object.kind}/{e.involved_object.name}: {e.message}"
        for e in events
    ]
    path.write_text("\n".join(lines) + "\n")
