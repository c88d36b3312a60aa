"""Production policies every rendered object set must meet: each Helm variant for both
Kubernetes versions, and the kustomize overlay. One parametrized test per policy and render."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.packaging

Objects = list[dict[str, Any]]
PodSpecOf = Callable[[dict[str, Any]], dict[str, Any] | None]

STANDARD_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
}
SERVICES = {"user-service", "order-service"}


def is_hook(obj: dict[str, Any]) -> bool:
    return "helm.sh/hook" in obj["metadata"].get("annotations", {})


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def workloads(objs: Objects, pod_spec_of: PodSpecOf) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(o, s) for o in objs if (s := pod_spec_of(o)) is not None]


def name(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.fixture
def objs(render_key: str, request: pytest.FixtureRequest) -> Objects:
    """One render: ``render_key`` is parametrized by conftest over every variant, kustomize, the
    end-to-end Job and skaffold's own renders (those only with the skaffold binary)."""
    if render_key.startswith("skaffold-"):
        renders: dict[str, Objects] = request.getfixturevalue("skaffold_renders")
    else:
        renders = request.getfixturevalue("every_render")
    return renders[render_key]


def test_every_object_has_the_standard_labels(objs: Objects) -> None:
    missing = {name(o): STANDARD_LABELS - set(o["metadata"].get("labels", {})) for o in objs}
    assert not {k: v for k, v in missing.items() if v}


LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def test_every_label_value_is_one_the_api_server_accepts(objs: Objects) -> None:
    """At most 63 characters, alphanumeric at both ends (an image id tag is 64)."""
    bad = [
        f"{name(o)}: {key}={value!r}"
        for o in objs
        for meta in (o["metadata"], o.get("spec", {}).get("template", {}).get("metadata", {}))
        for key, value in (meta.get("labels") or {}).items()
        if len(str(value)) > 63 or not LABEL_VALUE.match(str(value))
    ]
    assert not bad


def test_every_container_has_requests_and_limits(objs: Objects, pod_spec_of: PodSpecOf) -> None:
    bad = [
        f"{name(o)}:{c['name']}"
        for o, spec in workloads(objs, pod_spec_of)
        for c in containers(spec)
        if not {"cpu", "memory"} <= set(c.get("resources", {}).get("requests", {}))
        or not {"cpu", "memory"} <= set(c.get("resources", {}).get("limits", {}))
    ]
    assert not bad


def test_every_serving_container_has_startup_readiness_and_liveness_probes(
    objs: Objects, pod_spec_of: PodSpecOf
) -> None:
    bad = [
        f"{name(o)}:{c['name']}"
        for o, spec in workloads(objs, pod_spec_of)
        if o["kind"] in {"Deployment", "StatefulSet"}
        for c in spec["containers"]
        if not {"startupProbe", "readinessProbe", "livenessProbe"} <= set(c)
    ]
    assert not bad


def api_clients(objs: Objects) -> set[str]:
    """ServiceAccounts the same render binds to a Role: the pods that talk to the API by design
    (the end-to-end Job); every other pod runs without a token."""
    return {
        subject["name"]
        for o in objs
        if o["kind"] == "RoleBinding"
        for subject in o.get("subjects", [])
        if subject["kind"] == "ServiceAccount"
    }


def test_every_container_is_hardened(objs: Objects, pod_spec_of: PodSpecOf) -> None:
    bad = []
    clients = api_clients(objs)
    for o, spec in workloads(objs, pod_spec_of):
        pod_sc = spec.get("securityContext", {})
        needs_token = spec.get("serviceAccountName") in clients
        if spec.get("automountServiceAccountToken") is not needs_token:
            bad.append(f"{name(o)}: service account token mounted: {not needs_token}")
        for c in containers(spec):
            sc = {**pod_sc, **c.get("securityContext", {})}
            where = f"{name(o)}:{c['name']}"
            if sc.get("runAsNonRoot") is not True or not sc.get("runAsUser"):
                bad.append(f"{where}: may run as root")
            if c.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
                bad.append(f"{where}: allowPrivilegeEscalation")
            if c.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
                bad.append(f"{where}: writable root filesystem")
            if c.get("securityContext", {}).get("capabilities", {}).get("drop") != ["ALL"]:
                bad.append(f"{where}: capabilities not all dropped")
            if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                bad.append(f"{where}: no RuntimeDefault seccomp profile")
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            if "/tmp" not in mounts:  # noqa: S108  (the writable emptyDir, not a temp file)
                bad.append(f"{where}: no writable /tmp")
    assert not bad


def test_images_are_pinned_and_never_pulled_for_nothing(
    objs: Objects, pod_spec_of: PodSpecOf
) -> None:
    bad = []
    for o, spec in workloads(objs, pod_spec_of):
        for c in containers(spec):
            image = c["image"]
            tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
            if tag in {"", "latest"}:
                bad.append(f"{name(o)}:{c['name']}: {image}")
            if c.get("imagePullPolicy") != "IfNotPresent":
                bad.append(f"{name(o)}:{c['name']}: pull policy {c.get('imagePullPolicy')}")
    assert not bad


def test_selectors_match_their_pods(objs: Objects, pod_spec_of: PodSpecOf) -> None:
    pods = {
        name(o): o["spec"]["template"]["metadata"]["labels"]
        for o in objs
        if o["kind"] in {"Deployment", "StatefulSet", "Job"}
    }
    for o in objs:
        if o["kind"] in {"Deployment", "StatefulSet"}:  # a Job's selector is generated
            selector = o["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pods[name(o)].items(), name(o)
    for svc in (o for o in objs if o["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pods.values()), name(svc)
    # a helm test pod must never be an endpoint of a Service
    for pod in (o for o in objs if o["kind"] == "Pod"):
        for svc in (o for o in objs if o["kind"] == "Service"):
            assert not svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()


def test_services_shut_down_gracefully_and_roll_without_losing_capacity(
    objs: Objects,
) -> None:
    for o in objs:
        if o["kind"] != "Deployment":
            continue
        spec = o["spec"]["template"]["spec"]
        app = spec["containers"][0]
        sleep = int(app["lifecycle"]["preStop"]["exec"]["command"][-1])
        prefix = o["metadata"]["labels"]["app.kubernetes.io/name"].upper().replace("-", "_")
        shutdown = float(
            next(e["value"] for e in app["env"] if e["name"] == f"{prefix}_SHUTDOWN_TIMEOUT")
        )
        assert spec["terminationGracePeriodSeconds"] > sleep + shutdown, name(o)
        assert o["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name(o)
        assert spec["enableServiceLinks"] is False, name(o)


def test_e2e_finds_each_service_by_its_labels_and_http_port(objs: Objects) -> None:
    """tests-e2e looks up app.kubernetes.io/name + instance and the Service port named http."""
    names = {o["metadata"]["labels"]["app.kubernetes.io/name"] for o in objs}
    for service in SERVICES & names:
        for kind in ("Deployment", "Service"):
            found = [
                o
                for o in objs
                if o["kind"] == kind
                and o["metadata"]["labels"]["app.kubernetes.io/name"] == service
                and o["metadata"]["labels"]["app.kubernetes.io/instance"] == "shop"
            ]
            assert len(found) == 1, f"{kind} of {service}"
        svc = next(
            o
            for o in objs
            if o["kind"] == "Service"
            and o["metadata"]["labels"]["app.kubernetes.io/name"] == service
        )
        assert [p["name"] for p in svc["spec"]["ports"]] == ["http"]
