"""The Grafana dashboard asks only for series the services really expose.

Both apps are built as deployed (real settings, PostgreSQL URLs), serve one request each so their
request series exist, and are scraped at ``/metrics``; every PromQL expression of the dashboard
(panels and variables) must name exposed metrics and filter or group by labels those metrics
carry, or by the target labels Prometheus adds when it scrapes (job, namespace, pod, instance).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

DASHBOARD = Path(__file__).resolve().parents[2] / "helm" / "dashboards" / "shop-services.json"
TARGET_LABELS = {"job", "namespace", "pod", "instance"}
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_LABEL_VALUES = re.compile(
    r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*,\s*(\w+)\s*\)"
)
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            exprs.append(query["query"])
    return exprs


@pytest.fixture(scope="module")
def exposed(create_database: Callable[[str], str], keys_dir: Path) -> dict[str, set[str]]:
    """Sample name -> label names, as scraped from both services."""
    from order_service.config import Settings as OrderSettings
    from order_service.main import create_app as create_order_app
    from user_service.config import Settings as UserSettings
    from user_service.main import create_app as create_user_app

    apps = [
        create_user_app(
            UserSettings(database_url=create_database("dash_users"), keys_dir=keys_dir)
        ),
        create_order_app(OrderSettings(database_url=create_database("dash_orders"))),
    ]
    samples: dict[str, set[str]] = {}
    for app in apps:
        with TestClient(app) as client:
            assert client.get("/health/live").status_code == 200
            text = client.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


def test_dashboard_queries_name_exposed_metrics_and_their_labels(
    exposed: dict[str, set[str]],
) -> None:
    problems: list[str] = []
    for expr in expressions(json.loads(DASHBOARD.read_text())):
        selectors = [(m[1], m[2]) for m in _SELECTOR.finditer(expr)]
        selectors += [(m[1], (m[2] or "") + f" {m[3]}=") for m in _LABEL_VALUES.finditer(expr)]
        assert selectors, f"no metric selector found in {expr!r}"
        grouping = {
            label.strip() for group in _GROUPING.findall(expr) for label in group.split(",")
        }
        for metric, matchers in selectors:
            if metric not in exposed:
                problems.append(f"{metric}: not exposed (in {expr!r})")
                continue
            labels = set(_MATCHER.findall(matchers)) | grouping
            if unknown := labels - exposed[metric] - TARGET_LABELS:
                problems.append(f"{metric}: no labels {sorted(unknown)} (in {expr!r})")
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_misspelt_metric(exposed: dict[str, set[str]]) -> None:
    """The regular expressions above really find selectors (a guard against a vacuous pass)."""
    expr = 'sum by (route) (rate(http_request_total{job=~"$job"}[5m]))'
    assert [m[1] for m in _SELECTOR.finditer(expr)] == ["http_request_total"]
    assert "http_request_total" not in exposed
    assert "http_requests_total" in exposed
