"""user-service's abuse limits: the chart's defaults (and so k8s/'s, generated from it) are the
service's."""

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


def test_chart_limits_default_to_the_services_own() -> None:
    limits = yaml.safe_load((REPO / "helm/user-service/values.yaml").read_text())["limits"]
    for key, value in limits.items():
        assert float(value) == Settings.model_fields[_field(key)].default, key
