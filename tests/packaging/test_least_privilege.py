"""Least privilege in what the charts and the plain manifests deploy: NetworkPolicies on by
default with only the call paths open, each service serving as a DML-only database role while its
migrations run as the owner, and the token signing keys mounted into the server alone."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.packaging

Objects = list[dict[str, Any]]
NEW = "1.35.4"
DEFAULT_RENDERS = [("shop-default", NEW), ("shop-default", "1.25.0"), ("kustomize-dev", "")]


def by_name(objs: Objects, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["labels"]["app.kubernetes.io/name"]: o for o in objs if o["kind"] == kind}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def peers(policy: dict[str, Any], direction: str) -> list[str]:
    key = "from" if direction == "ingress" else "to"
    return [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for rule in policy["spec"][direction]
        for peer in rule.get(key, [])
        if "podSelector" in peer and "namespaceSelector" not in peer
    ]


@pytest.fixture
def renders(
    rendered: dict[tuple[str, str], Objects], kustomize_objects: Objects
) -> dict[tuple[str, str], Objects]:
    return {**rendered, ("kustomize-dev", ""): kustomize_objects}


@pytest.mark.parametrize("render", DEFAULT_RENDERS, ids=lambda r: "@".join(filter(None, r)))
def test_network_policies_are_on_by_default_and_open_only_the_call_paths(
    renders: dict[tuple[str, str], Objects], render: tuple[str, str]
) -> None:
    policies = by_name(renders[render], "NetworkPolicy")
    assert set(policies) == {"user-service", "order-service", "user-postgresql", "order-postgresql"}
    for policy in policies.values():
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), "a rule without peers admits every source"
    assert "order-service" in peers(policies["user-service"], "ingress")
    assert set(peers(policies["user-service"], "egress")) == {"user-postgresql"}
    assert set(peers(policies["order-service"], "egress")) == {"order-postgresql", "user-service"}
    assert "user-service" not in peers(policies["order-service"], "ingress")
    assert peers(policies["user-postgresql"], "ingress") == ["user-service"]
    assert peers(policies["order-postgresql"], "ingress") == ["order-service"]
    assert policies["order-postgresql"]["spec"]["egress"] == []


def test_helm_test_pod_of_order_service_may_reach_user_service(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    """order-service's `helm test` asks user-service too: its pod label must be admitted."""
    objs = rendered[("shop-default", NEW)]
    tests = [o for o in objs if o["kind"] == "Pod"]
    order_test = next(o for o in tests if "order-service" in o["metadata"]["name"])
    label = order_test["metadata"]["labels"]["app.kubernetes.io/name"]
    assert label in peers(by_name(objs, "NetworkPolicy")["user-service"], "ingress")


def test_database_egress_follows_the_database_port(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    objs = rendered[("shop-secured-options", NEW)]
    egress = by_name(objs, "NetworkPolicy")["user-service"]["spec"]["egress"]
    to_db = [r for r in egress if "user-postgresql" in str(r.get("to"))]
    assert [p["port"] for r in to_db for p in r["ports"]] == [6543]
    container = by_name(objs, "Deployment")["user-service"]["spec"]["template"]["spec"]
    assert ":6543/" in env_of(container["containers"][0])["USER_SERVICE_DATABASE_URL"]


def test_prometheus_may_scrape_only_when_the_service_monitor_is_on(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    def scrapers(objs: Objects) -> list[Any]:
        ingress = by_name(objs, "NetworkPolicy")["user-service"]["spec"]["ingress"]
        return [peer for rule in ingress for peer in rule["from"] if "namespaceSelector" in peer]

    assert scrapers(rendered[("shop-default", NEW)]) == []
    assert scrapers(rendered[("shop-secured-options", NEW)]) == [
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]


@pytest.mark.parametrize("render", DEFAULT_RENDERS, ids=lambda r: "@".join(filter(None, r)))
@pytest.mark.parametrize("service", ["user-service", "order-service"])
def test_migrations_run_as_the_owner_and_the_server_as_the_dml_role(
    renders: dict[tuple[str, str], Objects], render: tuple[str, str], service: str
) -> None:
    objs = renders[render]
    spec = by_name(objs, "Deployment")[service]["spec"]["template"]["spec"]
    prefix = service.upper().replace("-", "_") + "_"
    role = service.replace("-", "_")
    migrate = env_of(next(c for c in spec["initContainers"] if c["name"] == "migrate"))
    server = env_of(spec["containers"][0])
    assert migrate[f"{prefix}DATABASE_URL"].startswith(f"postgresql://{role}_owner:")
    assert migrate[f"{prefix}DB_APP_ROLE"] == role
    assert server[f"{prefix}DATABASE_URL"].startswith(f"postgresql://{role}:")
    assert f"{prefix}DB_APP_ROLE" not in server
    assert server["DATABASE_PASSWORD"]["secretKeyRef"]["key"] == "app-password"
    assert migrate["DATABASE_PASSWORD"]["secretKeyRef"]["key"] == "password"
    database = by_name(objs, "StatefulSet")[service.replace("-service", "-postgresql")]
    db_env = env_of(database["spec"]["template"]["spec"]["containers"][0])
    assert (db_env["POSTGRES_USER"], db_env["POSTGRES_APP_USER"]) == (f"{role}_owner", role)


@pytest.mark.parametrize("render", DEFAULT_RENDERS, ids=lambda r: "@".join(filter(None, r)))
def test_signing_keys_are_a_secret_mounted_read_only_into_the_server_alone(
    renders: dict[tuple[str, str], Objects], render: tuple[str, str]
) -> None:
    objs = renders[render]
    spec = by_name(objs, "Deployment")["user-service"]["spec"]["template"]["spec"]
    [volume] = [v for v in spec["volumes"] if v["name"] == "signing-keys"]
    secrets = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Secret"}
    assert volume["secret"]["secretName"] in secrets
    keys = secrets[volume["secret"]["secretName"]].get("data") or {}
    assert keys, "a key to sign with exists from the first install"
    assert all(name.endswith(".pem") for name in keys)
    [mount] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "signing-keys"]
    assert mount["readOnly"] is True
    assert env_of(spec["containers"][0])["USER_SERVICE_KEYS_DIR"] == mount["mountPath"]
    for init in spec["initContainers"]:
        assert "signing-keys" not in {m["name"] for m in init.get("volumeMounts", [])}


def test_an_existing_signing_key_secret_replaces_the_generated_one(
    rendered: dict[tuple[str, str], Objects],
) -> None:
    objs = rendered[("shop-secured-options", NEW)]
    spec = by_name(objs, "Deployment")["user-service"]["spec"]["template"]["spec"]
    [volume] = [v for v in spec["volumes"] if v["name"] == "signing-keys"]
    assert volume["secret"]["secretName"] == "my-signing-keys"
    assert not [
        o for o in objs if o["kind"] == "Secret" and "signing-keys" in o["metadata"]["name"]
    ]
