"""Traces and the dashboard in the deploy artefacts: the chart's tracing values set the OTEL_*
variables on the service containers only, and the Grafana dashboard ships as a sidecar-labelled
ConfigMap; k8s/'s components for both are generated from the chart (test_kustomize checks they
are current)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.packaging

Objects = list[dict[str, Any]]
REPO = Path(__file__).resolve().parents[2]
SERVICE_CHARTS = ("user-service", "order-service")
NEW = "1.35.4"
DASHBOARD = REPO / "helm" / "dashboards" / "shop-services.json"
COLLECTOR = "http://otel-collector.observability:4318"


def deployment(objs: Objects, service: str) -> dict[str, Any]:
    (found,) = (
        o
        for o in objs
        if o["kind"] == "Deployment"
        and o["metadata"]["labels"]["app.kubernetes.io/name"] == service
    )
    return found


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def otel_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in env_of(container).items() if k.startswith("OTEL_")}


@pytest.mark.parametrize("service", SERVICE_CHARTS)
def test_default_render_sets_no_tracing_variables(
    rendered: dict[tuple[str, str], Objects], service: str
) -> None:
    pod = deployment(rendered[("shop-default", NEW)], service)["spec"]["template"]["spec"]
    for container in pod["containers"] + pod.get("initContainers", []):
        assert otel_env(container) == {}, container["name"]


@pytest.mark.parametrize("service", SERVICE_CHARTS)
def test_tracing_endpoint_sets_the_standard_variables_on_the_service_container_only(
    rendered: dict[tuple[str, str], Objects], service: str
) -> None:
    pod = deployment(rendered[("shop-observability", NEW)], service)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = otel_env(container)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == COLLECTOR
    assert env["OTEL_SERVICE_NAME"]["value"] == service
    attributes = dict(
        pair.split("=", 1) for pair in env["OTEL_RESOURCE_ATTRIBUTES"]["value"].split(",")
    )
    assert attributes["service.version"] == "0123456789ab"
    assert attributes["k8s.pod.name"] == "$(OTEL_K8S_POD_NAME)"
    names = list(env_of(container))
    # Kubernetes expands $(VAR) only from variables defined earlier in the list.
    assert names.index("OTEL_K8S_POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")
    for init in pod.get("initContainers", []):
        assert otel_env(init) == {}, f"{init['name']} (migrations are not traced)"


def test_sampler_and_resource_attributes_follow_the_service_values(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    objs = rendered[("shop-observability", NEW)]
    orders, users = (
        otel_env(deployment(objs, service)["spec"]["template"]["spec"]["containers"][0])
        for service in ("order-service", "user-service")
    )
    assert orders["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_always_on"
    assert "OTEL_TRACES_SAMPLER_ARG" not in orders
    assert users["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_traceidratio"
    assert users["OTEL_TRACES_SAMPLER_ARG"]["value"] == "1"
    # percent-encoded as OTEL_RESOURCE_ATTRIBUTES requires (the SDK url-decodes values)
    assert "deployment.environment.name=prod%20eu" in users["OTEL_RESOURCE_ATTRIBUTES"]["value"]


def policy_egress(objs: Objects, service: str) -> list[dict[str, Any]]:
    (policy,) = (
        o
        for o in objs
        if o["kind"] == "NetworkPolicy"
        and o["metadata"]["labels"]["app.kubernetes.io/name"] == service
    )
    rules: list[dict[str, Any]] = policy["spec"]["egress"]
    return rules


def test_network_policy_lets_traces_out_to_the_collector_port_only_when_tracing_is_on(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    def collector_rules(variant: str, service: str) -> list[dict[str, Any]]:
        return [
            rule
            for rule in policy_egress(rendered[(variant, NEW)], service)
            if rule.get("ports") == [{"port": 4318, "protocol": "TCP"}]
        ]

    (anywhere,) = collector_rules("shop-observability", "user-service")
    assert "to" not in anywhere
    (narrowed,) = collector_rules("shop-observability", "order-service")
    assert narrowed["to"] == [{"namespaceSelector": {"matchLabels": {"name": "obs"}}}]
    assert collector_rules("shop-network-policies", "user-service") == []


def test_dashboard_configmap_carries_the_sidecar_label_and_the_dashboard(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    assert not [o for o in rendered[("shop-default", NEW)] if o["kind"] == "ConfigMap"]
    (configmap,) = [o for o in rendered[("shop-observability", NEW)] if o["kind"] == "ConfigMap"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["shop-services.json"]) == json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def kustomize_with_components(kubectl: str) -> Iterator[Objects]:
    """The dev overlay with both observability components, as a user's overlay would add them."""
    folder = REPO / ".pytest-kustomize-observability"
    folder.mkdir(exist_ok=True)
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources: [../k8s/overlays/dev]\n"
        "components: [../k8s/components/tracing, ../k8s/components/grafana-dashboard]\n"
    )
    try:
        result = subprocess.run(
            [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        yield [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("service", SERVICE_CHARTS)
def test_k8s_tracing_component_sends_traces_to_the_collector_and_lets_them_out(
    kustomize_with_components: Objects,
    kube_validate: Callable[[dict[str, Any], str], list[str]],
    service: str,
) -> None:
    """The component (generated from the chart) sets the variables and opens the egress port."""
    plain = deployment(kustomize_with_components, service)
    env = otel_env(plain["spec"]["template"]["spec"]["containers"][0])
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == COLLECTOR
    assert env["OTEL_SERVICE_NAME"]["value"] == service
    (policy,) = [
        o
        for o in kustomize_with_components
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == service
    ]
    assert {"ports": [{"port": 4318, "protocol": "TCP"}]} in policy["spec"]["egress"]
    assert kube_validate(plain, "1.37.0") == []
    assert kube_validate(policy, "1.37.0") == []


def test_k8s_dashboard_component_renders_a_labelled_configmap(
    kustomize_with_components: Objects,
) -> None:
    (configmap,) = [o for o in kustomize_with_components if o["kind"] == "ConfigMap"]
    assert configmap["metadata"]["name"] == "shop-grafana-dashboard"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["shop-services.json"])["uid"] == "shop-services"


def test_dashboard_is_valid_json_with_unique_panel_ids() -> None:
    dashboard = json.loads(Path(DASHBOARD).read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "shop-services"


def test_e2e_receiver_service_is_valid_and_listens_where_the_suite_does(
    kube_validate: Callable[[dict[str, Any], str], list[str]],
) -> None:
    """The Service the in-cluster suite's pod receives traces through (tests-e2e/k8s)."""
    (service,) = yaml.safe_load_all((REPO / "tests-e2e/k8s/otlp-receiver-service.yaml").read_text())
    assert kube_validate(service, "1.37.0") == []
    assert service["spec"]["ports"][0]["targetPort"] == 4318
    assert service["spec"]["selector"]["app.kubernetes.io/name"] == "tests-e2e"
