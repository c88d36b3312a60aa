"""Charts that fail safe: values that would hurt the cluster or the data are refused at render time.

- a PodDisruptionBudget that no eviction could ever satisfy (every node drain and cluster upgrade
  would hang on it);
- a database password the chart would have to invent without a cluster to keep it in
  (`helm template`, as GitOps tools render): a new random one on every render would lock the
  services out of the data their PostgreSQL already holds;
- and the bundled PostgreSQL's image can be pinned by digest.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.packaging

Template = Callable[..., Any]
TEST_TAG = "0123456789ab"
TEST_DB_PASSWORD = "render-only-password"  # what conftest's variants give, for the same reason
SHOP_DB_PASSWORDS = tuple(
    f"{s}.postgresql.auth.password={TEST_DB_PASSWORD}" for s in ("user-service", "order-service")
)
SHOP = (f"global.imageTag={TEST_TAG}", *SHOP_DB_PASSWORDS)


def load_objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.mark.parametrize(
    "sets",
    [
        ("order-service.podDisruptionBudget.minAvailable=1",),
        ("order-service.replicaCount=2", "order-service.podDisruptionBudget.minAvailable=2"),
        ("order-service.replicaCount=3", "order-service.podDisruptionBudget.minAvailable=100%"),
        ("order-service.replicaCount=2", "order-service.podDisruptionBudget.minAvailable=60%"),
        ("order-service.replicaCount=3", "order-service.podDisruptionBudget.maxUnavailable=0"),
        ("order-service.replicaCount=3", "order-service.podDisruptionBudget.maxUnavailable=0%"),
        (
            "order-service.autoscaling.enabled=true",
            "order-service.autoscaling.minReplicas=2",
            "order-service.podDisruptionBudget.minAvailable=2",
        ),
    ],
    ids=["min-1-of-1", "min-2-of-2", "min-100pct", "min-60pct-of-2", "max-0", "max-0pct", "hpa"],
)
def test_a_pdb_that_would_block_every_drain_is_refused(
    helm_template: Template, sets: tuple[str, ...]
) -> None:
    result = helm_template("shop", (*SHOP, "order-service.podDisruptionBudget.enabled=true", *sets))
    assert result.returncode != 0
    assert re.search(r"order-service: podDisruptionBudget .* would block every", result.stderr), (
        result.stderr
    )


@pytest.mark.parametrize(
    ("sets", "spec"),
    [
        ((), {"maxUnavailable": 1}),
        (("order-service.replicaCount=2", "order-service.podDisruptionBudget.minAvailable=1"),
         {"minAvailable": 1}),
        (("order-service.replicaCount=3", "order-service.podDisruptionBudget.minAvailable=50%"),
         {"minAvailable": "50%"}),
        (("order-service.replicaCount=2", "order-service.podDisruptionBudget.maxUnavailable=50%"),
         {"maxUnavailable": "50%"}),
        (("order-service.autoscaling.enabled=true", "order-service.autoscaling.minReplicas=3",
          "order-service.podDisruptionBudget.minAvailable=2"), {"minAvailable": 2}),
    ],
    ids=["default-max-1", "min-1-of-2", "min-50pct-of-3", "max-50pct-of-2", "hpa-min-2-of-3"],
)  # fmt: skip
def test_a_pdb_that_lets_one_pod_go_renders(
    helm_template: Template, sets: tuple[str, ...], spec: dict[str, Any]
) -> None:
    result = helm_template("shop", (*SHOP, "order-service.podDisruptionBudget.enabled=true", *sets))
    assert result.returncode == 0, result.stderr
    (pdb,) = [o for o in load_objects(result.stdout) if o["kind"] == "PodDisruptionBudget"]
    assert {k: v for k, v in pdb["spec"].items() if k != "selector"} == spec


@pytest.mark.parametrize(
    ("chart", "sets"),
    [
        ("postgresql", ()),
        ("order-service", (f"image.tag={TEST_TAG}", "userService.url=http://u:80")),
        ("shop", (f"global.imageTag={TEST_TAG}",)),
        ("shop", (f"global.imageTag={TEST_TAG}", SHOP_DB_PASSWORDS[0])),
    ],
    ids=["postgresql", "order-service", "shop", "shop-one-service-given"],
)
def test_without_a_cluster_no_random_database_password_is_invented(
    helm_template: Template, chart: str, sets: tuple[str, ...]
) -> None:
    result = helm_template(chart, sets, db_passwords=False)
    assert result.returncode != 0
    assert "set auth.existingSecret" in result.stderr, result.stderr
    assert "helm template" in result.stderr


def _passwords(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {
        o["metadata"]["name"]: base64.b64decode(o["data"]["password"]).decode()
        for o in objects
        if o["kind"] == "Secret" and "password" in o.get("data", {})
    }


def test_a_given_password_is_rendered_as_is_every_time(helm_template: Template) -> None:
    renders = [load_objects(helm_template("shop", SHOP).stdout) for _ in range(2)]
    assert _passwords(renders[0]) == _passwords(renders[1])
    assert set(_passwords(renders[0]).values()) == {TEST_DB_PASSWORD}


def test_with_existing_secrets_the_chart_renders_no_password_and_reads_theirs(
    helm_template: Template,
) -> None:
    result = helm_template(
        "shop",
        (
            f"global.imageTag={TEST_TAG}",
            "user-service.postgresql.auth.existingSecret=user-db-password",
            "order-service.postgresql.auth.existingSecret=order-db-password",
        ),
        db_passwords=False,
    )
    assert result.returncode == 0, result.stderr
    objects = load_objects(result.stdout)
    assert _passwords(objects) == {}
    refs = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for o in objects
        if o["kind"] in {"Deployment", "StatefulSet"}
        for c in o["spec"]["template"]["spec"]["containers"]
        for env in c.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert {"user-db-password", "order-db-password"} <= refs


DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_the_postgresql_image_can_be_pinned_by_digest(helm_template: Template) -> None:
    result = helm_template("shop", (*SHOP, f"order-service.postgresql.image.digest={DIGEST}"))
    assert result.returncode == 0, result.stderr
    images = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
        for o in load_objects(result.stdout)
        if o["kind"] == "StatefulSet"
    }
    assert images["shop-order-postgresql"] == f"postgres-debian:15@{DIGEST}"
    assert images["shop-user-postgresql"] == "postgres-debian:15"


def test_a_malformed_postgresql_digest_is_refused(helm_template: Template) -> None:
    result = helm_template("postgresql", (f"auth.password={TEST_DB_PASSWORD}", "image.digest=abc"))
    assert result.returncode != 0
    assert "image.digest" in result.stderr


@pytest.mark.parametrize(("probe_timeout", "expected"), [(None, "2"), (5, "4"), (1, "0.5")])
def test_readiness_answers_before_its_probe_gives_up(
    helm_template: Template, probe_timeout: int | None, expected: str
) -> None:
    sets = () if probe_timeout is None else (f"probes.readiness.timeoutSeconds={probe_timeout}",)
    result = helm_template("user-service", (f"image.tag={TEST_TAG}", *sets))
    assert result.returncode == 0, result.stderr
    (deployment,) = [o for o in load_objects(result.stdout) if o["kind"] == "Deployment"]
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["USER_SERVICE_READINESS_TIMEOUT"] == expected
