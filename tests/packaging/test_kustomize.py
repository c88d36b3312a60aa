"""Plain manifests: k8s/ is generated from the chart and current, and `kubectl kustomize
k8s/overlays/dev` renders valid objects (the policies of test_policies apply to it too)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.generate import additions

pytestmark = pytest.mark.packaging

Objects = list[dict[str, Any]]
REPO = Path(__file__).resolve().parents[2]


def test_generated_files_are_current(helm: str) -> None:
    """k8s/ and the services' values.schema.json are written by `make generate`, never by hand."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate.py"), "--check", "--helm", helm],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_a_component_is_the_chart_s_additions_in_order() -> None:
    old = {"spec": {"env": [{"name": "A"}, {"name": "C", "valueFrom": {}}]}}
    new = {"spec": {"env": [{"name": "A"}, {"name": "B"}, {"name": "C", "valueFrom": {}}],
                    "egress": [{"ports": [4318]}]}}  # fmt: skip
    assert additions("", old, new) == [
        {"op": "add", "path": "/spec/egress", "value": [{"ports": [4318]}]},
        {"op": "add", "path": "/spec/env/1", "value": {"name": "B"}},
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [({"a": 1}, {"a": 2}), ({"a": 1, "b": 2}, {"a": 1}), ([1, 2], [1]), ([1, 2], [2, 1])],
)
def test_a_change_that_is_not_an_addition_is_refused(old: Any, new: Any) -> None:
    with pytest.raises(SystemExit, match="not an addition"):
        additions("", old, new)


@pytest.mark.parametrize("schema", ["1.25.0", "1.37.0"])
def test_kustomize_output_is_valid_kubernetes(
    kustomize_objects: Objects,
    kube_validate: Callable[[dict[str, Any], str], list[str]],
    schema: str,
) -> None:
    errors = [e for obj in kustomize_objects for e in kube_validate(obj, schema)]
    assert not errors, "\n".join(errors)


def test_kustomize_objects_are_labelled_as_kustomize_managed(kustomize_objects: Objects) -> None:
    assert {o["metadata"]["labels"]["app.kubernetes.io/managed-by"] for o in kustomize_objects} == {
        "kustomize"
    }


def test_kustomize_output_has_no_helm_hooks(kustomize_objects: Objects) -> None:
    hooks = [o for o in kustomize_objects if "helm.sh/hook" in o["metadata"].get("annotations", {})]
    assert hooks == []
