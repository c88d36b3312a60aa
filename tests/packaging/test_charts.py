"""Helm charts: lint, render every variant for both ends of the Kubernetes range the charts claim
(kubeVersion), and check the rendered objects against that version's schemas
(kubernetes-validate --strict). The newest end also runs on kind in CI; the oldest is proven only
here, offline.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

Objects = list[dict[str, Any]]
Template = Callable[..., subprocess.CompletedProcess[str]]

CHARTS = ("postgresql", "user-service", "order-service", "shop")
OLD, NEW = "1.25.0", "1.35.4"  # conftest.KUBE_OLD, KUBE_NEW
KUBE_VERSION_RANGE = ">=1.25.0-0"
DB_PASSWORDS = {  # conftest.DB_PASSWORDS (conftest modules are not importable)
    "postgresql": ("auth.password=lint",),
    "user-service": ("postgresql.auth.password=lint",),
    "order-service": ("postgresql.auth.password=lint",),
    "shop": tuple(f"{s}.postgresql.auth.password=lint" for s in ("user-service", "order-service")),
}

pytestmark = pytest.mark.packaging


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_passes_helm_lint_strict(
    helm: str, chart_dir: Callable[[str], Path], chart: str
) -> None:
    # helm lint renders without a cluster: like `helm template`, it needs the database password
    values = ("global.imageTag=abc123", *DB_PASSWORDS[chart])
    sets = [arg for value in values for arg in ("--set", value)]
    result = subprocess.run(
        [helm, "lint", "--strict", str(chart_dir(chart)), *sets],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_render_is_valid_kubernetes(
    rendered: dict[tuple[str, str], Objects],
    kube_validate: Callable[[dict[str, Any], str], list[str]],
    validation_case: tuple[str, str, str],
) -> None:
    """Every variant (conftest's VARIANTS), for each (Kubernetes, schema) pair in VALIDATIONS."""
    variant, kube, schema = validation_case
    errors: list[str] = []
    for obj in rendered[(variant, kube)]:
        errors += kube_validate(obj, schema)
    assert not errors, "\n".join(errors)


def api_versions(objs: Objects) -> dict[str, str]:
    return {o["kind"]: o["apiVersion"] for o in objs}


@pytest.mark.parametrize("chart", CHARTS)
def test_every_chart_claims_the_same_kubernetes_range(
    chart_dir: Callable[[str], Path], chart: str
) -> None:
    meta = yaml.safe_load((chart_dir(chart) / "Chart.yaml").read_text())
    assert meta["kubeVersion"] == KUBE_VERSION_RANGE


def test_kubernetes_older_than_the_range_is_refused(helm_template: Template) -> None:
    result = helm_template("shop", ("global.imageTag=abc123",), "1.24.17")
    assert result.returncode != 0
    assert "kubeVersion" in result.stderr


def test_every_version_in_the_range_gets_the_ga_apis(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    for kube in (OLD, NEW):
        assert api_versions(rendered[("shop-pdb", kube)])["PodDisruptionBudget"] == "policy/v1"
        hpa = api_versions(rendered[("shop-autoscaling", kube)])["HorizontalPodAutoscaler"]
        assert hpa == "autoscaling/v2"


def test_service_monitor_is_rendered_only_when_its_crd_exists(
    helm_template: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    sets = ("global.imageTag=abc123", "user-service.serviceMonitor.enabled=true")
    without = helm_template("shop", sets)
    with_crd = helm_template("shop", sets, extra=("--api-versions", "monitoring.coreos.com/v1"))
    assert without.returncode == 0, without.stderr
    assert with_crd.returncode == 0, with_crd.stderr
    assert "kind: ServiceMonitor" not in without.stdout
    assert with_crd.stdout.count("kind: ServiceMonitor") == 1


def by_kind(objs: Objects, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["labels"]["app.kubernetes.io/name"]: o for o in objs if o["kind"] == kind}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_umbrella_wires_order_service_to_user_service_of_the_same_release(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    objs = rendered[("shop-default", NEW)]
    user_service = by_kind(objs, "Service")["user-service"]
    order = by_kind(objs, "Deployment")["order-service"]["spec"]["template"]["spec"]
    url = env_of(order["containers"][0])["ORDER_SERVICE_USER_SERVICE_URL"]
    port = user_service["spec"]["ports"][0]["port"]
    assert url == f"http://{user_service['metadata']['name']}:{port}"


@pytest.mark.parametrize("service", ["user-service", "order-service"])
def test_each_service_uses_its_own_bundled_database(
    rendered: dict[tuple[str, str], Objects], service: str
) -> None:
    objs = rendered[("shop-default", NEW)]
    prefix = service.upper().replace("-", "_") + "_"
    db_name = service.split("-")[0] + "-postgresql"
    db_service = by_kind(objs, "Service")[db_name]["metadata"]["name"]
    db_secret = by_kind(objs, "Secret")[db_name]["metadata"]["name"]
    spec = by_kind(objs, "Deployment")[service]["spec"]["template"]["spec"]
    env = env_of(spec["containers"][0])
    assert f"@{db_service}:5432/" in env[f"{prefix}DATABASE_URL"]
    assert env["DATABASE_PASSWORD"]["secretKeyRef"]["name"] == db_secret


def test_external_database_variant_deploys_no_postgresql(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    objs = rendered[("shop-external-database", NEW)]
    assert not [o for o in objs if o["kind"] == "StatefulSet"]
    deployments = by_kind(objs, "Deployment")
    user_env = env_of(deployments["user-service"]["spec"]["template"]["spec"]["containers"][0])
    assert user_env["USER_SERVICE_DATABASE_URL"] == {
        "secretKeyRef": {"name": "user-db", "key": "url"}
    }
    order_env = env_of(deployments["order-service"]["spec"]["template"]["spec"]["containers"][0])
    secret_name = order_env["ORDER_SERVICE_DATABASE_URL"]["secretKeyRef"]["name"]
    assert secret_name in {o["metadata"]["name"] for o in objs if o["kind"] == "Secret"}


def test_network_policies_deny_by_default_and_allow_only_the_call_paths(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    policies = by_kind(rendered[("shop-network-policies", NEW)], "NetworkPolicy")
    assert set(policies) == {"user-service", "order-service", "user-postgresql", "order-postgresql"}
    for policy in policies.values():
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]

    def peers(policy: dict[str, Any], direction: str) -> list[str]:
        key = "from" if direction == "ingress" else "to"
        return [
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in policy["spec"][direction]
            for peer in rule.get(key, [])
            if "podSelector" in peer
        ]

    assert "order-service" in peers(policies["user-service"], "ingress")
    assert "user-service" in peers(policies["order-service"], "egress")
    assert "order-service" not in peers(policies["order-service"], "ingress")
    assert peers(policies["user-postgresql"], "ingress") == ["user-service"]
    assert peers(policies["order-postgresql"], "ingress") == ["order-service"]
    assert policies["user-postgresql"]["spec"]["egress"] == []
    for name in ("user-service", "order-service"):
        dns = [
            r
            for r in policies[name]["spec"]["egress"]
            if {"port": 53, "protocol": "UDP"} in r.get("ports", [])
        ]
        assert dns, f"{name} may not resolve names"


def test_autoscaling_replaces_the_fixed_replica_count(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    objs = rendered[("shop-autoscaling", NEW)]
    assert set(by_kind(objs, "HorizontalPodAutoscaler")) == {"user-service", "order-service"}
    for deployment in by_kind(objs, "Deployment").values():
        assert "replicas" not in deployment["spec"]


@pytest.mark.parametrize("service", ["user-service", "order-service"])
def test_helm_test_pod_checks_the_service_answers(
    rendered: dict[tuple[str, str], Objects], service: str
) -> None:
    objs = rendered[("shop-default", NEW)]
    svc = by_kind(objs, "Service")[service]["metadata"]["name"]
    pod = by_kind(objs, "Pod")[f"{service}-test"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert f"http://{svc}:80/health/ready" in pod["spec"]["containers"][0]["command"]


@pytest.mark.parametrize("service", ["user-service", "order-service"])
def test_migrations_run_before_the_server_with_the_same_image(
    rendered: dict[tuple[str, str], Objects], service: str
) -> None:
    spec = by_kind(rendered[("shop-default", NEW)], "Deployment")[service]["spec"]["template"][
        "spec"
    ]
    init = {c["name"]: c for c in spec["initContainers"]}
    assert list(init) == ["wait-for-database", "migrate"]
    assert init["migrate"]["command"] == [service, "migrate"]
    assert init["migrate"]["image"] == spec["containers"][0]["image"]


@pytest.mark.parametrize("service", ["user-service", "order-service"])
def test_pods_wait_for_the_database_with_the_services_own_command(
    rendered: dict[tuple[str, str], Objects], service: str
) -> None:
    """The service's `wait-for-db` (its settings' URL handling, its engine), not a script."""
    spec = by_kind(rendered[("shop-default", NEW)], "Deployment")[service]["spec"]["template"]
    init = spec["spec"]["initContainers"][0]
    assert init["command"] == [service, "wait-for-db", "--timeout", "180"]
    assert init["image"] == spec["spec"]["containers"][0]["image"]
