"""user-service's abuse limits: the chart's and the plain manifests' defaults are the service's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from user_service.config import Settings

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]


def _field(key: str) -> str:
    """loginMaxFailures -> login_max_failures"""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def test_chart_and_kustomize_limits_default_to_the_services_own() -> None:
    limits = yaml.safe_load((REPO / "helm/user-service/values.yaml").read_text())["limits"]
    for key, value in limits.items():
        assert float(value) == Settings.model_fields[_field(key)].default, key
    defaults = {Settings.env_name(_field(k)): Settings.model_fields[_field(k)].default
                for k in limits}  # fmt: skip
    deployment = next(
        doc
        for doc in yaml.safe_load_all((REPO / "k8s/base/user-service.yaml").read_text())
        if doc and doc["kind"] == "Deployment"
    )
    spec = deployment["spec"]["template"]["spec"]
    for container in [*spec["initContainers"], *spec["containers"]]:
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert {k: float(env[k]) for k in defaults} == {k: float(v) for k, v in defaults.items()}
