"""Plain manifests: `kubectl kustomize k8s/overlays/dev` renders valid objects, the same ones
(and the same pod specs, up to names) as the Helm umbrella's default render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.packaging

Objects = list[dict[str, Any]]
POD_FIELDS = (
    "securityContext",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "terminationGracePeriodSeconds",
)
CONTAINER_FIELDS = (
    "name",
    "command",
    "ports",
    "startupProbe",
    "readinessProbe",
    "livenessProbe",
    "lifecycle",
    "securityContext",
    "resources",
    "volumeMounts",
)


def identity(objs: Objects) -> set[tuple[str, str]]:
    return {
        (o["kind"], o["metadata"]["labels"]["app.kubernetes.io/name"])
        for o in objs
        if "helm.sh/hook" not in o["metadata"].get("annotations", {})
    }


@pytest.mark.parametrize("schema", ["1.25.0", "1.37.0"])
def test_kustomize_output_is_valid_kubernetes(
    kustomize_objects: Objects,
    kube_validate: Callable[[dict[str, Any], str], list[str]],
    schema: str,
) -> None:
    errors = [e for obj in kustomize_objects for e in kube_validate(obj, schema)]
    assert not errors, "\n".join(errors)


def test_kustomize_produces_the_objects_of_the_helm_default_render(
    kustomize_objects: Objects, rendered: dict[tuple[str, str], Objects]
) -> None:
    assert identity(kustomize_objects) == identity(rendered[("shop-default", "1.35.4")])


def test_kustomize_pods_match_the_helm_pods(
    kustomize_objects: Objects,
    rendered: dict[tuple[str, str], Objects],
    pod_spec_of: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> None:
    def pods(objs: Objects) -> dict[str, Any]:
        out = {}
        for o in objs:
            spec = pod_spec_of(o)
            if spec is None or o["kind"] == "Pod":
                continue
            out[o["metadata"]["labels"]["app.kubernetes.io/name"]] = {
                "pod": {k: spec.get(k) for k in POD_FIELDS},
                "containers": [
                    {k: c.get(k) for k in CONTAINER_FIELDS}
                    for c in [*spec.get("initContainers", []), *spec["containers"]]
                ],
            }
        return out

    assert pods(kustomize_objects) == pods(rendered[("shop-default", "1.35.4")])
